"""Clustering's internal API for curation: a person's picks and rejects and stack edits, forwarded by
the gateway (same trust and token as `endpoints.py`: only our services may call it).

Each call is one transaction under the tenant's row lock: the edit is stored (flags per asset, stack
edits per tenant, so they outlive later imports), the session's stacks are recomputed, and
`stack.updated` goes to the outbox when they changed. Stack edits answer the session's stacks after
the edit, in time order; the gateway reads them back through `clustering.session_stacks`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import asyncpg
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from libs.common.runtime import ServiceRuntime
from libs.lineage.facts import Flag
from services.clustering import curation

router = APIRouter(prefix="/internal/v1/tenants/{tenant_id}", tags=["internal: curation"])

# a hand stack is made from a selection in one session; a session rarely holds more
MAX_HAND_STACK = 1000

T = TypeVar("T")


class FlagRequest(BaseModel):
    flag: Flag | None


class FlagResult(BaseModel):
    asset_id: uuid.UUID
    flag: Flag | None


class StackByHandRequest(BaseModel):
    asset_ids: Annotated[list[uuid.UUID], Field(min_length=2, max_length=MAX_HAND_STACK)]


class StacksResult(BaseModel):
    stack_ids: list[uuid.UUID]  # the session's stacks after the edit, in time order


def _runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


async def _run(request: Request, edit: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """One transaction around `edit`; a refusal rolls it back and answers with its reason."""
    async with _runtime(request).pool.acquire() as conn, conn.transaction():
        try:
            return await edit(conn)
        except curation.CurationRefused as refused:
            raise HTTPException(refused.status, refused.reason) from None


@router.put("/assets/{asset_id}/flag")
async def set_flag(
    tenant_id: uuid.UUID, asset_id: uuid.UUID, body: FlagRequest, request: Request
) -> FlagResult:
    """Pick or reject an asset, or clear its flag (null). 404 for an asset the tenant does not have."""
    await _run(request, lambda conn: curation.set_flag(conn, tenant_id, asset_id, body.flag))
    return FlagResult(asset_id=asset_id, flag=body.flag)


@router.post("/sessions/{session_id}/stacks")
async def stack_by_hand(
    tenant_id: uuid.UUID, session_id: uuid.UUID, body: StackByHandRequest, request: Request
) -> StacksResult:
    """Stack two or more images of the session by hand (taken out of the stacks they were in)."""
    ids = await _run(
        request, lambda conn: curation.stack_by_hand(conn, tenant_id, session_id, body.asset_ids)
    )
    return StacksResult(stack_ids=ids)


@router.delete("/sessions/{session_id}/stacks/{stack_id}")
async def unstack(
    tenant_id: uuid.UUID, session_id: uuid.UUID, stack_id: uuid.UUID, request: Request
) -> StacksResult:
    """Unstack: every image of the stack stands alone, through later imports too."""
    ids = await _run(request, lambda conn: curation.unstack(conn, tenant_id, session_id, stack_id))
    return StacksResult(stack_ids=ids)


@router.delete("/sessions/{session_id}/stacks/{stack_id}/assets/{asset_id}")
async def move_out(
    tenant_id: uuid.UUID, session_id: uuid.UUID, stack_id: uuid.UUID, asset_id: uuid.UUID, request: Request
) -> StacksResult:
    """Move one image out of its stack, to stand alone."""
    ids = await _run(request, lambda conn: curation.move_out(conn, tenant_id, session_id, stack_id, asset_id))
    return StacksResult(stack_ids=ids)
