"""Curation in clustering: lineage edges, stacks of variations, the person's stack edits and flags.

The rules are pure (libs/lineage); this module feeds them from the clustering schema and writes what
they decide, inside the transaction that changes the tenant's sessions (`handlers.edit_timeline`) or
that applies a person's edit (`curation_endpoints`), with the events in the same outbox:
- an imported asset's facts and keys are stored once (a redelivered or repeated asset links nothing);
  its plausible relatives are fetched by key (`lookup_keys`, plus assets whose references name one of
  its keys: a parent arriving after its child), `link` decides, and the edges are written. A batch is
  linked one asset at a time, so batch-mates see each other as if they had come one by one;
- the stacks of every session whose members, edges, flags or stack edits changed are recomputed from
  scratch with `stack_session` and only the difference is written; `stack.updated` names the stacks
  made, changed or gone. A stack never spans two sessions: each is computed from one session's members
  and the edges between them;
- stack edits are kept per tenant and flags per asset, and fed to every recompute, so the person's
  word outlives later imports (a re-import of the same file is dropped by ingest as a duplicate).
Every caller holds the tenant's row lock (`repository.lock_tenant`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import asyncpg
from prometheus_client import Counter

from libs.common.events import (
    AssetImported,
    Event,
    LineageLinked,
    LinkedEdge,
    SessionMerged,
    SessionUpdated,
    StackUpdated,
)
from libs.common.outbox import add_to_outbox
from libs.lineage import stacks as stack_rules
from libs.lineage.facts import Edge, Flag, Generation, LineageFacts, Stack
from libs.lineage.linking import NEAR, PHASH_SAME, index_keys, link, lookup_keys
from libs.lineage.stacks import StackEdits, stack_session
from services.clustering import curation_repository as store
from services.clustering import repository
from services.clustering.curation_repository import KeyWanted, StoredStack
from services.clustering.settings import ClusteringSettings

EDGES_LINKED = Counter(
    "atelier_clustering_lineage_edges_total",
    "Lineage edges added, by relation and whether a file proves them (explicit) or the rules inferred them",
    ["relation", "explicit"],
)
EDGES_REPLACED = Counter(
    "atelier_clustering_lineage_edges_removed_total",
    "Lineage edges removed because a better parent arrived, by relation",
    ["relation"],
)
STACKS_RECOMPUTED = Counter(
    "atelier_clustering_stack_recomputes_total",
    "Sessions whose stacks were recomputed, by what triggered it",
    ["trigger"],
)
STACKS_CHANGED = Counter(
    "atelier_clustering_stacks_changed_total", "Stacks made, changed or gone after a recompute", ["trigger"]
)
FLAGS_SET = Counter("atelier_clustering_flags_set_total", "Flags set by people (none: cleared)", ["flag"])

Trigger = Literal["import", "session_edit", "stack_edit", "flag", "backfill"]

# the latest holders of one key fetched for a new asset: a key is a prompt, seed or word within a
# 6-hour bucket, or a perceptual-hash band (pre-filtered to the same picture), so this bounds a
# pathological workspace, not a normal one
LIMIT_PER_KEY = 2000
# lineage.linked carries at most this many edges per event (events stay small)
EDGES_PER_EVENT = 200


_enabled: bool | None = None


def curation_enabled() -> bool:
    """`ATELIER_CURATION` (ClusteringSettings.curation), read once per process."""
    global _enabled
    if _enabled is None:
        _enabled = ClusteringSettings().curation
    return _enabled


def set_curation_enabled(value: bool | None) -> None:
    """Turn curation of imports and session edits on or off in this process (None: read the setting
    again). For benchmarks comparing the pipeline with and without it in one run."""
    global _enabled
    _enabled = value


class CurationRefused(Exception):
    """An edit that cannot be made; the endpoint answers with its status and reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass
class Linked:
    added: list[Edge] = field(default_factory=list)
    removed: list[Edge] = field(default_factory=list)


def generation_of(p: AssetImported) -> Generation:
    return Generation(
        asset_id=str(p.asset_id),
        generated_at=p.generated_at,
        tool=p.tool,
        prompt=p.prompt,
        model=p.model,
        width=p.width,
        height=p.height,
        facts=p.lineage or LineageFacts(),
    )


def _is_phash_band(key: str) -> bool:
    """libs.lineage.linking names pHash bands "ph<band>:<hex value>"."""
    head, _, _ = key.partition(":")
    return head.startswith("ph") and head[2:].isdigit()


def _time_bounded(g: Generation, keys: Iterable[str]) -> set[str]:
    """The lookup keys whose holders are relatives only when within NEAR of g (prompt, seed, word keys:
    the inferred rules): not the keys g's references name, not pHash bands (a copy may come any time)."""
    named = {r.key for r in g.facts.references}
    return {k for k in keys if k not in named and not _is_phash_band(k)}


def _near(a: Generation, b: Generation) -> bool:
    return (
        a.generated_at is not None
        and b.generated_at is not None
        and abs(a.generated_at - b.generated_at) <= NEAR
    )


def _pair(e: Edge) -> tuple[str, str]:
    return (e.parent_id, e.child_id)


def link_batch(
    gens: Sequence[Generation],
    stored: Mapping[str, Generation],
    relatives: Mapping[int, Sequence[str]],
    existing: Sequence[Edge],
    *,
    lookups: Sequence[Iterable[str]] | None = None,
    indexed: Sequence[Iterable[str]] | None = None,
    bounded: Sequence[set[str]] | None = None,
) -> Linked:
    """Link a batch one asset at a time, as if they had arrived one by one: asset i is linked to its
    stored relatives (`relatives[i]`, ids in `stored`, fetched by key) and to the batch-mates before it
    that the same keys would have fetched. `existing` are the stored edges touching the stored
    relatives. `lookups` / `indexed`: each asset's `lookup_keys` / `index_keys`, when the caller has
    them already (`bounded`: each asset's `_time_bounded` lookup keys). Returns the net change to the
    stored edges."""
    lookups = lookups if lookups is not None else [lookup_keys(g) for g in gens]
    indexed = indexed if indexed is not None else [index_keys(g) for g in gens]
    bounded = bounded if bounded is not None else [_time_bounded(g, lookups[i]) for i, g in enumerate(gens)]
    holders: dict[str, list[int]] = {}  # batch-mates by the keys they are stored under ...
    naming: dict[str, list[int]] = {}  # ... and by the keys their references name
    before = {_pair(e): e for e in existing}
    edges = dict(before)
    by_asset: dict[str, set[tuple[str, str]]] = {}
    for pair in edges:
        for end in pair:
            by_asset.setdefault(end, set()).add(pair)

    for i, g in enumerate(gens):
        others = [stored[a] for a in relatives.get(i, ()) if a in stored]
        # the batch-mates before it that storage would have given, had they come in earlier batches
        # the holders of an unbounded key all count; those of a similarity key only within NEAR (each
        # batch-mate checked once, though it holds several of the keys)
        mates: set[int] = set()
        near_only: set[int] = set()
        for key in lookups[i]:
            found = holders.get(key)
            if found:
                (near_only if key in bounded[i] else mates).update(found)
        mates |= {j for j in near_only - mates if _near(g, gens[j])}
        for key in g.facts.keys:
            mates.update(naming.get(key, ()))
        others += [gens[j] for j in sorted(mates)]
        current = {p for o in others for p in by_asset.get(o.asset_id, ())} | by_asset.get(g.asset_id, set())
        change = link(g, others, [edges[p] for p in sorted(current)])
        for e in change.removed:
            pair = _pair(e)
            edges.pop(pair, None)
            for end in pair:
                by_asset.get(end, set()).discard(pair)
        for e in change.added:
            pair = _pair(e)
            edges[pair] = e
            for end in pair:
                by_asset.setdefault(end, set()).add(pair)
        for key in indexed[i]:
            holders.setdefault(key, []).append(i)
        for r in g.facts.references:
            naming.setdefault(r.key, []).append(i)
    return Linked(
        added=[e for pair, e in sorted(edges.items()) if before.get(pair) != e],
        removed=[e for pair, e in sorted(before.items()) if pair not in edges],
    )


async def link_imports(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, imported: Sequence[AssetImported]
) -> Linked:
    """Store the imported assets' facts and keys and link each to its relatives; returns the net edge change."""
    gens = list({str(p.asset_id): generation_of(p) for p in imported}.values())
    stored_now = await store.insert_facts(conn, tenant_id, gens)
    gens = [g for g in gens if uuid.UUID(g.asset_id) in stored_now]
    if not gens:
        return Linked()
    lookups = [set(lookup_keys(g)) for g in gens]
    indexed = [set(index_keys(g)) for g in gens]
    bounded_keys = [_time_bounded(g, lookups[i]) for i, g in enumerate(gens)]
    wanted = []
    for i, g in enumerate(gens):
        at = g.generated_at
        bounded = bounded_keys[i] if at is not None else set()
        lo, hi = (at - NEAR, at + NEAR) if at is not None else (None, None)
        phash = g.facts.phash
        for key in sorted(lookups[i]):
            near = key in bounded
            wanted.append(
                KeyWanted(
                    i,
                    key,
                    phash=phash if phash is not None and _is_phash_band(key) else None,
                    not_before=lo if near else None,
                    not_after=hi if near else None,
                )
            )
    referencing = [(i, key) for i, g in enumerate(gens) for key in g.facts.keys]
    found = await store.candidates(
        conn, tenant_id, wanted, referencing, limit_per_key=LIMIT_PER_KEY, max_distance=PHASH_SAME
    )
    batch_ids = {uuid.UUID(g.asset_id) for g in gens}
    stored_ids = {a for ids in found.values() for a in ids} - batch_ids
    stored = await store.generations(conn, tenant_id, stored_ids)
    existing = await store.edges_touching(conn, tenant_id, stored_ids)
    # in id order (a UUID's text sorts as its number does, and much faster)
    relatives = {i: sorted(str(a) for a in ids if a in stored) for i, ids in found.items()}
    linked = link_batch(
        gens,
        {g.asset_id: g for g in stored.values()},
        relatives,
        existing,
        lookups=lookups,
        indexed=indexed,
        bounded=bounded_keys,
    )
    await store.insert_keys(
        conn,
        tenant_id,
        [(key, uuid.UUID(g.asset_id), g.generated_at) for i, g in enumerate(gens) for key in indexed[i]],
        [(r.key, uuid.UUID(g.asset_id)) for g in gens for r in g.facts.references],
    )
    await store.apply_edges(conn, tenant_id, linked.added, linked.removed)
    for e in linked.added:
        EDGES_LINKED.labels(e.relation, str(e.explicit).lower()).inc()
    for e in linked.removed:
        EDGES_REPLACED.labels(e.relation).inc()
    return linked


def _linked_events(linked: Linked, tenant_id: uuid.UUID, correlation_id: uuid.UUID | None) -> list[Event]:
    def wire(e: Edge) -> LinkedEdge:
        return LinkedEdge(
            parent_id=uuid.UUID(e.parent_id),
            child_id=uuid.UUID(e.child_id),
            relation=e.relation,
            confidence=min(1.0, max(0.0, e.confidence)),
        )

    events = []
    for start in range(0, max(len(linked.added), len(linked.removed)), EDGES_PER_EVENT):
        added = linked.added[start : start + EDGES_PER_EVENT]
        removed = linked.removed[start : start + EDGES_PER_EVENT]
        payload = LineageLinked(edges=[wire(e) for e in added], removed=[wire(e) for e in removed])
        events.append(Event.of(payload, tenant_id=tenant_id, correlation_id=correlation_id))
    return events


def edits_within(edits: StackEdits, asset_ids: set[str]) -> StackEdits:
    """The tenant's stack edits as they bear on one session: hand stacks keep their members in it (a
    stack never spans two sessions), and one left with a single member there stacks nothing."""
    groups = tuple(g & asset_ids for g in edits.groups if len(g & asset_ids) >= 2)
    return StackEdits(detached=edits.detached & asset_ids, groups=groups)


def _stack_uuid(session_id: uuid.UUID, stack_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(stack_id)
    except ValueError:
        return uuid.uuid5(session_id, stack_id)


async def restack(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    session_ids: Iterable[uuid.UUID],
    *,
    trigger: Trigger,
    gone_sessions: Iterable[uuid.UUID] = (),
    correlation_id: uuid.UUID | None = None,
) -> list[Event]:
    """Recompute the stacks of `session_ids` (and drop those of sessions merged away), write the
    difference, and return `stack.updated` per session whose stacks changed."""
    sessions = sorted(set(session_ids))
    dropped = await store.drop_session_stacks(conn, tenant_id, sorted(set(gone_sessions) - set(sessions)))
    if not sessions:
        STACKS_CHANGED.labels(trigger).inc(len(dropped))
        return []
    members = await store.session_generations(conn, tenant_id, sessions)
    edges = await store.session_edges(conn, tenant_id, sessions)
    edits = await store.load_stack_edits(conn, tenant_id)
    flags = await store.flags_of(
        conn, tenant_id, (uuid.UUID(g.asset_id) for gs in members.values() for g in gs)
    )
    old = await store.stored_stacks(conn, tenant_id, sessions)
    new: dict[uuid.UUID, StoredStack] = {}
    for sid in sessions:
        gens = members[sid]
        if not gens:
            continue
        ids = {g.asset_id for g in gens}
        at = {g.asset_id: g.generated_at for g in gens}
        order = {g.asset_id: n for n, g in enumerate(gens)}
        session_flags: dict[str, Flag] = {a: f for a, f in flags.items() if a in ids}
        for s in stack_session(gens, edges[sid], edits_within(edits, ids), session_flags):
            in_order = sorted(s.asset_ids, key=lambda a: order[a])
            first = at[in_order[0]]
            assert first is not None  # members of a session always have a time
            stored = StoredStack(
                stack_id=_stack_uuid(sid, s.stack_id),
                session_id=sid,
                cover_asset_id=uuid.UUID(s.cover_asset_id),
                asset_ids=tuple(uuid.UUID(a) for a in in_order),
                manual=s.manual,
                reason=s.reason,
                first_at=first,
            )
            new[stored.stack_id] = stored
    changed = [s for s in new.values() if old.get(s.stack_id) != s]
    gone = [s for s in old.values() if s.stack_id not in new]
    await store.write_stacks(conn, tenant_id, [s.stack_id for s in gone], changed)
    STACKS_RECOMPUTED.labels(trigger).inc(len(sessions))
    STACKS_CHANGED.labels(trigger).inc(len(changed) + len(gone) + len(dropped))

    by_session: dict[uuid.UUID, set[uuid.UUID]] = {}
    for row in [*changed, *gone]:
        by_session.setdefault(row.session_id, set()).add(row.stack_id)
    for row in old.values():  # a stack id that moved to another session is gone from its old one
        if row.stack_id in new and new[row.stack_id].session_id != row.session_id:
            by_session.setdefault(row.session_id, set()).add(row.stack_id)
    live = set(sessions)
    return [
        Event.of(
            StackUpdated(session_id=sid, stack_ids=sorted(ids)),
            tenant_id=tenant_id,
            correlation_id=correlation_id,
        )
        for sid, ids in sorted(by_session.items())
        if sid in live
    ]


async def after_timeline_edit(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    imported: Sequence[AssetImported],
    session_events: Sequence[Event],
    *,
    correlation_id: uuid.UUID | None = None,
) -> list[Event]:
    """Curation's part of a change to the tenant's sessions (an import batch, a split, merge or rule
    change; `session_events` are the `session.updated` / `session.merged` it queued): link the imported
    assets, recompute the stacks of the sessions touched, queue `lineage.linked` and `stack.updated`.
    Nothing at all when curation is switched off (`ATELIER_CURATION=false`)."""
    if not curation_enabled():
        return []
    touched: set[uuid.UUID] = set()
    gone: set[uuid.UUID] = set()
    for event in session_events:
        body = event.body()
        if isinstance(body, SessionUpdated):
            touched.add(body.session_id)
        elif isinstance(body, SessionMerged):
            gone.add(body.from_session_id)
    linked = await link_imports(conn, tenant_id, imported) if imported else Linked()
    ends = {uuid.UUID(a) for e in [*linked.added, *linked.removed] for a in _pair(e)}
    touched |= set((await store.sessions_of(conn, tenant_id, ends)).values())
    events = _linked_events(linked, tenant_id, correlation_id)
    events += await restack(
        conn,
        tenant_id,
        touched - gone,
        trigger="import" if imported else "session_edit",
        gone_sessions=gone,
        correlation_id=correlation_id,
    )
    await add_to_outbox(conn, repository.SCHEMA, events)
    return events


async def backfill_stacks(pool: asyncpg.Pool) -> int:
    """Give stacks to the live sessions that have none (made before curation existed, and not changed
    since), so every session member is in a stack row, as the gateway's `session_stacks` reads promise.
    Their assets have no stored facts and no edges: they stack on what the members table holds (prompt,
    tool, model). Runs at start-up; once done, it finds nothing. Returns how many sessions it stacked."""
    rows = await pool.fetch(
        """
        SELECT tenant_id, array_agg(session_id) AS session_ids FROM clustering.sessions s
        WHERE merged_into IS NULL AND asset_count > 0
          AND NOT EXISTS (SELECT 1 FROM clustering.stacks t WHERE t.tenant_id = s.tenant_id AND t.session_id = s.session_id)
        GROUP BY tenant_id
        """
    )
    for r in rows:
        async with pool.acquire() as conn, conn.transaction():
            await repository.lock_tenant(conn, r["tenant_id"])
            events = await restack(conn, r["tenant_id"], r["session_ids"], trigger="backfill")
            await add_to_outbox(conn, repository.SCHEMA, events)
    return sum(len(r["session_ids"]) for r in rows)


# -- the person's edits (curation_endpoints) -------------------------------------------------------


async def _live_session(conn: asyncpg.Connection, tenant_id: uuid.UUID, session_id: uuid.UUID) -> uuid.UUID:
    live = await store.live_session(conn, tenant_id, session_id)
    if live is None:
        raise CurationRefused(404, f"no session {session_id}")
    return live


async def _stack(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, session_id: uuid.UUID, stack_id: uuid.UUID
) -> tuple[uuid.UUID, StoredStack]:
    live = await _live_session(conn, tenant_id, session_id)
    stored = await store.stored_stack(conn, tenant_id, live, stack_id)
    if stored is None:
        raise CurationRefused(404, f"no stack {stack_id} in session {session_id}")
    return live, stored


async def _save_and_restack(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, session_id: uuid.UUID, edits: StackEdits | None
) -> list[uuid.UUID]:
    if edits is not None:
        await store.save_stack_edits(conn, tenant_id, edits)
    events = await restack(conn, tenant_id, [session_id], trigger="stack_edit")
    await add_to_outbox(conn, repository.SCHEMA, events)
    return await store.session_stack_ids(conn, tenant_id, session_id)


async def set_flag(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, asset_id: uuid.UUID, flag: Flag | None
) -> None:
    """Pick, reject or clear an asset; its session's stacks follow (the cover prefers a pick, avoids a reject)."""
    await repository.lock_tenant(conn, tenant_id)
    known, session_id = await store.asset_known(conn, tenant_id, asset_id)
    if not known:
        raise CurationRefused(404, f"no asset {asset_id}")
    FLAGS_SET.labels(flag or "none").inc()
    if await store.set_flag(conn, tenant_id, asset_id, flag) and session_id is not None:
        events = await restack(conn, tenant_id, [session_id], trigger="flag")
        await add_to_outbox(conn, repository.SCHEMA, events)


async def stack_by_hand(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, session_id: uuid.UUID, asset_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """Stack these assets of one session together; returns the session's stacks after the edit."""
    await repository.lock_tenant(conn, tenant_id)
    live = await _live_session(conn, tenant_id, session_id)
    wanted = sorted(set(asset_ids))
    if len(wanted) < 2:
        raise CurationRefused(409, "a stack needs at least two different images")
    sessions = await store.sessions_of(conn, tenant_id, wanted)
    outside = [a for a in wanted if sessions.get(a) != live]
    if outside:
        raise CurationRefused(404, f"asset {outside[0]} is not in session {session_id}")
    edits = stack_rules.stack_by_hand(await store.load_stack_edits(conn, tenant_id), [str(a) for a in wanted])
    return await _save_and_restack(conn, tenant_id, live, edits)


def _rules_stack(stored: StoredStack) -> Stack:
    return Stack(
        stack_id=str(stored.stack_id),
        cover_asset_id=str(stored.cover_asset_id),
        asset_ids=tuple(str(a) for a in stored.asset_ids),
        manual=stored.manual,
        reason=stored.reason,
    )


async def unstack(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, session_id: uuid.UUID, stack_id: uuid.UUID
) -> list[uuid.UUID]:
    """Break a stack into its images, each alone; unstacking a single image changes nothing."""
    await repository.lock_tenant(conn, tenant_id)
    live, stored = await _stack(conn, tenant_id, session_id, stack_id)
    if len(stored.asset_ids) < 2:  # e.g. a retried unstack: the first image's stack id is its own now
        return await store.session_stack_ids(conn, tenant_id, live)
    edits = stack_rules.unstack(await store.load_stack_edits(conn, tenant_id), _rules_stack(stored))
    return await _save_and_restack(conn, tenant_id, live, edits)


async def move_out(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    session_id: uuid.UUID,
    stack_id: uuid.UUID,
    asset_id: uuid.UUID,
) -> list[uuid.UUID]:
    """Take one image out of its stack, to stand alone."""
    await repository.lock_tenant(conn, tenant_id)
    live, stored = await _stack(conn, tenant_id, session_id, stack_id)
    if asset_id not in stored.asset_ids:
        raise CurationRefused(404, f"asset {asset_id} is not in stack {stack_id}")
    if len(stored.asset_ids) < 2:  # alone already
        return await store.session_stack_ids(conn, tenant_id, live)
    edits = stack_rules.move_out(await store.load_stack_edits(conn, tenant_id), str(asset_id))
    return await _save_and_restack(conn, tenant_id, live, edits)
