"""Curation through the public API (issue 14), over the real services: stacks of a generated session of
200 images in 12 ideas, lineage with its evidence, picks and rejects in the gallery and the session, stack
edits and a pick that outlive later imports, and the change strip of a known edit."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, PngImagePlugin

from libs.lineage.facts import RELATIONS
from tests.polling import until

BENCH = Path(__file__).resolve().parents[2] / "bench"  # a folder of scripts, not a package
pytestmark = pytest.mark.integration

T0_MS = 1_765_000_000_000  # 2025-12-06
SMALL_T0_MS = T0_MS + 3 * 86_400_000  # another day: a session of its own


@dataclass
class Library:
    client: httpx.AsyncClient
    token: str
    session_id: str
    files: list[tuple[str, bytes, int]]


async def _client(stack: Any) -> tuple[str, httpx.AsyncClient]:
    from services.gateway.auth import ensure_tenant

    token = f"tok-{uuid.uuid4().hex}"
    await ensure_tenant(stack["gateway"].pool, f"curation-{uuid.uuid4().hex[:12]}", token)
    return token, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack["gateway"].app),
        base_url="http://gateway",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


async def _upload(client: httpx.AsyncClient, files: list[tuple[str, bytes, int]]) -> list[dict[str, Any]]:
    results = []
    for k in range(0, len(files), 20):
        chunk = files[k : k + 20]
        response = await client.post(
            "/api/v1/assets",
            files=[("files", (name, data, "image/png")) for name, data, _ in chunk],
            data={"last_modified": [str(ms) for _, _, ms in chunk]},
        )
        assert response.status_code == 200, response.text
        results += response.json()
    return results


async def _stacks(client: httpx.AsyncClient, session_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/sessions/{session_id}/stacks")
    assert response.status_code == 200, response.text
    return list(response.json()["stacks"])


async def _settled_stacks(client: httpx.AsyncClient, session_id: str, n_assets: int) -> list[dict[str, Any]]:
    """The session's stacks once they hold its `n_assets` images (clustering stacks as images arrive)."""

    async def complete() -> list[dict[str, Any]] | None:
        stacks = await _stacks(client, session_id)
        return stacks if sum(s["size"] for s in stacks) == n_assets else None

    stacks = await until(complete, within=90.0)
    assert stacks, f"the stacks never held the session's {n_assets} images"
    return stacks


async def _session_of(client: httpx.AsyncClient, n_assets: int, start_ms: int) -> str:
    async def found() -> str | None:
        for card in (await client.get("/api/v1/sessions")).json():
            start = int(_ms(card["start"]))
            if card["asset_count"] == n_assets and abs(start - start_ms) < 86_400_000:
                return str(card["id"])
        return None

    session = await until(found, within=90.0)
    cards = (await client.get("/api/v1/sessions")).json()
    assert session, f"no session of {n_assets} images: {[(c['start'], c['asset_count']) for c in cards]}"
    return session


def _ms(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp() * 1000


async def _library(stack: Any, n_images: int, n_ideas: int, start_ms: int, seed: int) -> Library:
    sys.path.insert(0, str(BENCH))
    from lineage_families import idea_session_files  # real A1111 PNGs of known ideas

    token, client = await _client(stack)
    # the generator's pauses reach 15 minutes over 6 hours of work: a 60-minute gap keeps it one session
    response = await client.put("/api/v1/settings/sessions", json={"gap_minutes": 60})
    assert response.status_code == 200, response.text
    files = idea_session_files(n_images=n_images, n_ideas=n_ideas, start_ms=start_ms, seed=seed)
    results = await _upload(client, files)
    assert {r["status"] for r in results} <= {"imported", "queued"}, results
    session = await _session_of(client, len(files), min(ms for _, _, ms in files))
    await _settled_stacks(client, session, len(files))
    return Library(client, token, session, files)


@pytest.fixture(scope="module")
async def ideas(stack: Any) -> Any:
    """One workspace: a session of 200 generated images in 12 ideas."""
    library = await _library(stack, 200, 12, T0_MS, seed=14)
    yield library
    await library.client.aclose()


@pytest.fixture
async def small(stack: Any) -> Any:
    """A fresh workspace with a session of 30 generated images in 3 ideas, for edits."""
    library = await _library(stack, 30, 3, SMALL_T0_MS, seed=41)
    yield library
    await library.client.aclose()


def _every_asset_once(stacks: list[dict[str, Any]], asset_ids: set[str]) -> None:
    members = [a for s in stacks for a in s["asset_ids"]]
    assert len(members) == len(set(members)) and set(members) == asset_ids
    for s in stacks:
        assert s["size"] == len(s["asset_ids"]) and s["cover_asset_id"] in s["asset_ids"]
        assert s["cover_thumbnail_url"] == f"/api/v1/assets/{s['cover_asset_id']}/thumbnail?size=card"


async def _session_assets(client: httpx.AsyncClient, session_id: str, **query: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 500, **query, **({"cursor": cursor} if cursor else {})}
        response = await client.get(f"/api/v1/sessions/{session_id}/assets", params=params)
        assert response.status_code == 200, response.text
        rows += response.json()
        cursor = response.headers.get("x-next-cursor")
        if cursor is None:
            return rows


async def test_200_images_in_12_ideas_read_as_12_stacks(ideas: Library) -> None:
    stacks = await _stacks(ideas.client, ideas.session_id)
    assets = {a["asset_id"] for a in await _session_assets(ideas.client, ideas.session_id)}
    assert len(assets) == 200
    _every_asset_once(stacks, assets)
    assert 11 <= len(stacks) <= 13, [(s["size"], s["reason"]) for s in stacks]
    assert all(s["reason"] for s in stacks)
    # in time order: by each stack's first image
    order = {a["asset_id"]: i for i, a in enumerate(await _session_assets(ideas.client, ideas.session_id))}
    firsts = [min(order[a] for a in s["asset_ids"]) for s in stacks]
    assert firsts == sorted(firsts)


async def test_lineage_lists_parents_and_children_with_evidence(ideas: Library, new_tenant: Any) -> None:
    stacks = await _stacks(ideas.client, ideas.session_id)
    biggest = max(stacks, key=lambda s: s["size"])
    links: dict[str, dict[str, Any]] = {}
    for asset_id in biggest["asset_ids"]:
        response = await ideas.client.get(f"/api/v1/assets/{asset_id}/lineage")
        assert response.status_code == 200, response.text
        links[asset_id] = response.json()
    # variations of one idea are linked to each other, and each side of a link sees it
    assert any(doc["parents"] for doc in links.values()) and any(doc["children"] for doc in links.values())
    for asset_id, doc in links.items():
        for side in ("parents", "children"):
            for link in doc[side]:
                assert link["relation"] in RELATIONS and link["rule"] and link["evidence"], link
                assert 0 < link["confidence"] <= 1 and isinstance(link["explicit"], bool)
                assert link["thumbnail_url"] == f"/api/v1/assets/{link['asset_id']}/thumbnail?size=card"
                if link["asset_id"] in links:
                    mirror = "children" if side == "parents" else "parents"
                    assert asset_id in {m["asset_id"] for m in links[link["asset_id"]][mirror]}
    # the session's graph: edges with both ends in the session, the ones seen above among them
    edges = (await ideas.client.get(f"/api/v1/sessions/{ideas.session_id}/lineage")).json()["edges"]
    members = {a["asset_id"] for a in await _session_assets(ideas.client, ideas.session_id)}
    assert edges and all(e["parent_id"] in members and e["child_id"] in members for e in edges)
    graph = {(e["parent_id"], e["child_id"]) for e in edges}
    for asset_id, doc in links.items():
        assert {(p["asset_id"], asset_id) for p in doc["parents"] if p["asset_id"] in members} <= graph

    # another workspace: none of it exists
    _, other = await new_tenant()
    some = biggest["asset_ids"][0]
    assert (await other.get(f"/api/v1/assets/{some}/lineage")).status_code == 404
    for part in ("lineage", "stacks", "changes"):
        assert (await other.get(f"/api/v1/sessions/{ideas.session_id}/{part}")).status_code == 404
    assert (await ideas.client.get(f"/api/v1/assets/{uuid.uuid4()}/lineage")).status_code == 404


async def _flag(client: httpx.AsyncClient, asset_id: str, flag: str | None) -> None:
    response = await client.put(f"/api/v1/assets/{asset_id}/flag", json={"flag": flag})
    assert response.status_code == 200, response.text
    assert response.json() == {"asset_id": asset_id, "flag": flag}


async def _gallery(client: httpx.AsyncClient, **query: Any) -> tuple[list[dict[str, Any]], int]:
    response = await client.get("/api/v1/assets", params={"limit": 500, **query})
    assert response.status_code == 200, response.text
    return response.json(), int(response.headers["X-Total-Count"])


async def _stack_of(client: httpx.AsyncClient, session_id: str, asset_id: str) -> dict[str, Any]:
    return next(s for s in await _stacks(client, session_id) if asset_id in s["asset_ids"])


async def test_picks_and_rejects(small: Library) -> None:
    client, session = small.client, small.session_id
    stacks = await _stacks(client, session)
    stacked = max(stacks, key=lambda s: s["size"])
    assert stacked["size"] >= 3
    pick = next(a for a in stacked["asset_ids"] if a != stacked["cover_asset_id"])
    reject = next(a for a in stacked["asset_ids"] if a not in (pick, stacked["cover_asset_id"]))

    await _flag(client, pick, "pick")
    await _flag(client, reject, "reject")
    assert (await client.get(f"/api/v1/assets/{pick}")).json()["flag"] == "pick"
    assert (await client.get(f"/api/v1/assets/{reject}")).json()["flag"] == "reject"

    # rejects are hidden from the gallery and the session unless asked for
    shown, total = await _gallery(client)
    assert reject not in {a["asset_id"] for a in shown} and len(shown) == total == 29
    assert {a["asset_id"]: a["flag"] for a in shown}[pick] == "pick"
    everything, total = await _gallery(client, include_rejected="true")
    assert len(everything) == total == 30
    assert {a["asset_id"]: a["flag"] for a in everything}[reject] == "reject"
    in_session = await _session_assets(client, session)
    assert len(in_session) == 29 and reject not in {a["asset_id"] for a in in_session}
    in_session = await _session_assets(client, session, include_rejected="true")
    assert len(in_session) == 30
    detail = (await client.get(f"/api/v1/sessions/{session}")).json()
    assert reject not in {a["asset_id"] for a in detail["assets"]} and len(detail["assets"]) == 29
    # keepers only
    keepers, total = await _gallery(client, flag="pick")
    assert [a["asset_id"] for a in keepers] == [pick] and total == 1
    assert [a["asset_id"] for a in await _session_assets(client, session, flag="pick")] == [pick]
    assert [a["asset_id"] for a in (await _gallery(client, flag="reject"))[0]] == [reject]

    # the pick is its stack's cover
    async def covered() -> bool:
        return (await _stack_of(client, session, pick))["cover_asset_id"] == pick

    assert await until(covered)

    # cleared: back in the gallery, unflagged
    await _flag(client, reject, None)
    shown, total = await _gallery(client)
    assert total == 30 and {a["asset_id"]: a["flag"] for a in shown}[reject] is None
    response = await client.put(f"/api/v1/assets/{pick}/flag", json={"flag": "maybe"})
    assert response.status_code == 422
    response = await client.put(f"/api/v1/assets/{uuid.uuid4()}/flag", json={"flag": "pick"})
    assert response.status_code == 404


async def test_a_session_card_leaves_out_its_rejects(small: Library) -> None:
    """The card the timeline shows: its cover without rejected images, topped up to its size from the
    session's other images, and how many of its images are rejected; clearing brings it back."""
    client, session = small.client, small.session_id

    async def card() -> dict[str, Any]:
        cards = [c for c in (await client.get("/api/v1/sessions")).json() if c["id"] == session]
        detail = (await client.get(f"/api/v1/sessions/{session}", params={"with_assets": "false"})).json()
        assert cards and {k: v for k, v in detail.items() if k in cards[0]} == cards[0]
        return cards[0]

    before = await card()
    cover = [c["asset_id"] for c in before["cover"]]
    assert (before["asset_count"], before["rejected_count"]) == (30, 0) and len(cover) >= 2
    try:
        await _flag(client, cover[0], "reject")
        after = await card()
        assert (after["asset_count"], after["rejected_count"]) == (30, 1)
        now = [c["asset_id"] for c in after["cover"]]
        assert now[:-1] == cover[1:] and len(now) == len(cover) and now[-1] not in cover

        for asset_id in cover[1:]:
            await _flag(client, asset_id, "reject")
        after = await card()
        assert after["rejected_count"] == len(cover)
        topped_up = [c["asset_id"] for c in after["cover"]]
        assert len(topped_up) == len(cover) and not set(topped_up) & set(cover)
        shown = {a["asset_id"] for a in await _session_assets(client, session)}
        assert set(topped_up) <= shown and len(shown) == 30 - len(cover)
    finally:
        for asset_id in cover:
            await _flag(client, asset_id, None)
    assert await card() == before


def _variation(data: bytes, seed: int) -> bytes:
    """The same A1111 image's idea rerolled: its parameters with another seed, slightly other pixels."""
    image = Image.open(io.BytesIO(data))
    parameters = image.info["parameters"]
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", re.sub(r"Seed: \d+", f"Seed: {seed}", parameters))
    pixels = image.convert("RGB")
    pixels.putpixel((0, 0), (seed % 256, 7, 7))
    out = io.BytesIO()
    pixels.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def _groups(stacks: list[dict[str, Any]]) -> dict[str, frozenset[str]]:
    return {a: frozenset(s["asset_ids"]) for s in stacks for a in s["asset_ids"]}


async def test_stack_edits_and_a_pick_survive_later_imports(small: Library) -> None:
    client, session = small.client, small.session_id
    stacks = sorted(await _stacks(client, session), key=lambda s: -s["size"])
    assert len([s for s in stacks if s["size"] >= 3]) >= 2, [s["size"] for s in stacks]
    first, second = stacks[0], stacks[1]

    # move one image out of the first stack
    moved = first["asset_ids"][1]
    response = await client.delete(f"/api/v1/sessions/{session}/stacks/{first['stack_id']}/assets/{moved}")
    assert response.status_code == 200, response.text
    after = response.json()["stacks"]
    assert _groups(after)[moved] == {moved}
    assert (await _stacks(client, session)) == after  # the answer is the session's stacks

    # unstack the second
    response = await client.delete(f"/api/v1/sessions/{session}/stacks/{second['stack_id']}")
    assert response.status_code == 200, response.text
    after = response.json()["stacks"]
    assert all(_groups(after)[a] == {a} for a in second["asset_ids"])

    # stack two of the loose images by hand, and pick one of the rest of the first stack
    by_hand = [moved, second["asset_ids"][0]]
    response = await client.post(f"/api/v1/sessions/{session}/stacks", json={"asset_ids": by_hand})
    assert response.status_code == 200, response.text
    after = response.json()["stacks"]
    assert _groups(after)[moved] == set(by_hand)
    assert next(s for s in after if moved in s["asset_ids"])["manual"] is True
    pick = first["asset_ids"][-1]
    await _flag(client, pick, "pick")

    async def picked_cover() -> list[dict[str, Any]] | None:
        now = await _stacks(client, session)
        return now if next(s for s in now if pick in s["asset_ids"])["cover_asset_id"] == pick else None

    edited = await until(picked_cover)
    assert edited

    def holds(stacks: list[dict[str, Any]]) -> None:
        groups = _groups(stacks)
        assert groups[moved] == set(by_hand), groups[moved]
        assert all(groups[a] == {a} for a in second["asset_ids"][1:])
        stack = next(s for s in stacks if pick in s["asset_ids"])
        assert stack["cover_asset_id"] == pick

    holds(edited)
    # the same files again: duplicates, nothing moves
    results = await _upload(client, small.files)
    assert {r["status"] for r in results} == {"duplicate"}
    holds(await _stacks(client, session))
    assert (await client.get(f"/api/v1/assets/{pick}")).json()["flag"] == "pick"

    # a later import into the session: rerolls of the edited images' ideas, timed among them
    by_name = {name: (data, ms) for name, data, ms in small.files}
    times = sorted(ms for _, _, ms in small.files)
    later = []
    for i, asset_id in enumerate([moved, second["asset_ids"][1], pick]):
        name = (await client.get(f"/api/v1/assets/{asset_id}")).json()["filename"]
        data, ms = by_name[name]
        later.append((f"later-{i}.png", _variation(data, 900_000 + i), min(ms + 500, times[-1])))
    results = await _upload(client, later)
    assert {r["status"] for r in results} <= {"imported", "queued"}, results
    await _session_of(client, 33, times[0])
    stacks = await _settled_stacks(client, session, 33)
    _every_asset_once(
        stacks, {a["asset_id"] for a in await _session_assets(client, session, include_rejected="true")}
    )
    holds(stacks)
    assert (await client.get(f"/api/v1/assets/{pick}")).json()["flag"] == "pick"

    # refusals: an image of no stack of this session, a stack id that is not one, a lone image
    assert (await client.delete(f"/api/v1/sessions/{session}/stacks/{uuid.uuid4()}")).status_code == 404
    response = await client.post(f"/api/v1/sessions/{session}/stacks", json={"asset_ids": [moved, moved]})
    assert response.status_code == 422
    response = await client.post(
        f"/api/v1/sessions/{session}/stacks", json={"asset_ids": [moved, str(uuid.uuid4())]}
    )
    assert response.status_code == 404, response.text


def _a1111(prompt: str, *, seed: int, steps: int, cfg: float, model: str, shade: int) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters",
        f"{prompt}\nNegative prompt: blurry\nSteps: {steps}, Sampler: Euler a, CFG scale: {cfg}, "
        f"Seed: {seed}, Size: 64x64, Model: {model}",
    )
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (shade, 90, 160)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


async def test_the_change_strip_names_a_known_edit(new_tenant: Any) -> None:
    _, client = await new_tenant()
    start = T0_MS + 7 * 86_400_000
    base = "a red fox in snow, pine forest"
    images = [
        _a1111(base, seed=11, steps=20, cfg=7, model="juggernautXL_v9", shade=10),
        # a prompt edit: same seed, two words more
        _a1111(base + ", golden hour", seed=11, steps=20, cfg=7, model="juggernautXL_v9", shade=20),
        # a sweep: CFG 7 -> 9 and 20 -> 30 steps, "pine" dropped
        _a1111(
            "a red fox in snow, forest, golden hour",
            seed=11,
            steps=30,
            cfg=9,
            model="juggernautXL_v9",
            shade=30,
        ),
        # a model switch and a LoRA
        _a1111(
            "a red fox in snow, forest, golden hour, <lora:film_grain:0.8>",
            seed=11,
            steps=30,
            cfg=9,
            model="dreamshaperXL_turbo",
            shade=40,
        ),
    ]
    files = [(f"fox-{i}.png", data, start + i * 30_000) for i, data in enumerate(images)]
    await _upload(client, files)
    session = await _session_of(client, 4, start)
    ids = [a["asset_id"] for a in await _session_assets(client, session)]
    response = await client.get(f"/api/v1/sessions/{session}/changes")
    assert response.status_code == 200, response.text
    steps = {s["asset_id"]: s for s in response.json()["changes"]}
    assert set(steps) == set(ids[1:])
    for previous, asset_id in itertools.pairwise(ids):
        assert steps[asset_id]["previous_asset_id"] == previous

    def words(items: list[str]) -> set[str]:
        return {w for item in items for w in re.findall(r"\w+", item.lower())}

    edit = steps[ids[1]]
    assert {"golden", "hour"} <= words(edit["prompt_added"]) and not edit["prompt_removed"]
    assert not edit["parameters"] and edit["model"] is None

    sweep = steps[ids[2]]
    assert "pine" in words(sweep["prompt_removed"]) and "pine" not in words(sweep["prompt_added"])
    changed = {p["name"]: (p["before"], p["after"]) for p in sweep["parameters"]}
    assert set(changed) == {"steps", "cfg"}, changed
    assert [float(v) for v in changed["cfg"]] == [7.0, 9.0]
    assert [int(v) for v in changed["steps"]] == [20, 30]

    switch = steps[ids[3]]
    assert switch["model"] == {"before": "juggernautXL_v9", "after": "dreamshaperXL_turbo"}
    assert switch["loras_added"] == ["film_grain"] and not switch["loras_removed"]


async def test_an_open_page_hears_of_a_stack_edit(small: Library, gateway_url: str) -> None:
    """A stack edit reaches the workspace's live feed as `stack.updated`, naming the session."""
    stacks = await _stacks(small.client, small.session_id)
    stacked = max(stacks, key=lambda s: s["size"])
    seen: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        headers = {"Authorization": f"Bearer {small.token}"}
        async with http.stream("GET", "/api/v1/events", headers=headers) as stream:
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith("retry:")  # subscribed from here on
            url = f"/api/v1/sessions/{small.session_id}/stacks/{stacked['stack_id']}"
            assert (await small.client.delete(url)).status_code == 200

            async def heard() -> None:
                async for line in lines:
                    if line.startswith("data:"):
                        seen.append(json.loads(line.removeprefix("data:")))
                        if seen[-1]["type"] == "stack.updated":
                            return

            await asyncio.wait_for(heard(), timeout=30)
    assert seen[-1]["payload"]["session_id"] == small.session_id
    assert seen[-1]["payload"]["stack_ids"]
