"""A person's session edits over the real stack: split, merge, the tenant's gap, live updates.

Each test uses a fresh tenant. The images are generated PNGs carrying an A1111 `parameters`
text and no time of their own, so the time ladder falls back to the upload's `last_modified`,
which the test sets: the sessions are known in advance.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

pytestmark = pytest.mark.integration

# far from any other test's times; gaps of 2 minutes inside a session, 3 hours between two
T0 = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
MIDJOURNEY = "midjourney/image-description.png"  # embeds its own time: 2026-06-25T01:46:47


def a1111_png(prompt: str, seed: int) -> bytes:
    """A small PNG an A1111 user might have saved: distinct pixels, the infotext in `parameters`."""
    image = Image.new("RGB", (48, 48), ((seed * 53) % 256, (seed * 97) % 256, (seed * 29) % 256))
    info = PngInfo()
    info.add_text("parameters", f"{prompt}\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: {seed}, "
                                "Size: 48x48, Model: sdxl_base")  # fmt: skip
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


async def upload(client: httpx.AsyncClient, files: dict[str, datetime]) -> dict[str, str]:
    """Upload generated images named by the test, each with its file time; returns name -> asset id."""
    parts = [("files", (f"{name}.png", a1111_png(f"a lighthouse, {name}", zlib.crc32(name.encode()) % 10_000), "image/png"))
             for name in files]  # fmt: skip
    form = {"last_modified": [str(int(at.timestamp() * 1000)) for at in files.values()]}
    response = await client.post("/api/v1/assets", files=parts, data=form)
    assert response.status_code == 200, response.text
    results = response.json()
    assert all(r["status"] == "imported" for r in results), results
    return {r["filename"].removesuffix(".png"): r["asset_id"] for r in results}


async def until(probe: Callable[[], Awaitable[Any]], what: str, within_seconds: float = 20.0) -> Any:
    """Poll until `probe` returns something truthy; fail with `what` at the deadline."""
    deadline = asyncio.get_running_loop().time() + within_seconds
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def membership(client: httpx.AsyncClient, names: dict[str, str]) -> list[list[str]]:
    """The tenant's sessions as lists of the test's names, in time order (unknown assets left out)."""
    by_id = {v: k for k, v in names.items()}
    sessions = sorted((await client.get("/api/v1/sessions")).json(), key=lambda s: s["start"])
    groups = []
    for s in sessions:
        detail = (await client.get(f"/api/v1/sessions/{s['id']}")).json()
        groups.append([by_id.get(a["asset_id"], a["filename"]) for a in detail["assets"]])
    return groups


async def sessions_become(
    client: httpx.AsyncClient, names: dict[str, str], expected: list[list[str]]
) -> None:
    async def matches() -> bool:
        return await membership(client, names) == expected

    try:
        await until(matches, f"sessions {expected}")
    except AssertionError:
        raise AssertionError(f"sessions are {await membership(client, names)}, expected {expected}") from None


async def session_of(client: httpx.AsyncClient, asset_id: str) -> str:
    return (await client.get(f"/api/v1/assets/{asset_id}")).json()["session_id"]


async def test_split_merge_and_gap_survive_imports(new_tenant, corpus) -> None:
    _, client = await new_tenant()
    names = await upload(
        client,
        {
            "a1": T0,
            "a2": T0 + timedelta(minutes=2),
            "a3": T0 + timedelta(minutes=4),
            "b1": T0 + timedelta(hours=3),
            "b2": T0 + timedelta(hours=3, minutes=2),
        },
    )
    mj = (
        await client.post(
            "/api/v1/assets", files=[("files", ("mj.png", (corpus / MIDJOURNEY).read_bytes(), "image/png"))]
        )
    ).json()[0]
    names["mj"] = mj["asset_id"]
    await sessions_become(client, names, [["a1", "a2", "a3"], ["b1", "b2"], ["mj"]])
    session_a = await session_of(client, names["a1"])

    # split A before a3: the larger part keeps A's id; the answer carries both cards, earlier first
    response = await client.post(f"/api/v1/sessions/{session_a}/split", json={"asset_id": names["a3"]})
    assert response.status_code == 200, response.text
    left, right = response.json()["sessions"]
    assert (left["id"], left["asset_count"], right["asset_count"]) == (session_a, 2, 1)
    assert right["start"] == right["end"] == (T0 + timedelta(minutes=4)).isoformat()
    assert left["reflection_summary"] is None and len(left["cover"]) == 2
    await sessions_become(client, names, [["a1", "a2"], ["a3"], ["b1", "b2"], ["mj"]])

    # an import between a2 and a3 would have joined them; the cut stays, it joins the earlier side
    names |= await upload(client, {"a4": T0 + timedelta(minutes=3)})
    await sessions_become(client, names, [["a1", "a2", "a4"], ["a3"], ["b1", "b2"], ["mj"]])

    # splitting at a session's first asset is refused with a reason; so is an asset of another session
    refused = await client.post(f"/api/v1/sessions/{session_a}/split", json={"asset_id": names["a1"]})
    assert refused.status_code == 409 and "starts its session" in refused.json()["detail"]
    elsewhere = await client.post(f"/api/v1/sessions/{session_a}/split", json={"asset_id": names["b2"]})
    assert elsewhere.status_code == 404

    # merge a3's session into B: B is larger, so B's id survives and a3's old id redirects to it
    session_a3, session_b = right["id"], await session_of(client, names["b1"])
    response = await client.post("/api/v1/sessions/merge", json={"session_ids": [session_a3, session_b]})
    assert response.status_code == 200, response.text
    [merged] = response.json()["sessions"]
    assert (merged["id"], merged["asset_count"]) == (session_b, 3)
    assert response.json()["merged_from"] == [session_a3]
    old_link = (await client.get(f"/api/v1/sessions/{session_a3}")).json()
    assert (old_link["id"], old_link["merged_from"]) == (session_b, session_a3)
    assert [a["asset_id"] for a in old_link["assets"]] == [names["a3"], names["b1"], names["b2"]]
    await sessions_become(client, names, [["a1", "a2", "a4"], ["a3", "b1", "b2"], ["mj"]])

    # sessions that are not neighbours are refused with the reason
    session_mj = await session_of(client, names["mj"])
    refused = await client.post("/api/v1/sessions/merge", json={"session_ids": [session_a, session_mj]})
    assert refused.status_code == 409 and "not neighbours" in refused.json()["detail"]

    # a 1-minute gap re-segments the tenant: every pause of a minute or more cuts, but the hand join holds
    assert (await client.get("/api/v1/settings/sessions")).json() == {"gap_minutes": None}
    response = await client.put("/api/v1/settings/sessions", json={"gap_minutes": 1})
    assert response.status_code == 200, response.text
    assert response.json()["gap_minutes"] == 1 and len(response.json()["sessions"]) == 6
    assert (await client.get("/api/v1/settings/sessions")).json() == {"gap_minutes": 1}
    await sessions_become(client, names, [["a1"], ["a2"], ["a4"], ["a3", "b1"], ["b2"], ["mj"]])

    # back to automatic: the default rule again, with the hand split and merge still in place
    response = await client.put("/api/v1/settings/sessions", json={"gap_minutes": None})
    assert response.status_code == 200, response.text
    assert (await client.get("/api/v1/settings/sessions")).json() == {"gap_minutes": None}
    await sessions_become(client, names, [["a1", "a2", "a4"], ["a3", "b1", "b2"], ["mj"]])

    # out-of-range gaps are refused before anything changes
    for bad in (0, 1441, "soon"):
        assert (await client.put("/api/v1/settings/sessions", json={"gap_minutes": bad})).status_code == 422


async def test_other_tenants_cannot_edit_these_sessions(new_tenant) -> None:
    _, alice = await new_tenant()
    _, bob = await new_tenant()
    names = await upload(alice, {"x1": T0, "x2": T0 + timedelta(minutes=1), "y1": T0 + timedelta(hours=2)})
    await sessions_become(alice, names, [["x1", "x2"], ["y1"]])
    session_x, session_y = await session_of(alice, names["x1"]), await session_of(alice, names["y1"])

    split = await bob.post(f"/api/v1/sessions/{session_x}/split", json={"asset_id": names["x2"]})
    merge = await bob.post("/api/v1/sessions/merge", json={"session_ids": [session_x, session_y]})
    assert (split.status_code, merge.status_code) == (404, 404)
    assert (await bob.put("/api/v1/settings/sessions", json={"gap_minutes": 5})).status_code == 200
    # nothing of Alice's moved
    await sessions_become(alice, names, [["x1", "x2"], ["y1"]])
    assert (await alice.get("/api/v1/settings/sessions")).json() == {"gap_minutes": None}
    unknown = await alice.post(f"/api/v1/sessions/{uuid.uuid4()}/split", json={"asset_id": names["x2"]})
    assert unknown.status_code == 404


async def read_events(response: httpx.Response) -> Any:
    """Server-Sent Events from a streaming response, as (event type, data) pairs; comments as (":", text)."""
    kind, data = "message", []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield ":", line[1:].strip()
        elif line.startswith("event:"):
            kind = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())
        elif not line and data:
            yield kind, json.loads("\n".join(data))
            kind, data = "message", []


async def test_event_stream_delivers_the_callers_session_changes(new_tenant, gateway_url) -> None:
    alice_token, alice = await new_tenant()
    bob_token, bob = await new_tenant()

    async with httpx.AsyncClient(base_url=gateway_url, timeout=httpx.Timeout(10.0, read=30.0)) as http:
        unauthenticated = await http.get("/api/v1/events")
        assert unauthenticated.status_code == 401
        async with (
            http.stream(
                "GET", "/api/v1/events", headers={"Authorization": f"Bearer {alice_token}"}
            ) as alice_stream,
            http.stream(
                "GET", "/api/v1/events", headers={"Authorization": f"Bearer {bob_token}"}
            ) as bob_stream,
        ):
            assert alice_stream.headers["content-type"].startswith("text/event-stream")
            alice_events, bob_events = read_events(alice_stream), read_events(bob_stream)
            # both are subscribed once the first comment arrives
            assert await anext(alice_events) == (":", "connected")
            assert await anext(bob_events) == (":", "connected")

            # Alice uploads first, then Bob: Bob's first event must be his own, never Alice's
            [alice_asset] = (await upload(alice, {"live-a": T0})).values()
            [bob_asset] = (await upload(bob, {"live-b": T0})).values()

            async def first_session_update(events: Any) -> dict[str, Any]:
                async for kind, data in events:
                    if kind == "session.updated":
                        return data
                raise AssertionError("stream ended")

            alice_update = await asyncio.wait_for(first_session_update(alice_events), 20)
            bob_update = await asyncio.wait_for(first_session_update(bob_events), 20)
    assert alice_update["payload"]["cover_asset_ids"] == [alice_asset]
    assert alice_update["payload"]["asset_count"] == 1
    assert bob_update["payload"]["cover_asset_ids"] == [bob_asset]
    assert alice_update["payload"]["session_id"] == await session_of(alice, alice_asset)


async def test_sessions_cut_with_another_rule_are_rechecked_on_the_next_import(new_tenant, stack) -> None:
    """A release that changes a rule (the default's constants) must not leave sessions cut the old way
    beside sessions cut the new way: the tenant records the rule its sessions were cut with, and the
    next change re-checks every gap when that is not the rule in force."""
    _, client = await new_tenant()
    t = T0 + timedelta(days=40)
    names = await upload(client, {"a1": t, "a2": t + timedelta(minutes=10), "b1": t + timedelta(hours=3)})
    await sessions_become(client, names, [["a1", "a2"], ["b1"]])

    # the rule in force becomes a 5-minute gap without anything re-cut, as a release changing a rule does
    tenant_id = uuid.UUID((await client.get("/api/v1/me")).json()["tenant_id"])
    async with stack["clustering"].pool.acquire() as conn:
        status = await conn.execute(
            "UPDATE clustering.tenant_state SET gap_minutes = 5, version = version + 1"
            " WHERE tenant_id = $1 AND segmented_with LIKE 'tempo gap%'",
            tenant_id,
        )
    assert status == "UPDATE 1"

    # an import a day later touches only its own gap under a 5-minute rule, yet a1 | a2 is re-cut too
    names |= await upload(client, {"c1": t + timedelta(days=1)})
    await sessions_become(client, names, [["a1"], ["a2"], ["b1"], ["c1"]])
