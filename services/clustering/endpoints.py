"""Clustering's internal API: a person's edits to their sessions, forwarded by the gateway.

Not public: the gateway authenticates the user and names the tenant in the path; this service
trusts that, so only our services may call it (network policy, and the shared service token of
libs/common/internal.py, which `app.py` requires on these routes when one is configured).

Every edit runs the same machinery as the `asset.imported` consumer (`handlers.edit_timeline`):
one transaction that locks the tenant, applies the edit to its timeline, writes the changes,
bumps the version and queues `session.updated` / `session.merged` in the outbox. A manual cut
or join is stored with the tenant (`tenant_state.cuts_before` / `joins`) and replayed by every
later import and rule change, so it outlives both.

Answers name the sessions that resulted, in time order; the gateway reads the cards back
through the `session_cards` view (committed by then).
"""

from __future__ import annotations

import uuid
from typing import Annotated

import asyncpg
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from libs.common.runtime import ServiceRuntime
from libs.sessions.segmentation import Timeline
from services.clustering import repository
from services.clustering.handlers import Edited, TimelineCache, TimelineEdit, edit_timeline, rule_for
from services.clustering.repository import TenantState

router = APIRouter(prefix="/internal/v1/tenants/{tenant_id}", tags=["internal: session edits"])

# a tenant's own gap: at least a minute, at most a day
MIN_GAP_MINUTES, MAX_GAP_MINUTES = 1, 1440
GapMinutes = Annotated[int, Field(ge=MIN_GAP_MINUTES, le=MAX_GAP_MINUTES)]


class SplitRequest(BaseModel):
    asset_id: uuid.UUID


class MergeRequest(BaseModel):
    session_ids: Annotated[list[uuid.UUID], Field(min_length=2, max_length=2)]


class RuleRequest(BaseModel):
    gap_minutes: GapMinutes | None  # None: the default (adaptive) rule


class SessionsResult(BaseModel):
    session_ids: list[uuid.UUID]  # the sessions the edit left, in time order
    merged_session_ids: list[uuid.UUID] = []  # ids that now redirect to one of `session_ids`


class RuleResult(BaseModel):
    gap_minutes: int | None
    rule: str  # the rule in words, e.g. "fixed gap 30 min"
    session_count: int


class _Refused(Exception):
    """An edit the timeline cannot make; becomes an HTTP error with the reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


def _cache(request: Request) -> TimelineCache:
    return request.app.state.timeline_cache


def _live_session(timeline: Timeline, session_id: uuid.UUID) -> str:
    """The live session an id stands for (following merges), or 404: ids of other tenants are simply
    unknown on this tenant's timeline."""
    resolved = timeline.resolve(session_id.hex)
    try:
        timeline.members(resolved)
    except KeyError:
        raise _Refused(404, f"no session {session_id}") from None
    return resolved


async def _run(request: Request, tenant_id: uuid.UUID, edit: TimelineEdit) -> None:
    """One transaction around `edit_timeline`; a refusal rolls it back and answers with its reason."""
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        try:
            await edit_timeline(conn, _cache(request), tenant_id, edit)
        except _Refused as refused:
            raise HTTPException(refused.status, refused.reason) from None


@router.post("/sessions/{session_id}/split")
async def split_session(
    tenant_id: uuid.UUID, session_id: uuid.UUID, body: SplitRequest, request: Request
) -> SessionsResult:
    """Cut the session before `asset_id`: the asset and everything after it become a new session
    (the larger part keeps the id). The cut stays through later imports and rule changes."""
    result = SessionsResult(session_ids=[])
    asset = str(body.asset_id)

    async def split(_conn: asyncpg.Connection, _state: TenantState, timeline: Timeline) -> Edited:
        session = _live_session(timeline, session_id)
        members = timeline.members(session)
        if asset not in members:
            raise _Refused(404, f"asset {body.asset_id} is not in session {session_id}")
        position = members.index(asset)
        if position == 0 and asset not in timeline.manual_edits().cuts_before:
            raise _Refused(
                409, "the asset already starts its session: there is nothing before it to split off"
            )
        if position == 0:  # a retried split: the cut is there already
            result.session_ids = [uuid.UUID(session)]
            return Edited()
        try:
            changes = timeline.split_at(asset)
        except ValueError as exc:  # a day-precision session has no order to cut in
            raise _Refused(409, str(exc)) from None
        before, after = timeline.session_of(members[position - 1]), timeline.session_of(asset)
        result.session_ids = [uuid.UUID(before), uuid.UUID(after)]
        return Edited(changes)

    await _run(request, tenant_id, split)
    return result


@router.post("/sessions/merge")
async def merge_sessions(tenant_id: uuid.UUID, body: MergeRequest, request: Request) -> SessionsResult:
    """Join two neighbouring sessions for good; the one with more assets keeps its id and the other
    redirects to it. Sessions that are not neighbours answer 409 with the reason."""
    result = SessionsResult(session_ids=[])

    async def merge(_conn: asyncpg.Connection, _state: TenantState, timeline: Timeline) -> Edited:
        first, second = (_live_session(timeline, s) for s in body.session_ids)
        if first == second:  # one session already (e.g. a retried merge): nothing to do
            result.session_ids = [uuid.UUID(first)]
            return Edited()
        try:
            changes = timeline.merge(first, second)
        except ValueError as exc:  # not neighbours, or a day-precision session
            raise _Refused(409, str(exc)) from None
        survivor = timeline.resolve(first)
        result.session_ids = [uuid.UUID(survivor)]
        result.merged_session_ids = [uuid.UUID(s) for s in (first, second) if s != survivor]
        return Edited(changes)

    await _run(request, tenant_id, merge)
    return result


@router.put("/rules")
async def set_rule(tenant_id: uuid.UUID, body: RuleRequest, request: Request) -> RuleResult:
    """Set the tenant's gap (minutes) or go back to the default rule (null), and re-segment the
    tenant under it. Manual cuts and joins stay."""
    result = RuleResult(gap_minutes=body.gap_minutes, rule="", session_count=0)

    async def change_rule(conn: asyncpg.Connection, state: TenantState, timeline: Timeline) -> Edited:
        if state.gap_minutes == body.gap_minutes:
            edited = Edited()
        else:
            await repository.save_gap_minutes(conn, tenant_id, body.gap_minutes)
            new_state = TenantState(state.version, body.gap_minutes, state.edits)
            edited = Edited(timeline.set_rule(rule_for(new_state)), state_written=True)
        result.rule = timeline.rule.describe()
        result.session_count = len(timeline.sessions())
        return edited

    await _run(request, tenant_id, change_rule)
    return result
