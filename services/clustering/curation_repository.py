"""SQL for curation (migration 006_curation.sql): lineage facts, keys and edges, stacks, stack edits,
flags. Every statement names its tenant. Callers hold the tenant's row lock (`repository.lock_tenant`),
so one tenant's curation changes one transaction at a time, in the order its sessions change."""

from __future__ import annotations

import json
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import asyncpg

from libs.lineage.facts import Edge, Flag, Generation, LineageFacts
from libs.lineage.stacks import StackEdits

BIGINT_MAX = 2**63 - 1


@dataclass(frozen=True)
class StoredStack:
    """One row of `clustering.stacks`, as compared to decide what a recompute changed."""

    stack_id: uuid.UUID
    session_id: uuid.UUID
    cover_asset_id: uuid.UUID
    asset_ids: tuple[uuid.UUID, ...]
    manual: bool
    reason: str
    first_at: datetime


@dataclass(frozen=True)
class KeyWanted:
    """Assets holding `key` may be relatives of the batch's asset number `index`. For a perceptual-hash
    band (`phash` set), only holders whose whole hash is within `max_distance` bits of it (a band is
    shared by chance, the whole hash by none but the same picture); for a similarity key (a prompt, seed
    or word: inferred relatives are near in time), only holders generated between `not_before` and
    `not_after`."""

    index: int
    key: str
    phash: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None


def _seed_column(seed: int | None) -> int | None:
    return seed if seed is not None and -BIGINT_MAX - 1 <= seed <= BIGINT_MAX else None


def _facts(value: Any) -> LineageFacts:
    if value is None:
        return LineageFacts()
    if isinstance(value, str):
        return _facts_of_text(value)
    return LineageFacts.model_validate(value)


@lru_cache(maxsize=16384)
def _facts_of_text(text: str) -> LineageFacts:
    # cached: a stored asset's facts are read again for every later batch it is a relative in, and for
    # every recompute of its session's stacks (LineageFacts is frozen, so one copy can be shared)
    return LineageFacts.model_validate(json.loads(text))


async def insert_facts(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, gens: Sequence[Generation]
) -> set[uuid.UUID]:
    """Store each asset's facts once; returns the assets stored now (a redelivered or repeated asset is not)."""
    if not gens:
        return set()
    rows = await conn.fetch(
        """
        INSERT INTO clustering.asset_facts (asset_id, tenant_id, generated_at, tool, prompt, model, width, height,
            negative_prompt, loras, seed, sampler, steps, cfg, facts)
        SELECT f.asset_id, $1, f.generated_at, f.tool, f.prompt, f.model, f.width, f.height, f.negative_prompt,
               ARRAY(SELECT jsonb_array_elements_text(f.loras::jsonb)), f.seed, f.sampler, f.steps, f.cfg,
               f.facts::jsonb
        FROM unnest($2::uuid[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::int[], $8::int[],
                    $9::text[], $10::text[], $11::bigint[], $12::text[], $13::int[], $14::real[], $15::text[])
            AS f(asset_id, generated_at, tool, prompt, model, width, height, negative_prompt, loras, seed, sampler,
                 steps, cfg, facts)
        ON CONFLICT (asset_id) DO NOTHING
        RETURNING asset_id
        """,
        tenant_id,
        [uuid.UUID(g.asset_id) for g in gens],
        [g.generated_at for g in gens],
        [g.tool for g in gens],
        [g.prompt for g in gens],
        [g.model for g in gens],
        [g.width for g in gens],
        [g.height for g in gens],
        [g.facts.negative_prompt for g in gens],
        # JSON text: asyncpg would read a list of lists as a two-dimensional array
        [json.dumps(list(g.facts.loras)) for g in gens],
        [_seed_column(g.facts.seed) for g in gens],
        [g.facts.sampler for g in gens],
        [g.facts.steps for g in gens],
        [g.facts.cfg for g in gens],
        [g.facts.model_dump_json() for g in gens],
    )
    return {r["asset_id"] for r in rows}


async def insert_keys(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    index_keys: Iterable[tuple[str, uuid.UUID, datetime | None]],
    reference_keys: Iterable[tuple[str, uuid.UUID]],
) -> None:
    """(key, asset_id, generated_at) an asset is stored under; (key, asset_id) its references name."""
    held = sorted(set(index_keys), key=lambda r: (r[0], r[1]))
    if held:
        await conn.execute(
            """
            INSERT INTO clustering.lineage_keys (tenant_id, key, asset_id, generated_at)
            SELECT $1, k, a, t FROM unnest($2::text[], $3::uuid[], $4::timestamptz[]) AS r(k, a, t)
            ON CONFLICT DO NOTHING
            """,
            tenant_id, [k for k, _, _ in held], [a for _, a, _ in held], [t for _, _, t in held],
        )  # fmt: skip
    named = sorted(set(reference_keys))
    if named:
        await conn.execute(
            """
            INSERT INTO clustering.lineage_references (tenant_id, key, asset_id)
            SELECT $1, k, a FROM unnest($2::text[], $3::uuid[]) AS r(k, a)
            ON CONFLICT DO NOTHING
            """,
            tenant_id, [k for k, _ in named], [a for _, a in named],
        )  # fmt: skip


async def candidates(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    held: Sequence[KeyWanted],
    referencing: Sequence[tuple[int, str]],
    *,
    limit_per_key: int,
    max_distance: int,
) -> dict[int, set[uuid.UUID]]:
    """For each batch index, the stored assets that may be its relatives: holders of one of its lookup keys
    (the latest `limit_per_key` of each key at most) and assets whose references name one of its own keys
    (its children imported before it).

    Batch-mates share most keys (the same prompt, seed or words in the same time bucket), so a key
    without a pHash filter is read once for the whole batch, over the span of every asset's window, and
    each asset's window is cut from that in Python; a key whose span holds too many holders to read
    whole is asked per asset, as pHash bands are."""
    found: dict[int, set[uuid.UUID]] = {}
    by_key: dict[str, list[KeyWanted]] = {}
    per_asset: list[KeyWanted] = []
    for w in held:
        if w.phash is None:
            by_key.setdefault(w.key, []).append(w)
        else:
            per_asset.append(w)
    if by_key:
        keys = sorted(by_key)
        spans = [_span(by_key[k]) for k in keys]
        span_limit = 2 * limit_per_key
        rows = await conn.fetch(
            """
            SELECT w.key, h.asset_id, h.generated_at
            FROM unnest($2::text[], $3::timestamptz[], $4::timestamptz[]) AS w(key, lo, hi)
            CROSS JOIN LATERAL (
                SELECT k.asset_id, k.generated_at FROM clustering.lineage_keys k
                WHERE k.tenant_id = $1 AND k.key = w.key AND (w.lo IS NULL OR k.generated_at BETWEEN w.lo AND w.hi)
                ORDER BY k.generated_at DESC NULLS LAST
                LIMIT $5
            ) h
            """,
            tenant_id, keys, [lo for lo, _ in spans], [hi for _, hi in spans], span_limit,
        )  # fmt: skip
        holders: dict[str, list[tuple[uuid.UUID, datetime | None]]] = {}
        for r in rows:
            holders.setdefault(r["key"], []).append((r["asset_id"], r["generated_at"]))
        for key in keys:
            got = holders.get(key, [])
            if len(got) >= span_limit:  # maybe cut short: each asset's window asked on its own
                per_asset += by_key[key]
                continue
            timed = sorted((at, a) for a, at in got if at is not None)
            times = [at for at, _ in timed]
            untimed = [a for a, at in got if at is None]
            for w in by_key[key]:
                inside = latest_within(timed, times, untimed, w, limit_per_key)
                if inside:
                    found.setdefault(w.index, set()).update(inside)
    if per_asset:
        rows = await conn.fetch(
            """
            SELECT w.i, h.asset_id
            FROM unnest($2::int[], $3::text[], $4::text[], $7::timestamptz[], $8::timestamptz[])
                AS w(i, key, phash, lo, hi)
            CROSS JOIN LATERAL (
                SELECT k.asset_id FROM clustering.lineage_keys k
                WHERE k.tenant_id = $1 AND k.key = w.key
                  AND (w.lo IS NULL OR k.generated_at BETWEEN w.lo AND w.hi)
                  AND (w.phash IS NULL OR EXISTS (
                      SELECT 1 FROM clustering.asset_facts f
                      WHERE f.asset_id = k.asset_id
                        AND CASE WHEN f.facts->>'phash' ~ '^[0-9a-fA-F]{16}$'
                            THEN bit_count(('x' || (f.facts->>'phash'))::bit(64) # ('x' || w.phash)::bit(64)) <= $5
                            ELSE false END))
                ORDER BY k.generated_at DESC NULLS LAST
                LIMIT $6
            ) h
            """,
            tenant_id,
            [w.index for w in per_asset],
            [w.key for w in per_asset],
            [w.phash for w in per_asset],
            max_distance,
            limit_per_key,
            [w.not_before for w in per_asset],
            [w.not_after for w in per_asset],
        )
        for r in rows:
            found.setdefault(r["i"], set()).add(r["asset_id"])
    if referencing:
        rows = await conn.fetch(
            """
            SELECT w.i, r.asset_id
            FROM unnest($2::int[], $3::text[]) AS w(i, key)
            JOIN clustering.lineage_references r ON r.tenant_id = $1 AND r.key = w.key
            """,
            tenant_id, [i for i, _ in referencing], [k for _, k in referencing],
        )  # fmt: skip
        for r in rows:
            found.setdefault(r["i"], set()).add(r["asset_id"])
    return found


def latest_within(
    timed: Sequence[tuple[datetime, uuid.UUID]],
    times: Sequence[datetime],
    untimed: Sequence[uuid.UUID],
    wanted: KeyWanted,
    limit: int,
) -> list[uuid.UUID]:
    """The holders of a key inside `wanted`'s window, the latest `limit` of them, as the per-asset query
    gives them (`ORDER BY generated_at DESC NULLS LAST LIMIT`): `timed` are (time, asset) in time order,
    `times` their times, `untimed` the holders without a time (only an unbounded window takes them)."""
    if wanted.not_before is None or wanted.not_after is None:
        inside = [a for _, a in reversed(timed)] + list(untimed)
    else:
        window = timed[bisect_left(times, wanted.not_before) : bisect_right(times, wanted.not_after)]
        inside = [a for _, a in reversed(window)]
    return inside[:limit]


def _span(wanted: Sequence[KeyWanted]) -> tuple[datetime | None, datetime | None]:
    """The window covering every asset's window of one key (unbounded when one of them is)."""
    if any(w.not_before is None or w.not_after is None for w in wanted):
        return None, None
    return min(w.not_before for w in wanted if w.not_before), max(w.not_after for w in wanted if w.not_after)


def _generation(r: asyncpg.Record) -> Generation:
    return Generation(
        asset_id=str(r["asset_id"]),
        generated_at=r["generated_at"],
        tool=r["tool"],
        prompt=r["prompt"],
        model=r["model"],
        width=r["width"],
        height=r["height"],
        facts=_facts(r["facts"]),
    )


async def generations(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, asset_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Generation]:
    """The stored assets' facts, as the rules see them."""
    ids = list(set(asset_ids))
    if not ids:
        return {}
    rows = await conn.fetch(
        "SELECT asset_id, generated_at, tool, prompt, model, width, height, facts FROM clustering.asset_facts "
        "WHERE tenant_id = $1 AND asset_id = ANY($2::uuid[])",
        tenant_id, ids,
    )  # fmt: skip
    return {r["asset_id"]: _generation(r) for r in rows}


async def session_generations(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Generation]]:
    """Each session's members in generation order, with their facts (members imported before curation
    existed have none: empty facts, their prompt, tool and model from the members table)."""
    rows = await conn.fetch(
        """
        SELECT m.session_id, m.asset_id, m.generated_at, m.tool, m.prompt, m.model, f.width, f.height, f.facts
        FROM clustering.members m
        LEFT JOIN clustering.asset_facts f ON f.asset_id = m.asset_id AND f.tenant_id = m.tenant_id
        WHERE m.tenant_id = $1 AND m.session_id = ANY($2::uuid[])
        ORDER BY m.session_id, m.generated_at, m.asset_id
        """,
        tenant_id,
        list(session_ids),
    )
    by_session: dict[uuid.UUID, list[Generation]] = {s: [] for s in session_ids}
    for r in rows:
        by_session[r["session_id"]].append(_generation(r))
    return by_session


def _edge(r: asyncpg.Record) -> Edge:
    return Edge(
        parent_id=str(r["parent_id"]),
        child_id=str(r["child_id"]),
        relation=r["relation"],
        rule=r["rule"],
        evidence=r["evidence"],
        confidence=float(r["confidence"]),
        explicit=r["explicit"],
    )


async def edges_touching(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, asset_ids: Iterable[uuid.UUID]
) -> list[Edge]:
    ids = list(set(asset_ids))
    if not ids:
        return []
    rows = await conn.fetch(
        """
        SELECT parent_id, child_id, relation, rule, evidence, confidence, explicit FROM clustering.lineage_edges
        WHERE tenant_id = $1 AND parent_id = ANY($2::uuid[])
        UNION
        SELECT parent_id, child_id, relation, rule, evidence, confidence, explicit FROM clustering.lineage_edges
        WHERE tenant_id = $1 AND child_id = ANY($2::uuid[])
        """,
        tenant_id,
        ids,
    )
    return [_edge(r) for r in rows]


async def session_edges(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Edge]]:
    """Each session's edges with both ends in it (a stack never spans two sessions)."""
    rows = await conn.fetch(
        """
        SELECT c.session_id, e.parent_id, e.child_id, e.relation, e.rule, e.evidence, e.confidence, e.explicit
        FROM clustering.members c
        JOIN clustering.lineage_edges e ON e.tenant_id = c.tenant_id AND e.child_id = c.asset_id
        JOIN clustering.members p ON p.asset_id = e.parent_id AND p.tenant_id = c.tenant_id
                                  AND p.session_id = c.session_id
        WHERE c.tenant_id = $1 AND c.session_id = ANY($2::uuid[])
        """,
        tenant_id,
        list(session_ids),
    )
    by_session: dict[uuid.UUID, list[Edge]] = {s: [] for s in session_ids}
    for r in rows:
        by_session[r["session_id"]].append(_edge(r))
    return by_session


async def apply_edges(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, added: Sequence[Edge], removed: Sequence[Edge]
) -> None:
    if removed:
        await conn.execute(
            """
            DELETE FROM clustering.lineage_edges e USING unnest($2::uuid[], $3::uuid[]) AS r(p, c)
            WHERE e.tenant_id = $1 AND e.parent_id = r.p AND e.child_id = r.c
            """,
            tenant_id,
            [uuid.UUID(e.parent_id) for e in removed],
            [uuid.UUID(e.child_id) for e in removed],
        )
    if added:
        await conn.execute(
            """
            INSERT INTO clustering.lineage_edges
                (tenant_id, parent_id, child_id, relation, rule, evidence, confidence, explicit)
            SELECT $1, p, c, rel, rule, ev, conf, ex
            FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::real[], $8::bool[])
                AS a(p, c, rel, rule, ev, conf, ex)
            ON CONFLICT (tenant_id, parent_id, child_id) DO UPDATE SET relation = EXCLUDED.relation,
                rule = EXCLUDED.rule, evidence = EXCLUDED.evidence, confidence = EXCLUDED.confidence,
                explicit = EXCLUDED.explicit
            """,
            tenant_id,
            [uuid.UUID(e.parent_id) for e in added],
            [uuid.UUID(e.child_id) for e in added],
            [e.relation for e in added],
            [e.rule for e in added],
            [e.evidence for e in added],
            [e.confidence for e in added],
            [e.explicit for e in added],
        )


async def sessions_of(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, asset_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """asset -> its session, for the assets that are in one."""
    ids = list(set(asset_ids))
    if not ids:
        return {}
    rows = await conn.fetch(
        "SELECT asset_id, session_id FROM clustering.members "
        "WHERE tenant_id = $1 AND asset_id = ANY($2::uuid[]) AND session_id IS NOT NULL",
        tenant_id, ids,
    )  # fmt: skip
    return {r["asset_id"]: r["session_id"] for r in rows}


async def live_session(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, session_id: uuid.UUID
) -> uuid.UUID | None:
    """The live session an id stands for (following a merge), or None when the tenant has no such session."""
    row = await conn.fetchrow(
        "SELECT coalesce(merged_into, session_id) AS live FROM clustering.sessions "
        "WHERE tenant_id = $1 AND session_id = $2",
        tenant_id, session_id,
    )  # fmt: skip
    return None if row is None else row["live"]


async def asset_known(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, asset_id: uuid.UUID
) -> tuple[bool, uuid.UUID | None]:
    """Whether clustering knows the tenant's asset, and its session if it has one."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT session_id FROM clustering.members WHERE tenant_id = $1 AND asset_id = $2) AS session_id,
               EXISTS (SELECT 1 FROM clustering.members WHERE tenant_id = $1 AND asset_id = $2)
               OR EXISTS (SELECT 1 FROM clustering.asset_facts WHERE tenant_id = $1 AND asset_id = $2) AS known
        """,
        tenant_id,
        asset_id,
    )
    assert row is not None
    return row["known"], row["session_id"]


async def load_stack_edits(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> StackEdits:
    row = await conn.fetchrow(
        "SELECT stack_detached, stack_groups FROM clustering.tenant_state WHERE tenant_id = $1", tenant_id
    )
    if row is None:
        return StackEdits(detached=frozenset(), groups=())
    groups = row["stack_groups"]
    if isinstance(groups, str):
        groups = json.loads(groups)
    return StackEdits(detached=frozenset(row["stack_detached"]), groups=tuple(frozenset(g) for g in groups))


async def save_stack_edits(conn: asyncpg.Connection, tenant_id: uuid.UUID, edits: StackEdits) -> None:
    await conn.execute(
        "UPDATE clustering.tenant_state SET stack_detached = $2, stack_groups = $3 WHERE tenant_id = $1",
        tenant_id, sorted(edits.detached), [sorted(g) for g in edits.groups],
    )  # fmt: skip


async def flags_of(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, asset_ids: Iterable[uuid.UUID]
) -> dict[str, Flag]:
    ids = list(set(asset_ids))
    if not ids:
        return {}
    rows = await conn.fetch(
        "SELECT asset_id, flag FROM clustering.flags WHERE tenant_id = $1 AND asset_id = ANY($2::uuid[])",
        tenant_id, ids,
    )  # fmt: skip
    return {str(r["asset_id"]): r["flag"] for r in rows}


async def set_flag(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, asset_id: uuid.UUID, flag: Flag | None
) -> bool:
    """Store the person's flag (None removes it); returns whether anything changed. The row's
    `generated_at` (the gallery pages keepers by it) is the member's, set by migration 007's triggers."""
    if flag is None:
        status = await conn.execute(
            "DELETE FROM clustering.flags WHERE tenant_id = $1 AND asset_id = $2", tenant_id, asset_id
        )
        return status != "DELETE 0"
    status = await conn.execute(
        """
        INSERT INTO clustering.flags (tenant_id, asset_id, flag) VALUES ($1, $2, $3)
        ON CONFLICT (tenant_id, asset_id) DO UPDATE SET flag = EXCLUDED.flag, updated_at = now()
            WHERE flags.flag IS DISTINCT FROM EXCLUDED.flag
        """,
        tenant_id, asset_id, flag,
    )  # fmt: skip
    return status != "INSERT 0 0"


def _stored(r: asyncpg.Record) -> StoredStack:
    return StoredStack(
        stack_id=r["stack_id"],
        session_id=r["session_id"],
        cover_asset_id=r["cover_asset_id"],
        asset_ids=tuple(r["asset_ids"]),
        manual=r["manual"],
        reason=r["reason"],
        first_at=r["first_at"],
    )


_STACK_COLUMNS = "stack_id, session_id, cover_asset_id, asset_ids, manual, reason, first_at"


async def stored_stacks(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, StoredStack]:
    rows = await conn.fetch(
        f"SELECT {_STACK_COLUMNS} FROM clustering.stacks WHERE tenant_id = $1 AND session_id = ANY($2::uuid[])",
        tenant_id, list(session_ids),
    )  # fmt: skip
    return {r["stack_id"]: _stored(r) for r in rows}


async def stored_stack(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, session_id: uuid.UUID, stack_id: uuid.UUID
) -> StoredStack | None:
    row = await conn.fetchrow(
        f"SELECT {_STACK_COLUMNS} FROM clustering.stacks WHERE tenant_id = $1 AND session_id = $2 AND stack_id = $3",
        tenant_id, session_id, stack_id,
    )  # fmt: skip
    return None if row is None else _stored(row)


async def session_stack_ids(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, session_id: uuid.UUID
) -> list[uuid.UUID]:
    """The session's stacks in time order (as the gateway lists them)."""
    rows = await conn.fetch(
        "SELECT stack_id FROM clustering.stacks WHERE tenant_id = $1 AND session_id = $2 ORDER BY first_at, stack_id",
        tenant_id, session_id,
    )  # fmt: skip
    return [r["stack_id"] for r in rows]


async def write_stacks(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, gone: Iterable[uuid.UUID], changed: Sequence[StoredStack]
) -> None:
    """Delete the stacks that are gone, then write the new and changed ones (a stack id may move to
    another session, when the asset it is named after did)."""
    gone_ids = list(set(gone))
    if gone_ids:
        await conn.execute(
            "DELETE FROM clustering.stacks WHERE tenant_id = $1 AND stack_id = ANY($2::uuid[])",
            tenant_id,
            gone_ids,
        )
    if not changed:
        return
    # one statement for all rows; each member list travels as text ('{...}'): asyncpg would read a list
    # of lists as a two-dimensional array
    await conn.execute(
        """
        INSERT INTO clustering.stacks
            (tenant_id, stack_id, session_id, cover_asset_id, asset_ids, manual, reason, first_at)
        SELECT $1, s.stack_id, s.session_id, s.cover, s.members::uuid[], s.manual, s.reason, s.first_at
        FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::bool[], $7::text[], $8::timestamptz[])
            AS s(stack_id, session_id, cover, members, manual, reason, first_at)
        ON CONFLICT (tenant_id, stack_id) DO UPDATE SET session_id = EXCLUDED.session_id,
            cover_asset_id = EXCLUDED.cover_asset_id, asset_ids = EXCLUDED.asset_ids, manual = EXCLUDED.manual,
            reason = EXCLUDED.reason, first_at = EXCLUDED.first_at, updated_at = now()
        """,
        tenant_id,
        [s.stack_id for s in changed],
        [s.session_id for s in changed],
        [s.cover_asset_id for s in changed],
        ["{" + ",".join(str(a) for a in s.asset_ids) + "}" for s in changed],
        [s.manual for s in changed],
        [s.reason for s in changed],
        [s.first_at for s in changed],
    )


async def drop_session_stacks(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, session_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """Remove the stacks of sessions that are gone (merged away); returns their ids."""
    if not session_ids:
        return []
    rows = await conn.fetch(
        "DELETE FROM clustering.stacks WHERE tenant_id = $1 AND session_id = ANY($2::uuid[]) RETURNING stack_id",
        tenant_id, list(session_ids),
    )  # fmt: skip
    return [r["stack_id"] for r in rows]


def flags_in(flags: Mapping[str, Flag], asset_ids: Iterable[str]) -> dict[str, Flag]:
    return {a: flags[a] for a in asset_ids if a in flags}
