"""Curation over the real stack: lineage edges, stacks, flags and stack edits as clustering keeps them.

Files go in through the gateway's upload (ingest reads their facts, clustering links and stacks them);
what clustering decided is read from its read contract (the views `clustering.lineage_links`,
`session_stacks`, `asset_flags`, `member_facts`) and the person's edits go through clustering's internal
API, as the gateway forwards them. The images are generated: noise pixels per seed (so perceptual
hashes differ unless a test makes a copy), AUTOMATIC1111 `parameters` text, no time of their own, so
the upload's `last_modified` places them.
"""

from __future__ import annotations

import hashlib
import io
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from libs.common.consumer import Delivery
from libs.common.events import AssetImported, Event
from libs.lineage.facts import LineageFacts
from libs.lineage.linking import link_all
from services.clustering.curation import generation_of
from services.clustering.handlers import ImportedHandler, TimelineCache
from tests.polling import until

pytestmark = pytest.mark.integration

T0 = datetime(2024, 7, 2, 10, 0, tzinfo=UTC)  # far from other tests' times
LIGHTHOUSE = "a lighthouse on a cliff at dawn, oil painting"
BICYCLE = "a red bicycle leaning on a wall, oil painting"  # shares "oil painting" and nothing else
COMFY_IMG2IMG = "comfyui/img2img_cropped.png"  # its LoadImage reads "example.png" into VAEEncode


def noise(seed: int, size: int = 64) -> Image.Image:
    return Image.frombytes("RGB", (size, size), random.Random(seed).randbytes(size * size * 3))


def png(image: Image.Image, parameters: str | None = None) -> bytes:
    info = PngInfo()
    if parameters:
        info.add_text("parameters", parameters)
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def a1111(
    prompt: str,
    seed: int,
    *,
    cfg: int = 7,
    extra: str = "",
    pixels: Image.Image | None = None,
    size: int = 64,
) -> bytes:
    """`size`: the generation's size in the text (the Extras tab keeps the source's on an upscaled copy)."""
    image = pixels if pixels is not None else noise(seed)
    text = (
        f"{prompt}\nSteps: 20, Sampler: Euler a, CFG scale: {cfg}, Seed: {seed}, "
        f"Size: {size}x{size}, Model: sdxl_base{extra}"
    )
    return png(image, text)


def pixels_md5(image: Image.Image) -> str:
    return hashlib.md5(image.tobytes(), usedforsecurity=False).hexdigest()


async def upload(client: httpx.AsyncClient, files: dict[str, tuple[bytes, datetime]]) -> dict[str, str]:
    """Upload named files, each with its file time; returns name -> asset id (duplicates included)."""
    parts = [("files", (f"{name}.png", data, "image/png")) for name, (data, _) in files.items()]
    form = {"last_modified": [str(int(at.timestamp() * 1000)) for _, at in files.values()]}
    response = await client.post("/api/v1/assets", files=parts, data=form)
    assert response.status_code == 200, response.text
    results = response.json()
    assert all(r["status"] in ("imported", "duplicate") for r in results), results
    return {r["filename"].removesuffix(".png"): r["asset_id"] for r in results}


def pool(stack: dict[str, Any]) -> Any:
    return stack["clustering"].pool


async def tenant_of(stack: dict[str, Any], asset_id: str) -> uuid.UUID:
    async def found() -> Any:
        return await pool(stack).fetchval(
            "SELECT tenant_id FROM clustering.asset_facts WHERE asset_id = $1", uuid.UUID(asset_id)
        )

    tenant = await until(found)
    assert tenant is not None, f"asset {asset_id} never reached clustering"
    return tenant


async def links(
    stack: dict[str, Any], tenant: uuid.UUID, names: dict[str, str]
) -> dict[str, tuple[str, str, bool]]:
    """child name -> (parent name, relation, explicit), from the gateway's view (ids not in `names` as they are)."""
    by_id = {v: k for k, v in names.items()}
    rows = await pool(stack).fetch(
        "SELECT parent_id, child_id, relation, explicit FROM clustering.lineage_links WHERE tenant_id = $1",
        tenant,
    )
    found: dict[str, tuple[str, str, bool]] = {}
    for r in rows:
        child = by_id.get(str(r["child_id"]), str(r["child_id"]))
        assert child not in found, f"{child} has two parents"
        found[child] = (by_id.get(str(r["parent_id"]), str(r["parent_id"])), r["relation"], r["explicit"])
    return found


async def stacks_of(stack: dict[str, Any], tenant: uuid.UUID, names: dict[str, str]) -> list[dict[str, Any]]:
    """The tenant's stacks in time order as {"ids": set of names, "cover", "manual", "stack_id", "session_id"}."""
    by_id = {v: k for k, v in names.items()}
    rows = await pool(stack).fetch(
        "SELECT session_id, stack_id, cover_asset_id, asset_ids, size, manual, reason FROM clustering.session_stacks "
        "WHERE tenant_id = $1 ORDER BY first_at, stack_id",
        tenant,
    )
    assert all(r["size"] == len(r["asset_ids"]) for r in rows)
    return [
        {
            "ids": {by_id.get(str(a), str(a)) for a in r["asset_ids"]},
            "cover": by_id.get(str(r["cover_asset_id"])),
            "manual": r["manual"],
            "stack_id": str(r["stack_id"]),
            "session_id": str(r["session_id"]),
            "reason": r["reason"],
        }
        for r in rows
    ]


async def grouping(stack: dict[str, Any], tenant: uuid.UUID, names: dict[str, str]) -> list[set[str]]:
    return [s["ids"] for s in await stacks_of(stack, tenant, names)]


async def becomes(
    stack: dict[str, Any], tenant: uuid.UUID, names: dict[str, str], expected: list[set[str]]
) -> None:
    async def matches() -> bool:
        return sorted(map(sorted, await grouping(stack, tenant, names))) == sorted(map(sorted, expected))

    if not await until(matches):
        raise AssertionError(f"stacks are {await grouping(stack, tenant, names)}, expected {expected}")


@pytest.fixture
async def internal(stack: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """Clustering's internal API, called as the gateway calls it (with the service token)."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack["clustering"].app),
        base_url="http://clustering",
        headers={"X-Atelier-Internal-Token": "test-internal-token"},
    ) as client:
        yield client


async def test_edges_from_files_and_from_generation_families(stack, new_tenant, corpus) -> None:
    _, client = await new_tenant()
    init = noise(9000)
    r2_pixels = noise(102)
    late_parent = noise(9100)
    at = {name: T0 + timedelta(minutes=i) for i, name in enumerate(
        ["r1", "r2", "r3", "s1", "e1", "u1", "init", "i2i", "up", "example", "comfy", "late_parent", "late_child"]
    )}  # fmt: skip
    files = {
        "r1": (a1111(LIGHTHOUSE, 101), at["r1"]),
        "r2": (a1111(LIGHTHOUSE, 102, pixels=r2_pixels), at["r2"]),  # reroll
        "r3": (a1111(LIGHTHOUSE, 103), at["r3"]),  # reroll
        "s1": (a1111(LIGHTHOUSE, 101, cfg=9), at["s1"]),  # sweep of r1
        "e1": (a1111(LIGHTHOUSE + ", at sunset", 101), at["e1"]),  # edit of r1's seed
        "u1": (a1111(BICYCLE, 555), at["u1"]),  # shares two words, nothing else
        "init": (png(init), at["init"]),  # a plain picture A1111 used as an init image
        "i2i": (a1111("a lighthouse in a storm", 777, extra=f", Denoising strength: 0.55, Init image hash: {pixels_md5(init)}"), at["i2i"]),
        "up": (a1111(LIGHTHOUSE, 102, pixels=r2_pixels.resize((128, 128)),
                     extra=", Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+"), at["up"]),  # Extras on r2
        "example": (png(noise(9200)), at["example"]),
        "comfy": ((corpus / COMFY_IMG2IMG).read_bytes(), at["comfy"]),
        # the child comes first; its parent (by the init image hash) in a later upload
        "late_child": (a1111("a harbour at night", 888, extra=f", Denoising strength: 0.4, Init image hash: {pixels_md5(late_parent)}"), at["late_child"]),
    }  # fmt: skip
    names = await upload(client, {k: v for k, v in files.items() if k != "comfy"})
    names |= await upload(client, {"comfy": files["comfy"]})
    tenant = await tenant_of(stack, names["r1"])

    expected = {
        "r2": ("r1", "reroll", False),
        "s1": ("r1", "sweep", False),
        "i2i": ("init", "img2img", True),
        "up": ("r2", "upscale", True),
        "comfy": ("example", "img2img", True),
    }

    async def linked() -> dict[str, tuple[str, str, bool]] | None:
        found = await links(stack, tenant, names)
        return found if expected.items() <= found.items() and {"r3", "e1"} <= found.keys() else None

    found = await until(linked)
    assert found, f"edges are {await links(stack, tenant, names)}"
    assert found["r3"][1:] == ("reroll", False) and found["r3"][0] in {"r1", "r2"}
    assert found["e1"][1:] == ("edit", False) and found["e1"][0] in {"r1", "s1"}
    # precision: nothing else, and nothing at all for the picture that only shares words
    assert found.keys() == expected.keys() | {"r3", "e1"}, found
    assert all("u1" not in (child, parent) for child, (parent, _, _) in found.items())

    # the parent arrives after its child: the edge appears then
    names |= await upload(client, {"late_parent": (png(late_parent), at["late_parent"])})

    async def late_link() -> Any:
        return (await links(stack, tenant, names)).get("late_child")

    assert await until(late_link) == ("late_parent", "img2img", True)
    rule, evidence, confidence = await pool(stack).fetchrow(
        "SELECT rule, evidence, confidence FROM clustering.lineage_links WHERE tenant_id = $1 AND child_id = $2",
        tenant, uuid.UUID(names["late_child"]),
    )  # fmt: skip
    assert rule == "a1111-init-hash" and pixels_md5(late_parent) in evidence and 0 < confidence <= 1

    # stacks: one idea with its rerolls, sweep, edit and upscale; the img2img pairs (proven by the file);
    # the ComfyUI child is named after its parent by file name only, and their metadata does not agree
    await becomes(stack, tenant, names, [
        {"r1", "r2", "r3", "s1", "e1", "up"}, {"u1"}, {"init", "i2i"}, {"example"}, {"comfy"},
        {"late_parent", "late_child"},
    ])  # fmt: skip
    [idea] = [s for s in await stacks_of(stack, tenant, names) if "r1" in s["ids"]]
    assert idea["cover"] == "up" and not idea["manual"]  # the largest
    # one session holds them all, and member_facts carries what the change strip compares
    assert len({s["session_id"] for s in await stacks_of(stack, tenant, names)}) == 1
    row = await pool(stack).fetchrow(
        "SELECT seed, cfg, steps, sampler, model, width, height, lineage FROM clustering.member_facts "
        "WHERE tenant_id = $1 AND asset_id = $2",
        tenant, uuid.UUID(names["s1"]),
    )  # fmt: skip
    assert (row["seed"], row["cfg"], row["steps"], row["sampler"], row["model"]) == (
        101,
        9.0,
        20,
        "Euler a",
        "sdxl_base",
    )
    assert (row["width"], row["height"]) == (64, 64) and row["lineage"]["seed"] == 101


async def test_no_edge_across_workspaces(stack, new_tenant) -> None:
    files = {"r1": (a1111(LIGHTHOUSE, 301), T0), "r2": (a1111(LIGHTHOUSE, 302), T0 + timedelta(minutes=1))}
    _, alice = await new_tenant()
    _, bob = await new_tenant()
    a = await upload(alice, files)
    b = await upload(bob, files)  # the very same bytes in another workspace
    tenant_a, tenant_b = await tenant_of(stack, a["r1"]), await tenant_of(stack, b["r1"])

    async def both_linked() -> bool:
        return (await links(stack, tenant_a, a)).get("r2") is not None and (
            await links(stack, tenant_b, b)
        ).get("r2") is not None

    assert await until(both_linked)
    assert await links(stack, tenant_a, a) == {"r2": ("r1", "reroll", False)}
    assert await links(stack, tenant_b, b) == {"r2": ("r1", "reroll", False)}
    ids_a, ids_b = [uuid.UUID(x) for x in a.values()], [uuid.UUID(x) for x in b.values()]
    crossing = await pool(stack).fetchval(
        "SELECT count(*) FROM clustering.lineage_links WHERE (parent_id = ANY($1) AND child_id = ANY($2)) "
        "OR (parent_id = ANY($2) AND child_id = ANY($1)) OR (tenant_id = $3 AND (parent_id = ANY($2) OR child_id = ANY($2)))",
        ids_a, ids_b, tenant_a,
    )  # fmt: skip
    assert crossing == 0


async def test_flags_and_stack_edits_survive_reimport_and_later_imports(stack, new_tenant, internal) -> None:
    _, client = await new_tenant()
    at = {n: T0 + timedelta(hours=30, minutes=i) for i, n in enumerate(["r1", "r2", "r3", "u1", "q1", "q2"])}
    files = {
        "r1": (a1111(LIGHTHOUSE, 401), at["r1"]),
        "r2": (a1111(LIGHTHOUSE, 402), at["r2"]),
        "r3": (a1111(LIGHTHOUSE, 403), at["r3"]),
        "u1": (a1111(BICYCLE, 404), at["u1"]),
        "q1": (a1111("a teapot made of glass, macro photo", 405), at["q1"]),
        "q2": (a1111("a fox in the snow, watercolor", 406), at["q2"]),
    }
    names = await upload(client, files)
    tenant = await tenant_of(stack, names["r1"])
    await becomes(stack, tenant, names, [{"r1", "r2", "r3"}, {"u1"}, {"q1"}, {"q2"}])
    [rerolls] = [s for s in await stacks_of(stack, tenant, names) if len(s["ids"]) == 3]
    session, base = rerolls["session_id"], f"/internal/v1/tenants/{tenant}"
    assert rerolls["cover"] == "r3" and rerolls["stack_id"] == names["r1"]  # the last of equally large ones

    # pick r2 (the cover follows), reject q2
    response = await internal.put(f"{base}/assets/{names['r2']}/flag", json={"flag": "pick"})
    assert response.status_code == 200 and response.json() == {"asset_id": names["r2"], "flag": "pick"}
    assert (
        await internal.put(f"{base}/assets/{names['q2']}/flag", json={"flag": "reject"})
    ).status_code == 200
    [rerolls] = [s for s in await stacks_of(stack, tenant, names) if len(s["ids"]) == 3]
    assert rerolls["cover"] == "r2"
    # move r3 out of its stack; stack u1 and q1 by hand
    response = await internal.delete(
        f"{base}/sessions/{session}/stacks/{rerolls['stack_id']}/assets/{names['r3']}"
    )
    assert response.status_code == 200, response.text
    response = await internal.post(
        f"{base}/sessions/{session}/stacks", json={"asset_ids": [names["u1"], names["q1"]]}
    )
    assert response.status_code == 200, response.text
    after = await stacks_of(stack, tenant, names)
    assert [s["stack_id"] for s in after] == response.json()["stack_ids"]
    assert sorted(map(sorted, (s["ids"] for s in after))) == [["q1", "u1"], ["q2"], ["r1", "r2"], ["r3"]]
    assert {s["stack_id"]: s["manual"] for s in after if s["ids"] & {"q1", "r3"}} == {
        s["stack_id"]: True for s in after if s["ids"] & {"q1", "r3"}
    }

    async def flags() -> dict[str, str]:
        rows = await pool(stack).fetch(
            "SELECT asset_id, flag FROM clustering.asset_flags WHERE tenant_id = $1", tenant
        )
        return {names_by_id[str(r["asset_id"])]: r["flag"] for r in rows}

    names_by_id = {v: k for k, v in names.items()}
    assert await flags() == {"r2": "pick", "q2": "reject"}

    # the same files again: ingest drops them as duplicates, nothing changes
    again = await upload(client, files)
    assert again == names
    # a later import into the session: a new reroll (its nearest earlier relative is r3, moved out) joins
    # the automatic stack, the edits hold
    names |= await upload(client, {"r4": (a1111(LIGHTHOUSE, 407), at["q2"] + timedelta(minutes=1))})
    names_by_id = {v: k for k, v in names.items()}
    await becomes(stack, tenant, names, [{"r1", "r2", "r4"}, {"r3"}, {"u1", "q1"}, {"q2"}])
    by_members = {frozenset(s["ids"]): s for s in await stacks_of(stack, tenant, names)}
    assert by_members[frozenset({"r1", "r2", "r4"})]["cover"] == "r2"  # still the pick
    assert by_members[frozenset({"u1", "q1"})]["manual"] and by_members[frozenset({"r3"})]["manual"]
    assert len({s["session_id"] for s in by_members.values()}) == 1
    assert await flags() == {"r2": "pick", "q2": "reject"}

    # unstack the hand stack; clear the pick: the cover is the last and largest again
    hand = by_members[frozenset({"u1", "q1"})]["stack_id"]
    assert (await internal.delete(f"{base}/sessions/{session}/stacks/{hand}")).status_code == 200
    assert (await internal.put(f"{base}/assets/{names['r2']}/flag", json={"flag": None})).json()[
        "flag"
    ] is None
    await becomes(stack, tenant, names, [{"r1", "r2", "r4"}, {"r3"}, {"u1"}, {"q1"}, {"q2"}])
    by_members = {frozenset(s["ids"]): s for s in await stacks_of(stack, tenant, names)}
    assert by_members[frozenset({"r1", "r2", "r4"})]["cover"] == "r4"
    assert await flags() == {"q2": "reject"}

    # refusals: unknown session, stack or asset (another tenant's ids are unknown here), a stack of one
    unknown = uuid.uuid4()
    assert (await internal.put(f"{base}/assets/{unknown}/flag", json={"flag": "pick"})).status_code == 404
    assert (await internal.put(f"{base}/assets/{names['r1']}/flag", json={"flag": "keep"})).status_code == 422
    assert (await internal.delete(f"{base}/sessions/{unknown}/stacks/{hand}")).status_code == 404
    assert (await internal.delete(f"{base}/sessions/{session}/stacks/{unknown}")).status_code == 404
    stack_r = by_members[frozenset({"r1", "r2", "r4"})]["stack_id"]
    assert (
        await internal.delete(f"{base}/sessions/{session}/stacks/{stack_r}/assets/{names['q1']}")
    ).status_code == 404
    same = await internal.post(
        f"{base}/sessions/{session}/stacks", json={"asset_ids": [names["q1"], names["q1"]]}
    )
    assert same.status_code == 409
    foreign = await internal.post(
        f"{base}/sessions/{session}/stacks", json={"asset_ids": [names["q1"], str(unknown)]}
    )
    assert foreign.status_code == 404
    other_tenant = f"/internal/v1/tenants/{uuid.uuid4()}"
    assert (
        await internal.put(f"{other_tenant}/assets/{names['r1']}/flag", json={"flag": "pick"})
    ).status_code == 404
    assert (await internal.delete(f"{other_tenant}/sessions/{session}/stacks/{stack_r}")).status_code == 404
    assert (await internal.put(f"{base}/assets/{names['r1']}/flag", json={"flag": "pick"}, headers={"X-Atelier-Internal-Token": "wrong"})).status_code == 401  # fmt: skip


def imported(n: int, seed: int, minutes: int) -> AssetImported:
    return AssetImported(
        asset_id=uuid.uuid4(),
        sha256=f"{n:064x}",
        filename=f"{n}.png",
        tool="automatic1111",
        prompt=LIGHTHOUSE,
        model="sdxl_base",
        width=512,
        height=512,
        generated_at=T0 + timedelta(days=5, minutes=minutes),
        timestamp_precision="second",
        lineage=LineageFacts(seed=seed, cfg=7.0, steps=20, sampler="Euler a", keys=[f"sha256:{n:064x}"]),
    )


async def test_redelivered_events_change_nothing(stack) -> None:
    """The consumer's inbox drops a redelivery of the same event; this goes further and hands the same
    assets to the handler again in new events (and in another batch): no edge, stack or event twice."""
    tenant = uuid.uuid4()
    payloads = [imported(n, 500 + n, n) for n in range(5)]
    handler = ImportedHandler(TimelineCache(10))

    async def handle(items: list[AssetImported]) -> None:
        async with pool(stack).acquire() as conn, conn.transaction():
            await handler(conn, [Delivery(Event.of(p, tenant_id=tenant), p) for p in items])

    async def state() -> tuple[Any, ...]:
        edges = await pool(stack).fetch(
            "SELECT parent_id, child_id, relation, confidence FROM clustering.lineage_links WHERE tenant_id = $1 "
            "ORDER BY child_id",
            tenant,
        )
        stacks = await pool(stack).fetch(
            "SELECT stack_id, asset_ids, cover_asset_id FROM clustering.session_stacks WHERE tenant_id = $1",
            tenant,
        )
        outbox = await pool(stack).fetchval(
            "SELECT count(*) FROM clustering.outbox WHERE topic IN ('lineage.linked', 'stack.updated') "
            "AND key = $1",
            str(tenant).encode(),
        )
        return [tuple(r) for r in edges], [tuple(r) for r in stacks], outbox

    await handle(payloads)
    first = await state()
    edges, stacks, outbox = first
    # the batch was linked as if the assets came one by one: the edges link_all gives
    expected = {(e.parent_id, e.child_id, e.relation) for e in link_all([generation_of(p) for p in payloads])}
    assert {(str(p), str(c), rel) for p, c, rel, _ in edges} == expected and len(expected) == 4
    assert len(stacks) == 1 and len(stacks[0][1]) == 5 and outbox == 2  # lineage.linked, stack.updated

    await handle(payloads)
    await handle(payloads[2:3])
    assert await state() == first


async def test_stacks_follow_session_splits_and_merges(stack, new_tenant) -> None:
    """A stack never spans two sessions: split a session inside a stack and each side stacks its own part;
    merge them back and the stack is whole again."""
    _, client = await new_tenant()
    at = [T0 + timedelta(days=2, minutes=i) for i in range(4)]
    names = await upload(client, {f"r{i + 1}": (a1111(LIGHTHOUSE, 600 + i), at[i]) for i in range(4)})
    tenant = await tenant_of(stack, names["r1"])
    await becomes(stack, tenant, names, [{"r1", "r2", "r3", "r4"}])
    [whole] = await stacks_of(stack, tenant, names)

    response = await client.post(
        f"/api/v1/sessions/{whole['session_id']}/split", json={"asset_id": names["r3"]}
    )
    assert response.status_code == 200, response.text
    await becomes(stack, tenant, names, [{"r1", "r2"}, {"r3", "r4"}])
    left, right = await stacks_of(stack, tenant, names)
    assert left["session_id"] != right["session_id"]
    # the edge r2 -> r3 stays (lineage is not about sessions), but stacks no longer across
    assert (await links(stack, tenant, names))["r3"] == ("r2", "reroll", False)

    sessions = [left["session_id"], right["session_id"]]
    response = await client.post("/api/v1/sessions/merge", json={"session_ids": sessions})
    assert response.status_code == 200, response.text
    await becomes(stack, tenant, names, [{"r1", "r2", "r3", "r4"}])
    [merged] = await stacks_of(stack, tenant, names)
    assert merged["session_id"] == response.json()["sessions"][0]["id"]


IDEAS = [
    "a lighthouse on a cliff at dawn",
    "a red bicycle leaning on a brick wall",
    "portrait of an old fisherman with a pipe",
    "a glass teapot full of blooming flowers",
    "a fox sleeping in fresh snow",
    "cyberpunk street market under neon rain",
    "a medieval castle floating among clouds",
    "macro shot of a dragonfly wing",
    "an astronaut reading in a library",
    "a bowl of ramen with steam rising",
    "sailboats racing across a stormy bay",
    "a desert caravan of camels at dusk",
]


async def test_a_session_of_200_images_in_12_ideas_shows_12_stacks(stack, new_tenant) -> None:
    """Each idea: a first image, rerolls, a CFG sweep of one seed, prompt edits and an Extras upscale,
    200 files in all, the ideas following each other in one session (some interleaved)."""
    _, client = await new_tenant()
    files: dict[str, tuple[bytes, datetime]] = {}
    idea_of: dict[str, int] = {}
    start = T0 + timedelta(days=3)
    rng = random.Random(14)
    for k, prompt in enumerate(IDEAS):
        base_seed = 10_000 * (k + 1)
        n = 17 if k < 8 else 16  # 8 x 17 + 4 x 16 = 200
        variations: list[bytes] = [a1111(prompt, base_seed)]
        variations += [a1111(prompt, base_seed + i) for i in range(1, 7)]  # rerolls
        variations += [a1111(prompt, base_seed, cfg=c) for c in (4, 5, 6, 8, 9)]  # sweep
        variations += [
            a1111(f"{prompt}, {extra}", base_seed) for extra in ("golden hour", "soft light", "wide angle")
        ]
        pixels = noise(base_seed)
        variations.append(
            a1111(prompt, base_seed, pixels=pixels.resize((128, 128)),
                  extra=", Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+")
        )  # fmt: skip
        variations += [a1111(prompt, base_seed + 7 + i) for i in range(n - len(variations))]
        for i, data in enumerate(variations[:n]):
            # ideas follow each other a minute apart per image; the last three of an idea come
            # a little after the next idea began (people go back to an earlier idea)
            minute = sum(17 if j < 8 else 16 for j in range(k)) + i + (2 if i >= n - 3 else 0)
            name = f"i{k}-{i}"
            files[name] = (data, start + timedelta(minutes=minute, seconds=rng.randint(0, 20)))
            idea_of[name] = k
    assert len(files) == 200
    names: dict[str, str] = {}
    items = list(files.items())
    for chunk in range(0, 200, 50):
        names |= await upload(client, dict(items[chunk : chunk + 50]))
    tenant = await tenant_of(stack, names["i0-0"])

    async def all_stacked() -> list[dict[str, Any]]:
        stacks = await stacks_of(stack, tenant, names)
        return stacks if sum(len(s["ids"]) for s in stacks) == 200 else []

    stacks = await until(all_stacked, within=60)
    assert stacks, "the 200 images never all reached a stack"
    assert len({s["session_id"] for s in stacks}) == 1
    assert 11 <= len(stacks) <= 13, [sorted(s["ids"]) for s in stacks]
    # and no stack mixes two ideas
    assert all(len({idea_of[a] for a in s["ids"]}) == 1 for s in stacks), [sorted(s["ids"]) for s in stacks]


async def test_sessions_from_before_curation_get_their_stacks(stack) -> None:
    """Sessions made before migration 006 have members but no facts and no stacks: at start-up their
    stacks are made, so `session_stacks` covers every member."""
    from services.clustering.curation import backfill_stacks

    tenant = uuid.uuid4()
    payloads = [imported(900 + n, 900 + n, 60 + n) for n in range(3)]
    async with pool(stack).acquire() as conn, conn.transaction():
        await ImportedHandler(TimelineCache(10))(
            conn, [Delivery(Event.of(p, tenant_id=tenant), p) for p in payloads]
        )
        for table in ("stacks", "lineage_edges", "asset_facts"):  # as before curation existed
            await conn.execute(f"DELETE FROM clustering.{table} WHERE tenant_id = $1", tenant)

    assert await backfill_stacks(pool(stack)) >= 1
    rows = await pool(stack).fetch(
        "SELECT asset_ids, cover_asset_id, reason FROM clustering.session_stacks WHERE tenant_id = $1", tenant
    )
    # every member in exactly one stack (how they group is stack_session's business)
    assert sorted(a for r in rows for a in r["asset_ids"]) == sorted(p.asset_id for p in payloads)
    assert all(r["cover_asset_id"] in r["asset_ids"] for r in rows)
    await backfill_stacks(pool(stack))  # nothing more to do for this tenant
    again = await pool(stack).fetch(
        "SELECT asset_ids, cover_asset_id, reason FROM clustering.session_stacks WHERE tenant_id = $1", tenant
    )
    assert sorted(map(tuple, again)) == sorted(map(tuple, rows))
