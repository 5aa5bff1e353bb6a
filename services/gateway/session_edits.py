"""A person's edits to their sessions, the public half: split, merge, and the session gap.

Clustering owns sessions, so the gateway authenticates the user and asks clustering's internal
API (`ATELIER_CLUSTERING_URL`) on the tenant's behalf. Clustering's refusals (no such session or
asset for this tenant: 404; not neighbours, nothing to split: 409) come back with their reason.
Each answer carries the resulting session cards, read back through clustering's `session_cards`
view once clustering has committed, so the page can redraw without another round trip.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from libs.common.internal import call_internal
from services.gateway import repository, schemas
from services.gateway.auth import AuthSubject, authenticate
from services.gateway.endpoints import (
    UNAUTHORIZED,
    UNREADABLE_BODY,
    Responses,
    refusal,
    session_json,
    time_zone_of,
)

router = APIRouter(prefix="/api/v1", tags=["session edits"], responses=UNAUTHORIZED)
# what an edit may answer besides its result: clustering's refusals and failures, passed on
CLUSTERING_DOWN: Responses = {502: refusal("clustering failed"), 503: refusal("clustering is unreachable")}
EDIT_REFUSED: Responses = {
    **UNREADABLE_BODY,
    404: refusal("no such session (or asset in it) for this tenant"),
    409: refusal("the edit cannot be made: nothing to split off, or the sessions are not neighbours"),
    **CLUSTERING_DOWN,
}
Subject = Annotated[AuthSubject, Depends(authenticate)]

# the gap a tenant may choose, in minutes (clustering checks the same bounds)
MIN_GAP_MINUTES, MAX_GAP_MINUTES = 1, 1440


class SplitRequest(BaseModel):
    asset_id: uuid.UUID  # the first asset of the new, later session


class MergeRequest(BaseModel):
    session_ids: Annotated[list[uuid.UUID], Field(min_length=2, max_length=2)]  # two neighbours


class SessionSettings(BaseModel):
    # minutes of pause that start a new session; null = automatic (the default adaptive rule). Strict: a
    # JSON true or "30" is not a number of minutes (pydantic would read them as 1 and 30)
    gap_minutes: Annotated[int, Field(ge=MIN_GAP_MINUTES, le=MAX_GAP_MINUTES, strict=True)] | None


async def _clustering(
    request: Request, subject: AuthSubject, method: str, path: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Call clustering's internal API for the subject's tenant; its refusals become ours."""
    settings = request.app.state.runtime.settings
    response = await call_internal(
        settings,
        "clustering",
        settings.clustering_url,
        method,
        f"/internal/v1/tenants/{subject.tenant_id}{path}",
        json=body,
    )
    return response.json()


async def _cards(request: Request, subject: AuthSubject, session_ids: list[str]) -> list[dict[str, Any]]:
    rows = await repository.sessions_by_id(
        request.app.state.runtime.pool, subject, [uuid.UUID(s) for s in session_ids]
    )
    now, zone = datetime.now(UTC), time_zone_of(subject.time_zone)
    return [session_json(r, now, zone) for r in rows]


@router.post("/sessions/{session_id}/split", response_model=schemas.EditedSessions, responses=EDIT_REFUSED)
async def split_session(
    session_id: uuid.UUID, body: SplitRequest, request: Request, subject: Subject
) -> dict[str, Any]:
    """Cut the session before `asset_id`; returns the two sessions, earlier first (the larger part keeps
    the id). The cut stays: an asset imported later between the two joins the earlier one."""
    result = await _clustering(
        request, subject, "POST", f"/sessions/{session_id}/split", {"asset_id": str(body.asset_id)}
    )
    return {"sessions": await _cards(request, subject, result["session_ids"])}


@router.post("/sessions/merge", response_model=schemas.MergedSessions, responses=EDIT_REFUSED)
async def merge_sessions(body: MergeRequest, request: Request, subject: Subject) -> dict[str, Any]:
    """Join two neighbouring sessions for good; returns the survivor (the one that had more assets keeps
    its id) and the id that now redirects to it (`GET /sessions/{that id}` answers with the survivor)."""
    result = await _clustering(
        request, subject, "POST", "/sessions/merge", {"session_ids": [str(s) for s in body.session_ids]}
    )
    return {
        "sessions": await _cards(request, subject, result["session_ids"]),
        "merged_from": result["merged_session_ids"],
    }


@router.get("/settings/sessions", response_model=schemas.SessionGap)
async def get_session_settings(request: Request, subject: Subject) -> dict[str, Any]:
    gap = await repository.session_gap_minutes(request.app.state.runtime.pool, subject)
    return {"gap_minutes": gap}


@router.put(
    "/settings/sessions",
    response_model=schemas.SessionRuleChange,
    responses={**UNREADABLE_BODY, **CLUSTERING_DOWN},
)
async def put_session_settings(body: SessionSettings, request: Request, subject: Subject) -> dict[str, Any]:
    """Set the pause (minutes) that starts a new session, or null for automatic; re-segments the tenant's
    sessions now (hand splits and merges stay). Returns the setting and the newest sessions."""
    result = await _clustering(request, subject, "PUT", "/rules", {"gap_minutes": body.gap_minutes})
    rows = await repository.sessions(request.app.state.runtime.pool, subject, limit=100)
    now, zone = datetime.now(UTC), time_zone_of(subject.time_zone)
    return {
        "gap_minutes": result["gap_minutes"],
        "rule": result["rule"],
        "sessions": [session_json(r, now, zone) for r in rows],
    }
