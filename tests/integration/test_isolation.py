"""Two workspaces, every route of the OpenAPI document: nothing of one is reachable from the other.

Workspace A (the owner) and workspace B (the asker) each import corpus files and a few generated images
in two sessions, have a quarantined file, a connected folder and an API token. Then, for every operation
the gateway's `/openapi.json` lists, a check in `CHECKS` runs as B against A's things: a route that takes
an id answers 404 for each of A's ids of that kind, a list never shows one of A's rows (ids compared),
and a write touches only B's workspace. `CHECKS` must name every operation of the document: a new route
fails this test until it says how it is kept apart.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.images import a1111_png
from tests.polling import until

pytestmark = pytest.mark.integration

SHARED = "civitai/68295CAE9DE493031ACD8C135AD863E5E7C53D368852AD5FC14F661E6D489A58.jpeg"  # both import it
OWN = {
    "a": ["a1111/automatic1111_cropped.png", "novelai/sample-0316.png"],
    "b": ["a1111/automatic1111_cropped.jpg", "novelai/novelai1_cropped.png"],
}
NOBODY = "00000000-0000-4000-8000-000000000000"


def _png(seed: int) -> bytes:
    return a1111_png(seed, "a walled garden")


@dataclass
class Workspace:
    token: str
    client: httpx.AsyncClient
    tenant_id: str = ""
    assets: set[str] = field(default_factory=set)
    sha256s: set[str] = field(default_factory=set)
    sessions: list[str] = field(default_factory=list)
    quarantined: set[str] = field(default_factory=set)
    folders: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)


@dataclass
class World:
    a: Workspace  # the owner of the ids B asks for
    b: Workspace  # the asker
    documented: set[tuple[str, str]]
    gateway_url: str
    folder_root: Path
    corpus: Path


async def _populate(
    name: str, ws: Workspace, corpus: Path, folder_root: Path, seed: int, documented: Any
) -> None:
    client = ws.client
    ws.tenant_id = (await client.get("/api/v1/me")).json()["tenant_id"]
    files = [
        ("files", (Path(p).name, (corpus / p).read_bytes(), "application/octet-stream"))
        for p in [SHARED, *OWN[name]]
    ]
    t0 = datetime(2022, 9, 1 + seed % 20, 10, 0, tzinfo=UTC)
    times = [t0, t0 + timedelta(minutes=1), t0 + timedelta(hours=4), t0 + timedelta(hours=4, minutes=1)]
    generated = [("files", (f"{name}-{i}.png", _png(seed + i), "image/png")) for i in range(len(times))]
    response = await client.post(
        "/api/v1/assets",
        files=generated,
        data={"last_modified": [str(int(t.timestamp() * 1000)) for t in times]},
    )
    assert [r["status"] for r in response.json()] == ["imported"] * len(times), response.text
    response = await client.post("/api/v1/assets", files=files)
    assert response.status_code == 200, response.text
    broken = (
        "files",
        (f"{name}-broken.png", b"\x89PNG\r\n\x1a\n not an image " + name.encode(), "image/png"),
    )
    (await client.post("/api/v1/assets", files=[broken])).raise_for_status()

    async def settled() -> bool:
        cards = (await client.get("/api/v1/sessions")).json()
        quarantine = (await client.get("/api/v1/assets/quarantine")).json()
        return len(cards) >= 2 and len(quarantine) == 1

    assert await until(settled)
    assets = (await client.get("/api/v1/assets", params={"limit": 500})).json()
    ws.assets = {a["asset_id"] for a in assets}
    assert len(ws.assets) >= len(times) + 1
    for asset_id in ws.assets:
        ws.sha256s.add((await client.get(f"/api/v1/assets/{asset_id}")).json()["sha256"])
    ws.sessions = [c["id"] for c in (await client.get("/api/v1/sessions")).json()]
    ws.quarantined = {q["asset_id"] for q in (await client.get("/api/v1/assets/quarantine")).json()}
    folder = folder_root / f"isolation-{name}-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    response = await client.post("/api/v1/folders", json={"path": str(folder)})
    assert response.status_code == 201, response.text
    ws.folders = {response.json()["id"]}
    if ("post", "/api/v1/tokens") in documented:
        response = await client.post("/api/v1/tokens", json={"label": f"isolation {name}"})
        assert response.status_code in (200, 201), response.text
        ws.tokens = {response.json()["id"]}


async def _all_pages(client: httpx.AsyncClient, url: str, limit: int = 2, **query: Any) -> list[Any]:
    rows: list[Any] = []
    cursor = None
    while True:
        response = await client.get(
            url, params={"limit": limit, **query, **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200, (url, response.text)
        rows += response.json()
        cursor = response.headers.get("x-next-cursor")
        if cursor is None:
            return rows


async def _each_is_404(client: httpx.AsyncClient, method: str, urls: list[str], **kwargs: Any) -> None:
    assert urls
    for url in urls:
        response = await client.request(method, url, **kwargs)
        assert response.status_code == 404, (method, url, response.status_code, response.text)


# --- one check per operation: B asks, A's things must stay out of reach --------------------------------


async def list_assets(w: World) -> None:
    for query in ({}, {"without_time": "true"}, {"q": "walled garden"}, {"q": "garden", "tool": "a1111"}):
        seen = {a["asset_id"] for a in await _all_pages(w.b.client, "/api/v1/assets", **query)}
        assert seen and not seen & w.a.assets and seen <= w.b.assets
    response = await w.b.client.get("/api/v1/assets")
    assert int(response.headers["X-Total-Count"]) == len(w.b.assets)
    for session in w.a.sessions:  # A's session named as a filter: nothing
        response = await w.b.client.get("/api/v1/assets", params={"session": session})
        assert response.json() == [] and response.headers["X-Total-Count"] == "0"


async def get_facets(w: World) -> None:
    facets = (await w.b.client.get("/api/v1/facets")).json()
    assert 0 < sum(v["count"] for v in facets["tool"]) <= len(w.b.assets)
    for session in w.a.sessions:
        facets = (await w.b.client.get("/api/v1/facets", params={"session": session})).json()
        assert facets == {"tool": [], "model": [], "lora": []}


async def upload_assets(w: World) -> None:
    # bytes A also has are B's own asset (a duplicate of B's, never A's)
    data = (w.corpus / SHARED).read_bytes()
    [result] = (
        await w.b.client.post("/api/v1/assets", files=[("files", ("again.jpeg", data, "image/jpeg"))])
    ).json()
    assert result["status"] == "duplicate" and result.get("asset_id") not in w.a.assets


async def lookup_assets(w: World) -> None:
    only_a = sorted(w.a.sha256s - w.b.sha256s)
    assert only_a
    response = await w.b.client.post("/api/v1/assets/lookup", json={"sha256": only_a})
    assert response.json() == {"known": []}


async def get_asset(w: World) -> None:
    await _each_is_404(w.b.client, "GET", [f"/api/v1/assets/{a}" for a in w.a.assets])


async def get_thumbnail(w: World) -> None:
    for size in ("card", "detail"):
        await _each_is_404(
            w.b.client, "GET", [f"/api/v1/assets/{a}/thumbnail?size={size}" for a in w.a.assets]
        )


async def get_original(w: World) -> None:
    # A's originals, the SHARED bytes B also has included, are a 404 to B; B's own download
    await _each_is_404(w.b.client, "GET", [f"/api/v1/assets/{a}/original" for a in w.a.assets])
    for asset_id in sorted(w.b.assets)[:3]:
        response = await w.b.client.get(f"/api/v1/assets/{asset_id}/original")
        assert response.status_code == 200, response.text
        assert hashlib.sha256(response.content).hexdigest() in w.b.sha256s


async def list_quarantine(w: World) -> None:
    seen = {
        q["asset_id"]
        for q in (await w.b.client.get("/api/v1/assets/quarantine", params={"limit": 500})).json()
    }
    assert seen == w.b.quarantined and not seen & w.a.quarantined


async def list_sessions(w: World) -> None:
    seen = [c["id"] for c in await _all_pages(w.b.client, "/api/v1/sessions", limit=1)]
    assert seen and not set(seen) & set(w.a.sessions)


async def get_session(w: World) -> None:
    await _each_is_404(w.b.client, "GET", [f"/api/v1/sessions/{s}" for s in w.a.sessions])


async def list_session_assets(w: World) -> None:
    await _each_is_404(w.b.client, "GET", [f"/api/v1/sessions/{s}/assets" for s in w.a.sessions])
    for s in w.b.sessions:  # and B's own sessions list only B's assets
        seen = {a["asset_id"] for a in await _all_pages(w.b.client, f"/api/v1/sessions/{s}/assets")}
        assert seen and seen <= w.b.assets


async def split_session(w: World) -> None:
    for session in w.a.sessions:
        for asset in sorted(w.a.assets)[:2]:
            await _each_is_404(
                w.b.client, "POST", [f"/api/v1/sessions/{session}/split"], json={"asset_id": asset}
            )
    # B's own session, A's asset
    await _each_is_404(
        w.b.client,
        "POST",
        [f"/api/v1/sessions/{w.b.sessions[0]}/split"],
        json={"asset_id": sorted(w.a.assets)[0]},
    )


async def merge_sessions(w: World) -> None:
    for pair in (w.a.sessions[:2], [w.a.sessions[0], w.b.sessions[0]], [w.b.sessions[0], w.a.sessions[0]]):
        await _each_is_404(w.b.client, "POST", ["/api/v1/sessions/merge"], json={"session_ids": pair})


async def get_time_zone(w: World) -> None:
    assert (await w.a.client.get("/api/v1/settings/time-zone")).json()["time_zone"] == "Europe/Paris"
    assert (await w.b.client.get("/api/v1/settings/time-zone")).json()["time_zone"] == "UTC"


async def put_time_zone(w: World) -> None:
    response = await w.b.client.put("/api/v1/settings/time-zone", json={"time_zone": "Asia/Tokyo"})
    assert response.status_code == 200
    assert (await w.a.client.get("/api/v1/settings/time-zone")).json()["time_zone"] == "Europe/Paris"


async def get_session_settings(w: World) -> None:
    assert (await w.b.client.get("/api/v1/settings/sessions")).json()["gap_minutes"] is None


async def put_session_settings(w: World) -> None:
    response = await w.b.client.put("/api/v1/settings/sessions", json={"gap_minutes": 45})
    assert response.status_code == 200, response.text
    assert {c["id"] for c in response.json()["sessions"]}.isdisjoint(w.a.sessions)
    assert (await w.a.client.get("/api/v1/settings/sessions")).json()["gap_minutes"] is None
    assert [c["id"] for c in (await w.a.client.get("/api/v1/sessions")).json()] == w.a.sessions


async def list_folders(w: World) -> None:
    seen = {f["id"] for f in (await w.b.client.get("/api/v1/folders")).json()}
    assert seen == w.b.folders


async def connect_folder(w: World) -> None:
    folder = w.folder_root / f"isolation-b2-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    response = await w.b.client.post("/api/v1/folders", json={"path": str(folder)})
    assert response.status_code == 201, response.text
    assert response.json()["id"] not in {f["id"] for f in (await w.a.client.get("/api/v1/folders")).json()}


async def disconnect_folder(w: World) -> None:
    await _each_is_404(w.b.client, "DELETE", [f"/api/v1/folders/{f}" for f in w.a.folders])
    assert {f["id"] for f in (await w.a.client.get("/api/v1/folders")).json()} == w.a.folders


async def events(w: World) -> None:
    """B's stream carries none of A's changes while A's library changes. No waiting for an absence: A's
    own stream shows A's change went out, then B imports a file of its own, and B's stream, in order,
    must show B's change with nothing of A's before it (one gateway fans out to both streams)."""
    async with httpx.AsyncClient(base_url=w.gateway_url, timeout=30) as http:

        async def watch(ws: Workspace, lines: list[str]) -> None:
            headers = {"Authorization": f"Bearer {ws.token}"}
            async with http.stream("GET", "/api/v1/events", headers=headers) as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
                async for line in stream.aiter_lines():
                    lines.append(line)

        def changes(lines: list[str]) -> list[dict[str, Any]]:
            return [json.loads(line.removeprefix("data:")) for line in lines if line.startswith("data:")]

        def arrived(lines: list[str]) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return any(e.get("type") == "session.updated" for e in changes(lines))

            return check

        async def opened() -> bool:  # ": connected" is sent once the stream is subscribed
            return ": connected" in a_lines and ": connected" in b_lines

        async def upload(ws: Workspace, name: str, seed: int, at: datetime) -> str:
            response = await ws.client.post(
                "/api/v1/assets",
                files=[("files", (name, _png(seed), "image/png"))],
                data={"last_modified": [str(int(at.timestamp() * 1000))]},
            )
            assert response.json()[0]["status"] == "imported"
            return str(response.json()[0]["asset_id"])

        a_lines: list[str] = []
        b_lines: list[str] = []
        readers = [asyncio.create_task(watch(w.a, a_lines)), asyncio.create_task(watch(w.b, b_lines))]
        try:
            assert await until(opened)
            a_asset = await upload(w.a, "late.png", 99_001, datetime(2022, 12, 1, 8, 0, tzinfo=UTC))
            assert await until(arrived(a_lines))
            b_asset = await upload(w.b, "marker.png", 99_002, datetime(2022, 12, 2, 8, 0, tzinfo=UTC))
            assert await until(arrived(b_lines))
        finally:
            for reader in readers:
                reader.cancel()
    assert a_asset not in str(b_lines) and b_asset not in str(a_lines)
    b_sessions = {s["id"] for s in (await w.b.client.get("/api/v1/sessions", params={"limit": 500})).json()}
    seen = [e for e in changes(b_lines) if e.get("type") == "session.updated"]
    assert seen and {e["payload"]["session_id"] for e in seen} <= b_sessions, seen
    assert not {e.get("payload", {}).get("session_id") for e in changes(b_lines)} & set(w.a.sessions)


async def me(w: World) -> None:
    doc = (await w.b.client.get("/api/v1/me")).json()
    assert doc["tenant_id"] == w.b.tenant_id != w.a.tenant_id


async def login(w: World) -> None:
    # an API token signs its browser into that token's workspace only
    async with httpx.AsyncClient(transport=w.b.client._transport, base_url="http://localhost") as browser:
        assert (await browser.post("/api/v1/login", json={"token": w.b.token})).status_code == 200
        assert (await browser.get("/api/v1/me")).json()["tenant_id"] == w.b.tenant_id
        seen = {a["asset_id"] for a in (await browser.get("/api/v1/assets", params={"limit": 500})).json()}
        assert seen and not seen & w.a.assets


async def logout(w: World) -> None:
    assert (await w.b.client.post("/api/v1/logout")).status_code in (200, 204)
    assert (await w.a.client.get("/api/v1/me")).status_code == 200


async def sign_up(w: World) -> None:
    async with httpx.AsyncClient(transport=w.b.client._transport, base_url="http://localhost") as browser:
        email = f"isolation-{uuid.uuid4().hex[:8]}@example.com"
        response = await browser.post(
            "/api/v1/accounts", json={"email": email, "password": "a long walled garden 42", "name": "C"}
        )
        assert response.status_code == 201, response.text
        doc = response.json()
        assert doc.get("workspace_id", doc.get("tenant_id")) not in (None, w.a.tenant_id, w.b.tenant_id)
        assert (await browser.get("/api/v1/assets")).json() == []
        assert (await browser.get("/api/v1/sessions")).json() == []


async def list_tokens(w: World) -> None:
    seen = {t["id"] for t in (await w.b.client.get("/api/v1/tokens")).json()}
    assert seen >= w.b.tokens and not seen & w.a.tokens


async def create_token(w: World) -> None:
    response = await w.b.client.post("/api/v1/tokens", json={"label": "another"})
    assert response.status_code in (200, 201), response.text
    assert response.json()["id"] not in {t["id"] for t in (await w.a.client.get("/api/v1/tokens")).json()}


async def revoke_token(w: World) -> None:
    await _each_is_404(w.b.client, "DELETE", [f"/api/v1/tokens/{t}" for t in w.a.tokens])
    assert {t["id"] for t in (await w.a.client.get("/api/v1/tokens")).json()} >= w.a.tokens


# saved searches and share links (services/gateway/sharing): A's are made once, on first need


async def _shares(w: World) -> dict[str, Any]:
    """A's saved search and a link to each of A's sessions, and one link of B's (to B's first session)."""
    made: dict[str, Any] = w.__dict__.setdefault("sharing", {})
    if not made:
        response = await w.a.client.post("/api/v1/searches", json={"name": "mine", "query": {"q": "garden"}})
        assert response.status_code == 201, response.text
        made["a_searches"] = {response.json()["id"]}
        links = [(await w.a.client.post(f"/api/v1/sessions/{s}/share", json={"expires_in_days": 1})).json()
                 for s in w.a.sessions]  # fmt: skip
        made["a_shares"] = {link["id"] for link in links}
        made["a_tokens"] = [link["token"] for link in links]
        response = await w.b.client.post(
            f"/api/v1/sessions/{w.b.sessions[0]}/share", json={"expires_in_days": 1}
        )
        assert response.status_code == 201, response.text
        made["b_token"] = response.json()["token"]
    return made


async def list_searches(w: World) -> None:
    made = await _shares(w)
    seen = {s["id"] for s in (await w.b.client.get("/api/v1/searches")).json()}
    assert not seen & made["a_searches"]


async def create_search(w: World) -> None:
    made = await _shares(w)
    # the name A uses is free in B's workspace, and B's search stays out of A's list
    response = await w.b.client.post("/api/v1/searches", json={"name": "mine", "query": {}})
    assert response.status_code == 201, response.text
    assert {s["id"] for s in (await w.a.client.get("/api/v1/searches")).json()} == made["a_searches"]


async def delete_search(w: World) -> None:
    made = await _shares(w)
    await _each_is_404(w.b.client, "DELETE", [f"/api/v1/searches/{s}" for s in made["a_searches"]])


async def share_session(w: World) -> None:
    await _each_is_404(w.b.client, "POST", [f"/api/v1/sessions/{s}/share" for s in w.a.sessions],
                       json={"expires_in_days": 1})  # fmt: skip


async def list_shares(w: World) -> None:
    await _shares(w)
    await _each_is_404(w.b.client, "GET", [f"/api/v1/sessions/{s}/shares" for s in w.a.sessions])


async def revoke_share(w: World) -> None:
    made = await _shares(w)
    await _each_is_404(w.b.client, "DELETE", [f"/api/v1/shares/{s}" for s in made["a_shares"]])
    for token in made["a_tokens"]:  # A's links still work
        assert (await w.b.client.get(f"/s/{token}/session")).status_code == 200


async def shared_session(w: World) -> None:
    """B's link shows B's session: none of A's assets."""
    made = await _shares(w)
    doc = (await w.b.client.get(f"/s/{made['b_token']}/session")).json()
    seen = {a["asset_id"] for a in doc["assets"]}
    assert seen and seen <= w.b.assets and not seen & w.a.assets


async def shared_assets(w: World) -> None:
    made = await _shares(w)
    seen = {a["asset_id"] for a in await _all_pages(w.b.client, f"/s/{made['b_token']}/assets")}
    assert seen and seen <= w.b.assets and not seen & w.a.assets


async def shared_page(w: World) -> None:
    made = await _shares(w)
    page = (await w.b.client.get(f"/s/{made['b_token']}")).text
    assert not [a for a in w.a.assets if a in page]


async def shared_thumbnail(w: World) -> None:
    made = await _shares(w)
    await _each_is_404(w.b.client, "GET", [f"/s/{made['b_token']}/assets/{a}/thumbnail" for a in w.a.assets])


async def _credit_ids(client: httpx.AsyncClient) -> set[str]:
    return {h["id"] for h in (await client.get("/api/v1/credits/history")).json()}


async def get_credits(w: World) -> None:
    """A's purchase shows in A's credits only."""
    b_before = (await w.b.client.get("/api/v1/credits")).json()
    response = await w.a.client.post("/api/v1/billing/checkout", json={"pack": "starter"})
    assert response.status_code == 200, response.text
    assert (await w.b.client.get("/api/v1/credits")).json() == b_before


async def credit_history(w: World) -> None:
    a_ids = await _credit_ids(w.a.client)
    assert a_ids and not a_ids & await _credit_ids(w.b.client)


async def buy_credits(w: World) -> None:
    a_before = (await w.a.client.get("/api/v1/credits")).json()
    response = await w.b.client.post("/api/v1/billing/checkout", json={"pack": "starter"})
    assert response.status_code == 200, response.text
    assert (await w.a.client.get("/api/v1/credits")).json() == a_before


async def billing_webhook(w: World) -> None:
    """The webhook trusts the provider's signature, nobody's login: unsigned, it changes no workspace."""
    before = [(await c.get("/api/v1/credits")).json() for c in (w.a.client, w.b.client)]
    a_tenant = (await w.a.client.get("/api/v1/me")).json()["workspace_id"]
    event = json.dumps({"id": f"evt_{uuid.uuid4().hex}", "type": "checkout.session.completed",
                        "data": {"object": {"metadata": {"tenant_id": a_tenant, "pack": "pro"}}}})  # fmt: skip
    response = await w.b.client.post(
        "/api/v1/billing/webhook", content=event, headers={"Stripe-Signature": "t=1,v1=00"}
    )
    assert response.status_code == 400, response.text
    assert [(await c.get("/api/v1/credits")).json() for c in (w.a.client, w.b.client)] == before


async def _a_reflection(w: World) -> dict[str, str]:
    """A reflection of A's: a 50-image session of A's, quoted and confirmed (the offline curator)."""
    from tests.integration.test_reflection_flow import lighthouse_session, upload_session

    made: dict[str, str] = w.__dict__.setdefault("reflection", {})
    if not made:
        session = await upload_session(
            w.a.client, lighthouse_session(50, "an isolated tower"), 1_700_000_000_000, "iso"
        )
        quote = (await w.a.client.post(f"/api/v1/sessions/{session}/reflection/quote")).json()
        response = await w.a.client.post(f"/api/v1/sessions/{session}/reflections", json={"quote_id": quote["quote_id"]},
                                         headers={"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
        assert response.status_code == 202, response.text
        made.update(session=session, quote=quote["quote_id"], reflection=response.json()["reflection_id"])

        async def settled() -> bool:  # A's balance must not move on its own while B is checked
            doc = (await w.a.client.get(f"/api/v1/reflections/{made['reflection']}")).json()
            return (
                doc["status"] == "completed"
                and (await w.a.client.get("/api/v1/credits")).json()["reserved"] == 0
            )

        assert await until(settled, within=60.0)
        # A has a session and 50 images more: the later checks compare A's lists with these
        w.a.sessions = [c["id"] for c in (await w.a.client.get("/api/v1/sessions")).json()]
        w.a.assets |= {
            a["asset_id"] for a in await _all_pages(w.a.client, f"/api/v1/sessions/{session}/assets")
        }
    return made


async def quote_reflection(w: World) -> None:
    made = await _a_reflection(w)
    await _each_is_404(w.b.client, "POST", [f"/api/v1/sessions/{made['session']}/reflection/quote"])


async def get_reflection(w: World) -> None:
    made = await _a_reflection(w)
    await _each_is_404(w.b.client, "GET", [f"/api/v1/reflections/{made['reflection']}"])


async def list_reflections(w: World) -> None:
    made = await _a_reflection(w)
    assert (await w.a.client.get(f"/api/v1/sessions/{made['session']}/reflections")).json()
    # another workspace's session is a 404 like an unknown one, not an empty list for an id that is not B's
    await _each_is_404(w.b.client, "GET", [f"/api/v1/sessions/{made['session']}/reflections"])


async def request_reflection(w: World) -> None:
    """A's quote, confirmed as B: no such quote in B's workspace, and nothing reserved from anyone."""
    made = await _a_reflection(w)
    before = [(await c.get("/api/v1/credits")).json() for c in (w.a.client, w.b.client)]
    await _each_is_404(w.b.client, "POST", [f"/api/v1/sessions/{made['session']}/reflections"],
                       json={"quote_id": made["quote"]}, headers={"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
    assert [(await c.get("/api/v1/credits")).json() for c in (w.a.client, w.b.client)] == before


# curation (issue 14): lineage, stacks, the change strip, flags and stack edits


async def _a_stacks(w: World) -> list[tuple[str, dict[str, Any]]]:
    """(session, stack) for every stack of A's sessions, read once as A."""
    made: list[tuple[str, dict[str, Any]]] = w.__dict__.setdefault("a_stacks", [])
    if not made:
        for session in w.a.sessions:
            response = await w.a.client.get(f"/api/v1/sessions/{session}/stacks")
            assert response.status_code == 200, response.text
            made += [(session, stack) for stack in response.json()["stacks"]]
        assert made
    return made


async def _a_curation(w: World) -> list[Any]:
    """What A sees of A's curation, to compare before and after B's attempts."""
    stacks = [(await w.a.client.get(f"/api/v1/sessions/{s}/stacks")).json() for s in w.a.sessions]
    keepers = (
        await w.a.client.get("/api/v1/assets", params={"flag": "pick", "include_rejected": "true"})
    ).json()
    return [stacks, keepers]


async def asset_lineage(w: World) -> None:
    await _each_is_404(w.b.client, "GET", [f"/api/v1/assets/{a}/lineage" for a in w.a.assets])
    for asset in sorted(w.b.assets)[:3]:  # B's own: only B's assets at the other end
        doc = (await w.b.client.get(f"/api/v1/assets/{asset}/lineage")).json()
        assert {link["asset_id"] for link in doc["parents"] + doc["children"]} <= w.b.assets


async def session_lineage(w: World) -> None:
    await _each_is_404(w.b.client, "GET", [f"/api/v1/sessions/{s}/lineage" for s in w.a.sessions])
    for session in w.b.sessions:
        for edge in (await w.b.client.get(f"/api/v1/sessions/{session}/lineage")).json()["edges"]:
            assert {edge["parent_id"], edge["child_id"]} <= w.b.assets


async def session_stacks(w: World) -> None:
    await _each_is_404(w.b.client, "GET", [f"/api/v1/sessions/{s}/stacks" for s in w.a.sessions])
    for session in w.b.sessions:
        stacks = (await w.b.client.get(f"/api/v1/sessions/{session}/stacks")).json()["stacks"]
        assert stacks and {a for s in stacks for a in s["asset_ids"]} <= w.b.assets


async def session_changes(w: World) -> None:
    await _each_is_404(w.b.client, "GET", [f"/api/v1/sessions/{s}/changes" for s in w.a.sessions])
    for session in w.b.sessions:
        for step in (await w.b.client.get(f"/api/v1/sessions/{session}/changes")).json()["changes"]:
            assert {step["asset_id"], step["previous_asset_id"]} <= w.b.assets


async def put_flag(w: World) -> None:
    """B cannot flag A's images; B's own pick shows in B's keepers only."""
    before = await _a_curation(w)
    for flag in ("pick", "reject"):
        await _each_is_404(
            w.b.client, "PUT", [f"/api/v1/assets/{a}/flag" for a in w.a.assets], json={"flag": flag}
        )
    own = sorted(w.b.assets)[0]
    response = await w.b.client.put(f"/api/v1/assets/{own}/flag", json={"flag": "pick"})
    assert response.status_code == 200, response.text
    keepers = (await w.b.client.get("/api/v1/assets", params={"flag": "pick"})).json()
    assert [a["asset_id"] for a in keepers] == [own]
    assert await _a_curation(w) == before
    response = await w.b.client.put(f"/api/v1/assets/{own}/flag", json={"flag": None})
    assert response.status_code == 200, response.text


async def stack_by_hand(w: World) -> None:
    before = await _a_curation(w)
    pair = sorted(w.a.assets)[:2]
    urls = [f"/api/v1/sessions/{s}/stacks" for s in [*w.a.sessions, w.b.sessions[0]]]
    await _each_is_404(w.b.client, "POST", urls, json={"asset_ids": pair})
    # B's own session, one of B's images and one of A's
    mixed = [sorted(w.b.assets)[0], pair[0]]
    await _each_is_404(
        w.b.client, "POST", [f"/api/v1/sessions/{w.b.sessions[0]}/stacks"], json={"asset_ids": mixed}
    )
    assert await _a_curation(w) == before


async def unstack(w: World) -> None:
    before = await _a_curation(w)
    stacks = await _a_stacks(w)
    await _each_is_404(
        w.b.client, "DELETE", [f"/api/v1/sessions/{s}/stacks/{st['stack_id']}" for s, st in stacks]
    )
    await _each_is_404(
        w.b.client,
        "DELETE",
        [f"/api/v1/sessions/{w.b.sessions[0]}/stacks/{st['stack_id']}" for _, st in stacks],
    )
    assert await _a_curation(w) == before


async def move_out_of_stack(w: World) -> None:
    before = await _a_curation(w)
    stacks = await _a_stacks(w)
    urls = [
        f"/api/v1/sessions/{session}/stacks/{st['stack_id']}/assets/{asset}"
        for s, st in stacks
        for session in (s, w.b.sessions[0])
        for asset in st["asset_ids"]
    ]
    await _each_is_404(w.b.client, "DELETE", urls)
    assert await _a_curation(w) == before


async def export_workspace(w: World) -> None:
    """B's export holds B's images, sessions and flags only: none of A's ids, every original one of B's."""
    response = await w.b.client.get("/api/v1/export")
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        lines = [json.loads(line) for line in archive.read("metadata.jsonl").splitlines()]
        assert {line["asset_id"] for line in lines} == w.b.assets
        assert all(hashlib.sha256(archive.read(line["file"])).hexdigest() in w.b.sha256s for line in lines)
        sessions = {s["session_id"] for s in json.loads(archive.read("sessions.json"))}
        assert sessions <= set(w.b.sessions) and not sessions & set(w.a.sessions)
        text = b"".join(
            archive.read(n) for n in archive.namelist() if not n.startswith("originals/")
        ).decode()
        assert not any(a in text for a in w.a.assets | set(w.a.sessions) | {w.a.tenant_id})


# every operation of the document and its check, in the order they run (reads first, then writes);
# an entry whose operation the document does not list (yet) is not run
CHECKS: dict[tuple[str, str], Callable[[World], Awaitable[None]]] = {
    ("get", "/api/v1/assets"): list_assets,
    ("get", "/api/v1/facets"): get_facets,
    ("post", "/api/v1/assets/lookup"): lookup_assets,
    ("get", "/api/v1/assets/{asset_id}"): get_asset,
    ("get", "/api/v1/assets/{asset_id}/thumbnail"): get_thumbnail,
    ("get", "/api/v1/assets/{asset_id}/original"): get_original,
    ("get", "/api/v1/assets/quarantine"): list_quarantine,
    ("get", "/api/v1/sessions"): list_sessions,
    ("get", "/api/v1/sessions/{session_id}"): get_session,
    ("get", "/api/v1/sessions/{session_id}/assets"): list_session_assets,
    ("get", "/api/v1/settings/time-zone"): get_time_zone,
    ("get", "/api/v1/settings/sessions"): get_session_settings,
    ("get", "/api/v1/folders"): list_folders,
    ("get", "/api/v1/me"): me,
    ("get", "/api/v1/tokens"): list_tokens,
    ("get", "/api/v1/searches"): list_searches,
    ("get", "/api/v1/sessions/{session_id}/shares"): list_shares,
    ("get", "/api/v1/reflections/{reflection_id}"): get_reflection,
    ("get", "/api/v1/sessions/{session_id}/reflections"): list_reflections,
    ("post", "/api/v1/sessions/{session_id}/reflection/quote"): quote_reflection,
    ("post", "/api/v1/sessions/{session_id}/reflections"): request_reflection,
    ("get", "/api/v1/credits"): get_credits,
    ("get", "/api/v1/credits/history"): credit_history,
    ("get", "/api/v1/assets/{asset_id}/lineage"): asset_lineage,
    ("get", "/api/v1/sessions/{session_id}/lineage"): session_lineage,
    ("get", "/api/v1/sessions/{session_id}/stacks"): session_stacks,
    ("get", "/api/v1/sessions/{session_id}/changes"): session_changes,
    ("get", "/api/v1/export"): export_workspace,
    ("get", "/s/{token}/session"): shared_session,
    ("get", "/s/{token}"): shared_page,
    ("get", "/s/{token}/assets"): shared_assets,
    ("get", "/s/{token}/assets/{asset_id}/thumbnail"): shared_thumbnail,
    ("post", "/api/v1/sessions/{session_id}/split"): split_session,
    ("post", "/api/v1/sessions/merge"): merge_sessions,
    ("put", "/api/v1/assets/{asset_id}/flag"): put_flag,
    ("post", "/api/v1/sessions/{session_id}/stacks"): stack_by_hand,
    ("delete", "/api/v1/sessions/{session_id}/stacks/{stack_id}"): unstack,
    ("delete", "/api/v1/sessions/{session_id}/stacks/{stack_id}/assets/{asset_id}"): move_out_of_stack,
    ("delete", "/api/v1/folders/{folder_id}"): disconnect_folder,
    ("delete", "/api/v1/tokens/{token_id}"): revoke_token,
    ("delete", "/api/v1/searches/{search_id}"): delete_search,
    ("delete", "/api/v1/shares/{share_id}"): revoke_share,
    ("post", "/api/v1/assets"): upload_assets,
    ("put", "/api/v1/settings/time-zone"): put_time_zone,
    ("put", "/api/v1/settings/sessions"): put_session_settings,
    ("post", "/api/v1/folders"): connect_folder,
    ("post", "/api/v1/tokens"): create_token,
    ("post", "/api/v1/searches"): create_search,
    ("post", "/api/v1/sessions/{session_id}/share"): share_session,
    ("post", "/api/v1/billing/checkout"): buy_credits,
    ("post", "/api/v1/billing/webhook"): billing_webhook,
    ("post", "/api/v1/login"): login,
    ("post", "/api/v1/accounts"): sign_up,
    ("get", "/api/v1/events"): events,
    ("post", "/api/v1/logout"): logout,
}


async def test_no_route_reaches_another_workspace(new_tenant, corpus, folder_root, gateway_url) -> None:
    a_token, a_client = await new_tenant("Europe/Paris")
    b_token, b_client = await new_tenant()
    document = (await b_client.get("/openapi.json")).json()
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    uncovered = documented - set(CHECKS)
    assert not uncovered, f"routes without an isolation check in CHECKS: {sorted(uncovered)}"

    a, b = Workspace(a_token, a_client), Workspace(b_token, b_client)
    await _populate("a", a, corpus, folder_root, 61_000, documented)
    await _populate("b", b, corpus, folder_root, 62_000, documented)
    world = World(a, b, documented, gateway_url, folder_root, corpus)
    for operation, check in CHECKS.items():
        if operation in documented:
            try:
                await check(world)
            except AssertionError as failure:
                raise AssertionError(f"{operation}: {failure}") from failure
