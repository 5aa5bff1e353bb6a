"""Keyset pages and ETags over the real stack: every page follows `X-Next-Cursor` to the end without a
row lost or repeated, in the same order as one big page; bad cursors are 422; unchanged pages are 304."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.images import a1111_png
from tests.polling import until

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 3, 9, 0, tzinfo=UTC)
# two images share a time (the tie goes to the id), two sessions 3 h apart
TIMES = [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=1), T0 + timedelta(minutes=2),
         T0 + timedelta(hours=3), T0 + timedelta(hours=3, minutes=1)]  # fmt: skip
UNTIMED = 3


def _png(seed: int, *, with_parameters: bool = True) -> bytes:
    return a1111_png(seed, "a quiet harbour" if with_parameters else None)


async def _seeded(new_tenant: Any) -> httpx.AsyncClient:
    _, client = await new_tenant()
    files = [("files", (f"page-{i}.png", _png(8100 + i), "image/png")) for i in range(len(TIMES))]
    form = {"last_modified": [str(int(t.timestamp() * 1000)) for t in TIMES]}
    response = await client.post("/api/v1/assets", files=files, data=form)
    assert [r["status"] for r in response.json()] == ["imported"] * len(TIMES), response.text
    files = [("files", (f"untimed-{i}.png", _png(8200 + i), "image/png")) for i in range(UNTIMED)]
    response = await client.post("/api/v1/assets", files=files)
    assert [r["status"] for r in response.json()] == ["imported"] * UNTIMED, response.text
    files = [
        ("files", (f"broken-{i}.png", b"\x89PNG\r\n\x1a\n not an image %d" % i, "image/png"))
        for i in range(3)
    ]
    response = await client.post("/api/v1/assets", files=files)
    assert [r["status"] for r in response.json()] == ["rejected"] * 3, response.text

    async def sessions_settled() -> bool:
        cards = (await client.get("/api/v1/sessions")).json()
        return sorted(c["asset_count"] for c in cards) == [2, 4]

    assert await until(sessions_settled)
    return client


async def _walk(client: httpx.AsyncClient, url: str, limit: int, **query: Any) -> tuple[list[Any], int]:
    """Every row of the list, page by page; and how many pages it took."""
    rows: list[Any] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit, **query}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get(url, params=params)
        assert response.status_code == 200, response.text
        pages += 1
        rows += response.json()
        cursor = response.headers.get("x-next-cursor")
        if cursor is None:
            assert "link" not in response.headers
            return rows, pages
        assert f"cursor={cursor}" in response.headers["link"] and response.headers["link"].endswith(
            'rel="next"'
        )
        assert len(response.json()) == limit
        assert response.headers["link"].startswith(f"<{url}?")  # relative: right behind any proxy
        assert pages < 50, "the cursor does not advance"


async def test_every_list_pages_by_cursor_without_losing_or_repeating_a_row(new_tenant) -> None:
    client = await _seeded(new_tenant)

    whole = (await client.get("/api/v1/assets", params={"limit": 500})).json()
    assert len(whole) == len(TIMES) + UNTIMED
    times = [a["generated_at"] for a in whole]
    # newest generation first, assets without a time last
    assert (
        times[: len(TIMES)] == sorted(times[: len(TIMES)], reverse=True) and None not in times[: len(TIMES)]
    )
    assert times[len(TIMES) :] == [None] * UNTIMED
    for limit in (1, 2, 4):
        rows, _ = await _walk(client, "/api/v1/assets", limit)
        assert [a["asset_id"] for a in rows] == [a["asset_id"] for a in whole]

    untimed, pages = await _walk(client, "/api/v1/assets", 2, without_time="true")
    assert [a["asset_id"] for a in untimed] == [a["asset_id"] for a in whole[len(TIMES) :]] and pages == 2

    cards = (await client.get("/api/v1/sessions")).json()
    rows, pages = await _walk(client, "/api/v1/sessions", 1)
    assert [c["id"] for c in rows] == [c["id"] for c in cards] and pages == 2
    assert [c["start"] for c in cards] == sorted((c["start"] for c in cards), reverse=True)

    for card in cards:
        detail = (await client.get(f"/api/v1/sessions/{card['id']}")).json()
        assert len(detail["assets"]) == card["asset_count"]
        for limit in (1, 3):
            rows, _ = await _walk(client, f"/api/v1/sessions/{card['id']}/assets", limit)
            assert [a["asset_id"] for a in rows] == [a["asset_id"] for a in detail["assets"]]
        generated = [a["generated_at"] for a in rows]
        assert generated == sorted(generated)

    quarantine = (await client.get("/api/v1/assets/quarantine")).json()
    assert len(quarantine) == 3
    rows, pages = await _walk(client, "/api/v1/assets/quarantine", 2)
    assert [q["asset_id"] for q in rows] == [q["asset_id"] for q in quarantine] and pages == 2

    # a merged-away id pages through the session it became
    response = await client.post("/api/v1/sessions/merge", json={"session_ids": [c["id"] for c in cards]})
    assert response.status_code == 200, response.text
    [survivor] = response.json()["sessions"]
    [gone] = response.json()["merged_from"]
    rows, _ = await _walk(client, f"/api/v1/sessions/{gone}/assets", 4)
    assert len(rows) == len(TIMES) == survivor["asset_count"]
    assert (
        await client.get("/api/v1/sessions/00000000-0000-4000-8000-000000000000/assets")
    ).status_code == 404


def _cursor(doc: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


async def test_a_cursor_the_list_did_not_give_out_is_a_422(new_tenant) -> None:
    client = await _seeded(new_tenant)
    response = await client.get("/api/v1/sessions", params={"limit": 1})
    session_cursor = response.headers["x-next-cursor"]
    good = {
        "v": 1,
        "k": "assets",
        "t": T0.isoformat(),
        "id": "00000000-0000-4000-8000-000000000000",
        "n": False,
    }
    bad = [
        "not a cursor",
        "%%%",
        "x" * 600,
        _cursor([1, 2]),
        _cursor("assets"),
        _cursor({**good, "v": 2}),
        _cursor({**good, "id": "nope"}),
        _cursor({**good, "t": "yesterday"}),
        _cursor({**good, "t": "2024-05-03T09:00:00"}),  # no offset
        _cursor({**good, "t": None}),
        _cursor({**good, "n": "yes"}),
        base64.urlsafe_b64encode(b"\xff\xfe{").decode(),
        session_cursor,  # another list's cursor
    ]
    for cursor in bad:
        response = await client.get("/api/v1/assets", params={"cursor": cursor})
        assert response.status_code == 422, (cursor, response.text)
        assert response.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert (await client.get("/api/v1/assets", params={"cursor": _cursor(good)})).status_code == 200
    # tampering with a real cursor: a flipped character is refused or is merely another position
    for i in range(len(session_cursor)):
        flipped = session_cursor[:i] + ("A" if session_cursor[i] != "A" else "B") + session_cursor[i + 1 :]
        assert (await client.get("/api/v1/sessions", params={"cursor": flipped})).status_code in (200, 422)
    # no OFFSET any more: an unknown parameter is ignored, never a 500
    assert (await client.get("/api/v1/assets", params={"offset": "9223372036854775808"})).status_code == 200


async def test_an_unchanged_page_is_a_304(new_tenant) -> None:
    client = await _seeded(new_tenant)
    cards = (await client.get("/api/v1/sessions")).json()
    urls = ["/api/v1/sessions", "/api/v1/assets?limit=2", f"/api/v1/sessions/{cards[0]['id']}",
            f"/api/v1/sessions/{cards[0]['id']}/assets", "/api/v1/assets/quarantine"]  # fmt: skip
    etags = {}
    for url in urls:
        response = await client.get(url)
        etag = response.headers["etag"]
        assert etag.startswith('W/"'), url
        again = await client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag, url
        assert (await client.get(url, headers={"If-None-Match": 'W/"other"'})).status_code == 200
        etags[url] = etag
    # a new image changes the lists it lands on
    response = await client.post(
        "/api/v1/assets",
        files=[("files", ("late.png", _png(8300), "image/png"))],
        data={"last_modified": [str(int((T0 + timedelta(days=1)).timestamp() * 1000))]},
    )
    assert response.json()[0]["status"] == "imported"

    async def sessions_changed() -> bool:
        return (await client.get(urls[0], headers={"If-None-Match": etags[urls[0]]})).status_code == 200

    assert await until(sessions_changed)
    assert (await client.get(urls[1], headers={"If-None-Match": etags[urls[1]]})).status_code == 200
