"""Keepers (`GET /api/v1/assets?flag=pick`) page from the flags themselves (clustering migration 007:
each flags row keeps its asset's time, indexed in the gallery's order; the gateway joins the flags to the
assets and pages by that copy). Over the real stack: paging keepers newest first, a few at a time, gives every
keeper exactly once, in the gallery's order, after a flag, an unflag and a flag on an image whose session
was split off; with a search and a tool filter too; and clustering's copy of each time is the asset's.
In a workspace of 200,000 assets with 10,000 picks, the planner reads keepers from the new index."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.images import a1111_png
from tests.polling import until

pytestmark = pytest.mark.integration

T0 = datetime(2024, 9, 2, 10, 0, tzinfo=UTC)
# two sessions 5 h apart, 12 images a minute apart each; images 4 and 5 share a time (the tie goes to the id)
TIMES = [T0 + timedelta(minutes=i - (i == 5)) for i in range(12)] + [
    T0 + timedelta(hours=5, minutes=i) for i in range(12)
]
UNTIMED = 2


def _png(seed: int) -> bytes:
    return a1111_png(seed, "a quiet harbour")


async def _flag(client: httpx.AsyncClient, asset_id: str, flag: str | None) -> None:
    response = await client.put(f"/api/v1/assets/{asset_id}/flag", json={"flag": flag})
    assert response.status_code == 200, response.text


async def _walk(client: httpx.AsyncClient, limit: int, **query: Any) -> list[str]:
    """The ids of every row of the gallery, page by page, checking no page repeats a row."""
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": limit, **query} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/api/v1/assets", params=params)
        assert response.status_code == 200, response.text
        ids += [a["asset_id"] for a in response.json()]
        cursor = response.headers.get("x-next-cursor")
        if cursor is None:
            assert len(ids) == len(set(ids)), "a keeper came twice"
            return ids
    raise AssertionError("the cursor does not advance")


async def _check_keepers(client: httpx.AsyncClient, picks: set[str]) -> None:
    """Keepers, paged 1, 2 and 5 at a time, plain and with a search and a tool filter, are the gallery's
    order restricted to `picks`; and the count says how many."""
    whole = (await client.get("/api/v1/assets", params={"limit": 500, "include_rejected": "true"})).json()
    expected = [a["asset_id"] for a in whole if a["asset_id"] in picks]
    assert len(expected) == len(picks)
    for limit in (1, 2, 5):
        assert await _walk(client, limit, flag="pick") == expected, f"limit {limit}"
    # every image's prompt is "a quiet harbour": the search's order is the gallery's (one rank)
    assert await _walk(client, 2, flag="pick", q="harbour") == expected
    assert await _walk(client, 3, flag="pick", tool="a1111") == expected
    response = await client.get("/api/v1/assets", params={"flag": "pick", "limit": 1})
    assert response.headers["X-Total-Count"] == str(len(picks))


async def _flag_times_agree(pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    """clustering.asset_flags carries each flagged asset's generation time, as the gallery shows it."""
    whole = (await client.get("/api/v1/assets", params={"limit": 500, "include_rejected": "true"})).json()
    shown = {a["asset_id"]: a["generated_at"] for a in whole if a["flag"] is not None}
    rows = await pool.fetch(
        "SELECT asset_id, generated_at FROM clustering.asset_flags WHERE asset_id = ANY($1::uuid[])",
        [uuid.UUID(a) for a in shown],
    )
    kept = {str(r["asset_id"]): r["generated_at"] for r in rows}
    assert kept.keys() == shown.keys()
    for asset_id, at in shown.items():
        assert kept[asset_id] == (datetime.fromisoformat(at) if at is not None else None), asset_id


async def test_keepers_page_newest_first_through_flags_and_session_changes(stack, new_tenant) -> None:
    _, client = await new_tenant()
    # the images without a time first: clustering takes a workspace's imports in order (one partition),
    # so once the timed ones are in sessions it has these too, and their flags are not a 404
    files = [("files", (f"keep-untimed-{i}.png", _png(9200 + i), "image/png")) for i in range(UNTIMED)]
    response = await client.post("/api/v1/assets", files=files)
    assert [r["status"] for r in response.json()] == ["imported"] * UNTIMED, response.text
    files = [("files", (f"keep-{i}.png", _png(9100 + i), "image/png")) for i in range(len(TIMES))]
    form = {"last_modified": [str(int(t.timestamp() * 1000)) for t in TIMES]}
    response = await client.post("/api/v1/assets", files=files, data=form)
    assert [r["status"] for r in response.json()] == ["imported"] * len(TIMES), response.text

    async def sessions() -> list[dict[str, Any]] | None:
        cards = (await client.get("/api/v1/sessions")).json()
        return cards if sorted(c["asset_count"] for c in cards) == [12, 12] else None

    cards = await until(sessions, within=60.0)
    assert cards, "the two sessions never settled"
    whole = (await client.get("/api/v1/assets", params={"limit": 500})).json()
    by_name = {a["filename"]: a["asset_id"] for a in whole}
    timed = [by_name[f"keep-{i}.png"] for i in range(len(TIMES))]
    untimed = [by_name[f"keep-untimed-{i}.png"] for i in range(UNTIMED)]
    pool = stack["gateway"].pool

    # picks in both sessions, both of the tied pair, one image without a time; two rejects
    picks = {timed[i] for i in (0, 1, 4, 5, 8, 13, 14, 20, 23)} | {untimed[0]}
    for asset_id in picks:
        await _flag(client, asset_id, "pick")
    for i in (3, 15):
        await _flag(client, timed[i], "reject")
    await _check_keepers(client, picks)
    await _flag_times_agree(pool, client)

    # unflag one in the middle, turn a reject into a pick, re-flag a pick as a reject
    await _flag(client, timed[8], None)
    await _flag(client, timed[15], "pick")
    await _flag(client, timed[20], "reject")
    picks = (picks - {timed[8], timed[20]}) | {timed[15]}
    await _check_keepers(client, picks)

    # the first session split before image 6: images 0-5 go to a new session (the larger part keeps the
    # id); a pick there keeps its place, and an image of the moved part is picked after the move
    first = min(cards, key=lambda c: str(c["start"]))["id"]
    response = await client.post(f"/api/v1/sessions/{first}/split", json={"asset_id": timed[6]})
    assert response.status_code == 200, response.text

    async def moved() -> str | None:
        cards = (await client.get("/api/v1/sessions")).json()
        if sorted(c["asset_count"] for c in cards) != [6, 6, 12]:
            return None
        for card in cards:
            response = await client.get(
                f"/api/v1/sessions/{card['id']}/assets", params={"include_rejected": "true"}
            )
            if timed[2] in {a["asset_id"] for a in response.json()}:
                return str(card["id"])
        return None

    new_session = await until(moved)
    assert new_session, "the split never showed"
    await _flag(client, timed[2], "pick")
    picks |= {timed[2]}
    await _check_keepers(client, picks)
    in_new = await _walk(client, 2, flag="pick", session=new_session)
    assert in_new == [a for a in await _walk(client, 50, flag="pick") if a in {timed[i] for i in range(6)}]
    assert set(in_new) == {timed[i] for i in (0, 1, 2, 4, 5)}
    await _flag_times_agree(pool, client)


class _Recorder:
    """Stands in for the pool: notes the statements a repository function runs, answers nothing."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.statements.append((sql, args))
        return []


def _index_scans(node: dict[str, Any]) -> list[tuple[str, str]]:
    """(index, scan direction) of every index scan in a JSON plan."""
    found = [(node["Index Name"], node.get("Scan Direction", ""))] if "Index Name" in node else []
    for child in node.get("Plans", []):
        found += _index_scans(child)
    return found


async def test_the_planner_reads_keepers_from_the_flags_index(stack) -> None:
    """With the flags' time indexed, a page of keepers (alone, with a one-word search, with a tool) is a
    backward range of that index, each row then one probe of its asset: not a walk of the assets probing
    each for a pick, nor every pick joined and sorted. A workspace of 200,000 assets with 10,000 picks
    in runs (5 %), analyzed, inside a transaction rolled back at the end (the other tests' tables and
    statistics stay as they were)."""
    from services.gateway import repository
    from services.gateway.auth import AuthSubject
    from services.gateway.pagination import Cursor
    from services.gateway.repository import AssetFilter, FlagFilter

    tenant = uuid.uuid4()
    subject = AuthSubject(tenant_id=tenant, tenant_name="planner", time_zone="UTC")
    picks = FlagFilter(flag="pick")
    async with stack["gateway"].pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute(
                """
                INSERT INTO ingest.assets (asset_id, tenant_id, sha256, filename, source, size_bytes, tool, prompt,
                                           generated_at)
                SELECT md5('planner' || $1::text || i)::uuid, $1, md5('planner' || $1::text || i), i || '.png',
                       'upload', 1000, (ARRAY['comfyui', 'a1111', 'fooocus', 'midjourney', 'invokeai'])[1 + i % 5],
                       (ARRAY['a lighthouse at dusk', 'a fox in fog', 'a robot in the rain', 'a tram at dawn',
                              'an owl in winter', 'a koi pond, watercolor', 'a glacier at golden hour',
                              'a dragon under neon lights', 'a samurai, oil painting', 'a tea house in fog',
                              'an orchid, 35mm photo', 'a carousel at dusk'])[1 + (i / 40) % 12],
                       timestamptz '2026-01-01' + i * interval '45 seconds'
                FROM generate_series(1, 200000) i;
                INSERT INTO clustering.members (asset_id, tenant_id, session_id, generated_at, precision)
                SELECT asset_id, tenant_id, md5('session' || (i / 100))::uuid, generated_at, 'second'
                FROM (SELECT asset_id, tenant_id, generated_at, row_number() OVER (ORDER BY generated_at) AS i
                      FROM ingest.assets WHERE tenant_id = $1) a;
                -- runs of 5 picks every 100 images: keepers cluster where an idea worked
                INSERT INTO clustering.flags (tenant_id, asset_id, flag)
                SELECT tenant_id, asset_id, 'pick' FROM clustering.members
                WHERE tenant_id = $1 AND extract(epoch FROM generated_at)::bigint / 45 % 100 < 5;
                ANALYZE ingest.assets; ANALYZE clustering.members; ANALYZE clustering.flags;
                """.replace("$1", f"'{tenant}'::uuid"),
            )
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM clustering.asset_flags WHERE tenant_id = $1 AND generated_at IS NOT NULL",
                    tenant,
                )
                == 10_000
            )
            deep = Cursor("assets", datetime(2026, 2, 1, tzinfo=UTC), uuid.UUID(int=0))
            cases = [
                ("keepers", AssetFilter(flags=picks), None),
                ("keepers, a deep page", AssetFilter(flags=picks), deep),
                ("keepers + search", AssetFilter(q="lighthouse", flags=picks), None),
                ("keepers + tool", AssetFilter(tool="comfyui", flags=picks), None),
            ]
            for name, filters, after in cases:
                recorder = _Recorder()
                await repository.assets(recorder, subject, limit=101, filters=filters, after=after)  # type: ignore[arg-type]
                sql, args = recorder.statements[0]
                plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
                root = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
                scans = _index_scans(root)
                assert ("flags_tenant_flag_time_id", "Backward") in scans, (name, scans)
                assert root["Plan Rows"] <= 101 and root["Node Type"] == "Limit", (name, root["Node Type"])
        finally:
            await transaction.rollback()
