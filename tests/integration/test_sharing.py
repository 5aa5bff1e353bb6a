"""Saved searches and share links over the real stack (issue 10)."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from services.gateway.sharing.service import MAX_SAVED_SEARCHES
from tests.polling import until

pytestmark = pytest.mark.integration


def _png(seed: int) -> bytes:
    image = Image.new("RGB", (16, 16), ((seed * 53) % 256, (seed * 97) % 256, (seed * 29) % 256))
    info = PngInfo()
    info.add_text(
        "parameters",
        f"a secret lighthouse, at dusk\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
        f"Seed: {seed}, Model: sdxl_base",
    )
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


async def _two_sessions(client: httpx.AsyncClient, seed: int) -> list[dict[str, Any]]:
    """Two sessions of two images each (4 h apart), imported and clustered; newest first."""
    t0 = datetime(2023, 5, 2, 9, 0, tzinfo=UTC)
    times = [t0, t0 + timedelta(minutes=1), t0 + timedelta(hours=4), t0 + timedelta(hours=4, minutes=1)]
    files = [("files", (f"share-{seed}-{i}.png", _png(seed + i), "image/png")) for i in range(len(times))]
    response = await client.post(
        "/api/v1/assets", files=files, data={"last_modified": [str(int(t.timestamp() * 1000)) for t in times]}
    )
    assert [r["status"] for r in response.json()] == ["imported"] * 4, response.text

    async def clustered() -> list[dict[str, Any]] | None:
        cards = (await client.get("/api/v1/sessions")).json()
        return cards if len(cards) == 2 and all(c["asset_count"] == 2 for c in cards) else None

    cards = await until(clustered)
    assert cards, "the two sessions never appeared"
    return cards


async def _with_thumbnails(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    async def ready() -> list[dict[str, Any]] | None:
        assets = (await client.get(f"/api/v1/sessions/{session_id}")).json()["assets"]
        for a in assets:
            if (await client.get(a["thumbnail_url"])).status_code != 200:
                return None
        return assets

    assets = await until(ready)
    assert assets, "thumbnails never appeared"
    return assets


@pytest.fixture
async def anonymous(stack):  # type: ignore[no-untyped-def]
    """A client with no credential at all: someone who was only given the link."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack["gateway"].app), base_url="http://localhost", timeout=60
    ) as client:
        yield client


# --- saved searches -----------------------------------------------------------------------------------


async def test_saved_searches_create_list_delete(new_tenant) -> None:
    _, client = await new_tenant()
    query = {"q": "lighthouse", "tool": "a1111", "from": "2023-01-01T00:00:00Z", "has_time": True}
    response = await client.post("/api/v1/searches", json={"name": "Lighthouses", "query": query})
    assert response.status_code == 201, response.text
    saved = response.json()
    assert saved["name"] == "Lighthouses" and saved["query"]["q"] == "lighthouse"
    assert saved["query"]["has_time"] is True and "from" in saved["query"] and "model" not in saved["query"]
    assert [s["id"] for s in (await client.get("/api/v1/searches")).json()] == [saved["id"]]

    # the same name again: 409; an unknown query field or a bad value: 422
    again = await client.post("/api/v1/searches", json={"name": "Lighthouses", "query": {}})
    assert again.status_code == 409, again.text
    for bad in (
        {"colour": "red"},
        {"has_time": "maybe"},
        {"has_time": 0},
        {"from": 1700000000},
        {"session": "not-an-id"},
    ):
        response = await client.post("/api/v1/searches", json={"name": "bad", "query": bad})
        assert response.status_code == 422, (bad, response.text)

    assert (await client.delete(f"/api/v1/searches/{saved['id']}")).status_code == 204
    assert (await client.get("/api/v1/searches")).json() == []
    assert (await client.delete(f"/api/v1/searches/{saved['id']}")).status_code == 404


async def test_saved_searches_are_capped_per_workspace(new_tenant) -> None:
    _, client = await new_tenant()
    _, other = await new_tenant()
    for i in range(MAX_SAVED_SEARCHES):
        response = await client.post("/api/v1/searches", json={"name": f"s{i}", "query": {"q": str(i)}})
        assert response.status_code == 201, response.text
    over = await client.post("/api/v1/searches", json={"name": "one too many", "query": {}})
    assert over.status_code == 409 and "at most" in over.json()["detail"]
    # another workspace has its own count, and sees none of these
    assert (await other.post("/api/v1/searches", json={"name": "s0", "query": {}})).status_code == 201
    assert [s["name"] for s in (await other.get("/api/v1/searches")).json()] == ["s0"]
    mine = (await client.get("/api/v1/searches")).json()
    assert len(mine) == MAX_SAVED_SEARCHES
    assert (await other.delete(f"/api/v1/searches/{mine[0]['id']}")).status_code == 404


async def _flag(client: httpx.AsyncClient, asset_id: str, flag: str | None) -> None:
    response = await client.put(f"/api/v1/assets/{asset_id}/flag", json={"flag": flag})
    assert response.status_code == 200, response.text


async def _gallery(client: httpx.AsyncClient, query: dict[str, Any]) -> tuple[list[str], int]:
    """The gallery's asset ids and X-Total-Count for a saved query, given as the web app gives it."""
    response = await client.get("/api/v1/assets", params=query)
    assert response.status_code == 200, response.text
    return [a["asset_id"] for a in response.json()], int(response.headers["X-Total-Count"])


async def test_a_saved_search_keeps_keepers_only_and_show_rejected(new_tenant) -> None:
    """`flag` and `include_rejected` are saved, read back as given, and list what the gallery lists."""
    _, client = await new_tenant()
    await _two_sessions(client, 85_000)
    everything, _ = await _gallery(client, {"q": "lighthouse"})
    assert len(everything) == 4
    pick, reject, *others = everything
    await _flag(client, pick, "pick")
    await _flag(client, reject, "reject")

    saved = {
        "Keepers": {"q": "lighthouse", "flag": "pick"},
        "With rejects": {"q": "lighthouse", "include_rejected": True},
        "Default": {"q": "lighthouse", "include_rejected": False},
    }
    for name, query in saved.items():
        response = await client.post("/api/v1/searches", json={"name": name, "query": query})
        assert response.status_code == 201, response.text
        assert response.json()["query"] == query
    listed = {s["name"]: s["query"] for s in (await client.get("/api/v1/searches")).json()}
    assert listed == saved

    assert await _gallery(client, listed["Keepers"]) == ([pick], 1)
    assert await _gallery(client, listed["With rejects"]) == (everything, 4)
    assert await _gallery(client, listed["Default"]) == ([pick, *others], 3)

    # refused as `flag` is by the gallery; a JSON boolean is strict, as `has_time`
    for bad in ({"flag": "keeper"}, {"flag": ["pick"]}, {"include_rejected": "yes"}, {"include_rejected": 1}):
        response = await client.post("/api/v1/searches", json={"name": "bad", "query": bad})
        assert response.status_code == 422, (bad, response.text)
    assert (await client.get("/api/v1/assets", params={"flag": "keeper"})).status_code == 422


# --- share links --------------------------------------------------------------------------------------


async def test_share_link_shows_that_session_only_then_expires_and_is_revoked(
    stack, new_tenant, anonymous
) -> None:
    _, owner = await new_tenant()
    shared, other = await _two_sessions(owner, 81_000)
    shared_assets = await _with_thumbnails(owner, shared["id"])
    other_assets = await _with_thumbnails(owner, other["id"])

    response = await owner.post(f"/api/v1/sessions/{shared['id']}/share", json={"expires_in_days": 7})
    assert response.status_code == 201, response.text
    link = response.json()
    token = link["token"]
    assert link["url"].endswith(f"/s/{token}") and len(token) >= 43 and link["show_prompts"] is False
    assert datetime.fromisoformat(link["expires_at"]) > datetime.now(UTC) + timedelta(days=6)

    # anyone with the link, no credential: JSON, page and thumbnails of that session
    doc = (await anonymous.get(f"/s/{token}/session")).json()
    assert doc["asset_count"] == 2 and {a["asset_id"] for a in doc["assets"]} == {
        a["asset_id"] for a in shared_assets
    }
    assert all(
        "prompt" not in a and "negative_prompt" not in a and "filename" not in a for a in doc["assets"]
    )
    assert "phrases" not in doc["summary"] and "lighthouse" not in str(doc)
    page = await anonymous.get(f"/s/{token}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    # the page is the web app (it reads the JSON above): it carries no prompt itself, runs only our script
    assert "lighthouse" not in page.text and '<div id="app">' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for asset in doc["assets"]:
        thumb = await anonymous.get(asset["thumbnail_url"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
        assert (await anonymous.get(asset["detail_url"])).status_code == 200
    # another session's asset through this link: 404; the owner's API stays closed
    for asset in other_assets:
        assert (await anonymous.get(f"/s/{token}/assets/{asset['asset_id']}/thumbnail")).status_code == 404
    assert (await anonymous.get(f"/api/v1/sessions/{shared['id']}")).status_code == 401
    assert (await anonymous.get("/s/not-a-real-token/session")).status_code == 404

    # with prompts allowed
    allowed = (
        await owner.post(
            f"/api/v1/sessions/{shared['id']}/share", json={"expires_in_days": 1, "show_prompts": True}
        )
    ).json()
    doc = (await anonymous.get(f"/s/{allowed['token']}/session")).json()
    assert all("lighthouse" in a["prompt"] and a["negative_prompt"] == "blurry" for a in doc["assets"])

    # the owner lists the links: prefixes, never tokens
    listed = (await owner.get(f"/api/v1/sessions/{shared['id']}/shares")).json()
    assert {s["id"] for s in listed} == {link["id"], allowed["id"]}
    prefixes = {s["id"]: s["prefix"] for s in listed if "token" not in s}
    assert token.startswith(prefixes[link["id"]]) and allowed["token"].startswith(prefixes[allowed["id"]])
    assert link["prefix"] == prefixes[link["id"]] and 0 < len(link["prefix"]) < 12
    assert token not in str(listed) and allowed["token"] not in str(listed)

    # expired: refused (404, as an unknown link)
    await stack["gateway"].pool.execute(
        "UPDATE gateway.share_links SET expires_at = now() - interval '1 second' WHERE share_id = $1",
        uuid.UUID(allowed["id"]),
    )
    for url in (f"/s/{allowed['token']}", f"/s/{allowed['token']}/session", f"/s/{allowed['token']}/assets",
                f"/s/{allowed['token']}/assets/{shared_assets[0]['asset_id']}/thumbnail"):  # fmt: skip
        assert (await anonymous.get(url)).status_code == 404, url

    # revoked: refused at once
    assert (await owner.delete(f"/api/v1/shares/{link['id']}")).status_code == 204
    assert (await anonymous.get(f"/s/{token}/session")).status_code == 404
    gone = await anonymous.get(f"/s/{token}")
    assert gone.status_code == 404 and gone.headers["content-type"].startswith("text/html")
    assert (await owner.delete(f"/api/v1/shares/{link['id']}")).status_code == 404


async def test_another_workspace_cannot_list_or_revoke_links(new_tenant, anonymous) -> None:
    _, owner = await new_tenant()
    _, stranger = await new_tenant()
    session = (await _two_sessions(owner, 82_000))[0]
    link = (await owner.post(f"/api/v1/sessions/{session['id']}/share", json={"expires_in_days": 2})).json()
    assert (await stranger.get(f"/api/v1/sessions/{session['id']}/shares")).status_code == 404
    assert (
        await stranger.post(f"/api/v1/sessions/{session['id']}/share", json={"expires_in_days": 2})
    ).status_code == 404
    assert (await stranger.delete(f"/api/v1/shares/{link['id']}")).status_code == 404
    assert (await anonymous.get(f"/s/{link['token']}/session")).status_code == 200
    assert [s["id"] for s in (await owner.get(f"/api/v1/sessions/{session['id']}/shares")).json()] == [
        link["id"]
    ]


async def test_share_request_is_validated(new_tenant) -> None:
    _, owner = await new_tenant()
    session = (await _two_sessions(owner, 83_000))[0]
    for body in ({"expires_in_days": 0}, {"expires_in_days": 366}, {}, {"expires_in_days": 3, "extra": 1}):
        response = await owner.post(f"/api/v1/sessions/{session['id']}/share", json=body)
        assert response.status_code == 422, (body, response.text)


async def test_share_link_follows_a_merge(new_tenant, anonymous) -> None:
    """A link to a session that is then merged away shows the session it became (as GET /sessions/{id})."""
    _, owner = await new_tenant()
    newer, older = await _two_sessions(owner, 84_000)
    links = {}
    for card in (newer, older):
        response = await owner.post(f"/api/v1/sessions/{card['id']}/share", json={"expires_in_days": 3})
        assert response.status_code == 201, response.text
        links[card["id"]] = response.json()
    response = await owner.post("/api/v1/sessions/merge", json={"session_ids": [older["id"], newer["id"]]})
    assert response.status_code == 200, response.text
    [survivor] = response.json()["sessions"]
    [gone] = response.json()["merged_from"]
    doc = (await anonymous.get(f"/s/{links[gone]['token']}/session")).json()
    assert doc["asset_count"] == 4 and len(doc["assets"]) == 4
    # the same assets a page at a time, prompts still hidden
    url, paged = f"/s/{links[gone]['token']}/assets?limit=3", []
    while url:
        response = await anonymous.get(url)
        assert response.status_code == 200, response.text
        paged += response.json()
        following = response.headers.get("x-next-cursor")
        url = f"/s/{links[gone]['token']}/assets?limit=3&cursor={following}" if following else ""
    assert [a["asset_id"] for a in paged] == [a["asset_id"] for a in doc["assets"]]
    assert all("prompt" not in a for a in paged)
    assets = (await owner.get(f"/api/v1/sessions/{survivor['id']}")).json()["assets"]
    for asset in assets:  # every asset of the survivor is reachable through either link
        for link in links.values():
            url = f"/s/{link['token']}/assets/{asset['asset_id']}/thumbnail"
            assert await until(lambda url=url: _ok(anonymous, url)), url
    # the survivor's list has both links; the merged-away id names the survivor's too
    for session_id in (survivor["id"], gone):
        listed = (await owner.get(f"/api/v1/sessions/{session_id}/shares")).json()
        assert {s["id"] for s in listed} == {link["id"] for link in links.values()}


async def _ok(client: httpx.AsyncClient, url: str) -> bool:
    return (await client.get(url)).status_code == 200


async def test_a_share_link_leaves_out_the_owners_rejects(new_tenant, anonymous) -> None:
    """The owner rejects one image of a shared session: its visitors see the other alone, counted as
    one, in every view, and no flag (a pick looks like any image)."""
    _, owner = await new_tenant()
    session = (await _two_sessions(owner, 86_000))[0]
    kept, rejected = await _with_thumbnails(owner, session["id"])  # generation order
    links = []
    for show_prompts in (False, True):
        response = await owner.post(
            f"/api/v1/sessions/{session['id']}/share",
            json={"expires_in_days": 1, "show_prompts": show_prompts},
        )
        assert response.status_code == 201, response.text
        links.append(response.json()["token"])
    before = (await anonymous.get(f"/s/{links[0]}/session")).json()
    assert before["asset_count"] == 2 and before["summary"]["models"] == [{"name": "sdxl_base", "count": 2}]

    await _flag(owner, rejected["asset_id"], "reject")
    await _flag(owner, kept["asset_id"], "pick")
    for token in links:
        doc = (await anonymous.get(f"/s/{token}/session")).json()
        assert [a["asset_id"] for a in doc["assets"]] == [kept["asset_id"]]
        assert doc["asset_count"] == 1
        assert [c["asset_id"] for c in doc["cover"]] == [kept["asset_id"]]
        assert doc["summary"]["models"] == [{"name": "sdxl_base", "count": 1}]
        # the session as shown ends with the last image shown
        assert doc["start"] == doc["end"] == kept["generated_at"] != before["end"]
        paged = await anonymous.get(f"/s/{token}/assets")
        assert [a["asset_id"] for a in paged.json()] == [kept["asset_id"]]
        for url in (f"/s/{token}/assets/{rejected['asset_id']}/thumbnail",
                    f"/s/{token}/assets/{rejected['asset_id']}/thumbnail?size=detail"):  # fmt: skip
            assert (await anonymous.get(url)).status_code == 404, url
        assert (await anonymous.get(doc["assets"][0]["thumbnail_url"])).status_code == 200
        # flags are the owner's: not in the public JSON, a pick not told apart
        for item in (*doc["assets"], *paged.json()):
            assert "flag" not in item
        assert "pick" not in str(doc) and "reject" not in str(doc)
    assert (await anonymous.get(f"/s/{links[1]}/session")).json()["summary"]["phrases"]

    # cleared: shown again
    await _flag(owner, rejected["asset_id"], None)
    doc = (await anonymous.get(f"/s/{links[0]}/session")).json()
    assert doc["asset_count"] == 2 and len(doc["assets"]) == 2 and doc["end"] == before["end"]
