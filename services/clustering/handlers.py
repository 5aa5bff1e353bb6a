"""Consumes `asset.imported`: places each timed asset on its tenant's timeline, writes what
changed, and queues `session.updated` / `session.merged`.

Timelines are cached per tenant in memory (a cache of PostgreSQL, not the truth): the
tenant's row is locked for the batch and its `version` says whether the cached copy
is current; after a rebalance another replica may have moved it on, and then we reload.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import asyncpg
from prometheus_client import Counter, Gauge

from libs.common.consumer import Delivery
from libs.common.events import AssetImported, Event, SessionMerged, SessionUpdated
from libs.common.outbox import add_to_outbox
from libs.sessions.segmentation import (
    DEFAULT_RULE,
    AssetsAssigned,
    Change,
    FixedGap,
    ManualEditsChanged,
    Moment,
    SessionRule,
    SessionUpserted,
    Timeline,
)
from libs.sessions.segmentation import SessionMerged as TimelineMerged
from libs.sessions.summary import summarize
from services.clustering import curation, repository
from services.clustering.covers import COVER_SIZE, CoverCandidate, choose_cover
from services.clustering.repository import NewMember, TenantState

log = logging.getLogger(__name__)

PLACED = Counter("atelier_clustering_assets_total", "Imported assets by what clustering did", ["outcome"])
SESSION_CHANGES = Counter("atelier_clustering_session_changes_total", "Session changes published", ["kind"])
TIMELINE_LOADS = Counter("atelier_clustering_timeline_loads_total", "Timelines rebuilt from the database")
RULE_RECHECKS = Counter(
    "atelier_clustering_rule_rechecks_total",
    "Tenants re-segmented because their sessions were cut with another rule",
)
CACHED_TIMELINES = Gauge("atelier_clustering_cached_timelines", "Tenant timelines held in memory")


def rule_for(state: TenantState) -> SessionRule:
    return FixedGap(minutes=state.gap_minutes) if state.gap_minutes else DEFAULT_RULE


@dataclass
class _Cached:
    version: int
    timeline: Timeline


class TimelineCache:
    """The least recently used tenants' timelines, each tagged with the version it reflects."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[uuid.UUID, _Cached] = OrderedDict()

    def get(self, tenant_id: uuid.UUID, version: int) -> Timeline | None:
        item = self._items.get(tenant_id)
        if item is None or item.version != version:
            return None
        self._items.move_to_end(tenant_id)
        return item.timeline

    def put(self, tenant_id: uuid.UUID, version: int, timeline: Timeline) -> None:
        self._items[tenant_id] = _Cached(version, timeline)
        self._items.move_to_end(tenant_id)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        CACHED_TIMELINES.set(len(self._items))

    def drop(self, tenant_id: uuid.UUID) -> None:
        self._items.pop(tenant_id, None)


async def open_timeline(
    conn: asyncpg.Connection, cache: TimelineCache, tenant_id: uuid.UUID
) -> tuple[TenantState, Timeline]:
    """Lock the tenant and return its current timeline (cached, or rebuilt from the tables)."""
    state = await repository.lock_tenant(conn, tenant_id)
    timeline = cache.get(tenant_id, state.version)
    if timeline is None:
        rows, merged = await repository.load_timeline_rows(conn, tenant_id)
        timeline = Timeline.restore(
            rows, state.edits, merged, rule_for(state), new_id=lambda: uuid.uuid4().hex
        )
        TIMELINE_LOADS.inc()
    return state, timeline


async def persist_changes(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    timeline: Timeline,
    changes: Sequence[Change],
    *,
    new_members: Sequence[NewMember] = (),
    correlation_id: uuid.UUID | None = None,
) -> list[Event]:
    """Write the net effect of `changes` (new members, sessions, covers, edits); return the events to publish."""
    merges = [(c.from_id, c.into_id) for c in changes if isinstance(c, TimelineMerged)]
    assigned: set[str] = {a for c in changes if isinstance(c, AssetsAssigned) for a in c.asset_ids}
    upserted: dict[str, SessionUpserted] = {
        c.session_id: c for c in changes if isinstance(c, SessionUpserted)
    }
    for c in changes:
        if isinstance(c, ManualEditsChanged):
            await repository.save_edits(conn, tenant_id, c.edits)

    for from_id, _ in merges:
        await repository.move_members(
            conn, tenant_id, uuid.UUID(from_id), uuid.UUID(timeline.resolve(from_id))
        )
    # new members are written once, with the session they end the batch in; only assets that were
    # already stored (a piece cut off another session) are updated
    await repository.insert_members(
        conn, tenant_id, [(m, uuid.UUID(timeline.session_of(str(m.asset_id)))) for m in new_members]
    )
    new_asset_ids = [m.asset_id for m in new_members]
    moved = assigned - {str(a) for a in new_asset_ids}
    await repository.assign_members(
        conn, tenant_id, [(uuid.UUID(a), uuid.UUID(timeline.session_of(a))) for a in sorted(moved)]
    )
    live = {sid: up for sid, up in upserted.items() if timeline.resolve(sid) == sid}
    live_ids = [uuid.UUID(s) for s in live]
    old_covers = await repository.current_covers(conn, tenant_id, live_ids)
    covers = await _choose_covers(
        conn, tenant_id, live, old_covers, [uuid.UUID(a) for a in assigned] + new_asset_ids
    )
    groups = await repository.member_groups(conn, tenant_id, live_ids)
    await repository.upsert_sessions(
        conn, tenant_id,
        [(uuid.UUID(sid), up.start, up.end, up.count, up.precision, covers[uuid.UUID(sid)],
          summarize(groups[uuid.UUID(sid)])) for sid, up in live.items()],
    )  # fmt: skip

    events = [
        Event.of(SessionMerged(from_session_id=uuid.UUID(f), into_session_id=uuid.UUID(timeline.resolve(f))),
                 tenant_id=tenant_id, correlation_id=correlation_id)
        for f, _ in merges
    ]  # fmt: skip
    events += [
        Event.of(SessionUpdated(session_id=uuid.UUID(sid), start=up.start, end=up.end, asset_count=up.count,
                                cover_asset_ids=covers[uuid.UUID(sid)]),
                 tenant_id=tenant_id, correlation_id=correlation_id)
        for sid, up in live.items()
    ]  # fmt: skip
    SESSION_CHANGES.labels("merged").inc(len(merges))
    SESSION_CHANGES.labels("updated").inc(len(live))
    return events


async def _choose_covers(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    live: dict[str, SessionUpserted],
    old_covers: dict[uuid.UUID, list[uuid.UUID]],
    changed_assets: list[uuid.UUID],
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Each touched session's cover from its old cover plus the assets that just joined it;
    a session whose old cover lost assets (a split) tops up from a bounded sample of its members."""
    wanted = {a for cover in old_covers.values() for a in cover} | set(changed_assets)
    by_session: dict[uuid.UUID, list[CoverCandidate]] = {uuid.UUID(s): [] for s in live}
    for session_id, candidate in await repository.cover_candidates(conn, tenant_id, asset_ids=list(wanted)):
        if session_id in by_session:
            by_session[session_id].append(candidate)
    covers: dict[uuid.UUID, list[uuid.UUID]] = {}
    for sid, candidates in by_session.items():
        count = live[sid.hex].count
        if len(candidates) < min(COVER_SIZE, count):
            seen = {c.asset_id for c in candidates}
            sample = await repository.cover_candidates(conn, tenant_id, session_id=sid)
            candidates += [c for _, c in sample if c.asset_id not in seen]
        covers[sid] = [uuid.UUID(a) for a in choose_cover(candidates)]
    return covers


def _recheck_rule(tenant_id: uuid.UUID, state: TenantState, timeline: Timeline) -> list[Change]:
    """Re-check every gap when the stored sessions were cut with another rule than the current one
    (the default's constants changed in a release, or the tenant predates the record): once per
    tenant, O(n·reach), so old-rule and new-rule sessions never sit side by side."""
    if state.segmented_with == timeline.rule.describe() or not len(timeline):
        return []
    changes = timeline.set_rule(timeline.rule)
    log.info(
        "sessions re-checked under the current rule",
        extra={"tenant_id": str(tenant_id), "changes": len(changes)},
    )
    RULE_RECHECKS.inc()
    return changes


@dataclass
class Edited:
    """What an edit did to a timeline, for `edit_timeline` to write."""

    changes: list[Change] = field(default_factory=list)
    # assets this edit placed on the timeline: `persist_changes` stores them in clustering.members
    new_members: list[NewMember] = field(default_factory=list)
    # the edit wrote tenant state the timeline depends on (the rule): bump the version even without changes,
    # so other replicas' cached timelines (with the old rule) are reloaded
    state_written: bool = False
    # assets this edit imported, timed or not: curation stores their facts and links them
    imported: list[AssetImported] = field(default_factory=list)


# Applies one edit to the tenant's locked timeline: may read and write the clustering schema through
# `conn`, mutates the timeline, and says what changed. Raising anything aborts the whole transaction.
TimelineEdit = Callable[[asyncpg.Connection, TenantState, Timeline], Awaitable[Edited]]


async def edit_timeline(
    conn: asyncpg.Connection,
    cache: TimelineCache,
    tenant_id: uuid.UUID,
    edit: TimelineEdit,
    *,
    correlation_id: uuid.UUID | None = None,
) -> list[Event]:
    """The one way a tenant's sessions change, for imports and manual edits alike, inside the caller's
    transaction: lock the tenant, open its timeline, apply `edit`, write the changes, bump the version,
    queue the events in the outbox (returned too), and keep the cache equal to what will commit.
    Curation follows in the same transaction: imported assets are linked and the stacks of the sessions
    that changed are recomputed (`curation.after_timeline_edit`)."""
    state, timeline = await open_timeline(conn, cache, tenant_id)
    try:
        rechecked = _recheck_rule(tenant_id, state, timeline)
        edited = await edit(conn, state, timeline)
        edited.changes[:0] = rechecked
        edited.state_written |= state.segmented_with != timeline.rule.describe()
        if edited.state_written:
            await repository.save_segmented_with(conn, tenant_id, timeline.rule.describe())
        if not edited.changes and not edited.state_written:
            cache.put(tenant_id, state.version, timeline)
            return await curation.after_timeline_edit(
                conn, tenant_id, edited.imported, [], correlation_id=correlation_id
            )
        events = await persist_changes(
            conn,
            tenant_id,
            timeline,
            edited.changes,
            new_members=edited.new_members,
            correlation_id=correlation_id,
        )
        version = await repository.bump_version(conn, tenant_id, state.version)
        await add_to_outbox(conn, repository.SCHEMA, events)
        events += await curation.after_timeline_edit(
            conn, tenant_id, edited.imported, events, correlation_id=correlation_id
        )
    except BaseException:
        # the transaction will roll back: the timeline may be ahead of the tables
        cache.drop(tenant_id)
        raise
    # tagged with the new version: should the commit still fail, the tables stay at the old version and
    # the next transaction reloads instead of trusting this copy
    cache.put(tenant_id, version, timeline)
    return events


class ImportedHandler:
    def __init__(self, cache: TimelineCache) -> None:
        self.cache = cache

    async def __call__(self, conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        by_tenant: dict[uuid.UUID, list[Delivery]] = {}
        for d in deliveries:
            if isinstance(d.payload, AssetImported):
                by_tenant.setdefault(d.tenant_id, []).append(d)
        for tenant_id, items in by_tenant.items():
            await edit_timeline(
                conn,
                self.cache,
                tenant_id,
                functools.partial(_place, items),
                correlation_id=items[-1].event.correlation_id,
            )


def moment_of(p: AssetImported) -> Moment:
    """An imported asset on the timeline: its time, and what the default rule reads across an ambiguous
    gap (prompt, model, tool, seed, LoRAs). `repository.load_timeline_rows` restores the same fields,
    so a timeline rebuilt from the tables cuts where the one built import by import did."""
    assert p.generated_at is not None, "only timed assets go on the timeline"
    facts = p.lineage
    return Moment(
        str(p.asset_id), p.generated_at, p.timestamp_precision or "second",
        prompt=p.prompt, model=p.model, tool=p.tool,
        seed=facts.seed if facts else None,
        loras=tuple(sorted(facts.loras)) if facts and facts.loras else None,  # a set, in one order (as the CLI)
    )  # fmt: skip


async def _place(
    items: list[Delivery], conn: asyncpg.Connection, _state: TenantState, timeline: Timeline
) -> Edited:
    """Put the timed assets on the timeline in one go; `persist_changes` records them as members."""
    moments: list[Moment] = []
    imported: dict[str, AssetImported] = {}
    for d in items:
        p = d.payload
        assert isinstance(p, AssetImported)
        if p.generated_at is None:
            PLACED.labels("no_time").inc()  # shown in the gallery, in no session
            continue
        moments.append(moment_of(p))
        imported.setdefault(str(p.asset_id), p)
    changes, placed, refused = timeline.insert_many(moments)
    for moment, reason in refused:
        # the same asset announced again with a different time: the first one stands
        log.warning("asset already placed", extra={"asset_id": moment.asset_id, "reason": reason})
        PLACED.labels("conflict").inc()
    members = []
    for moment in placed:
        p = imported[moment.asset_id]
        members.append(
            NewMember(
                p.asset_id,
                moment.at,
                moment.precision,
                p.prompt,
                p.dominant_color,
                p.thumbnail_key,
                p.tool,
                p.model,
            )
        )
    PLACED.labels("placed").inc(len(placed))
    imported_all = [d.payload for d in items if isinstance(d.payload, AssetImported)]
    return Edited(changes, new_members=members, imported=imported_all)
