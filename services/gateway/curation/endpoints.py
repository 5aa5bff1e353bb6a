"""Lineage, stacks, the change strip and keepers (issue 14), as a person reads and edits them.

Reads come from clustering's views through the gateway's scoped statements: an id of another
workspace is simply not found (404). Edits (a flag, a stack made, undone or left) are forwarded to
clustering's internal API for the asking workspace, and the answer is read back from the views,
committed by then, so the page redraws from it. Clustering keeps the edits with the session, and
replays them on every later import.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from services.gateway import repository
from services.gateway.auth import AuthSubject, authenticate
from services.gateway.curation import repository as curation
from services.gateway.curation import schemas, service
from services.gateway.endpoints import UNAUTHORIZED, UNREADABLE_BODY, Responses, refusal

router = APIRouter(prefix="/api/v1", tags=["curation"], responses=UNAUTHORIZED)
Subject = Annotated[AuthSubject, Depends(authenticate)]

NO_SESSION: Responses = {404: refusal("no such session")}
NO_ASSET: Responses = {404: refusal("no such asset")}
CLUSTERING_DOWN: Responses = {502: refusal("clustering failed"), 503: refusal("clustering is unreachable")}
STACK_EDIT: Responses = {
    **UNREADABLE_BODY,
    404: refusal("no such session, stack or asset in it"),
    409: refusal("the edit cannot be made (e.g. the images are already one stack)"),
    **CLUSTERING_DOWN,
}


def _pool(request: Request) -> Any:
    return request.app.state.runtime.pool


async def _session(request: Request, subject: AuthSubject, session_id: uuid.UUID) -> uuid.UUID:
    """The live session the id stands for (following a merge), or 404."""
    row, resolved = await repository.session(_pool(request), subject, session_id)
    if row is None:
        raise HTTPException(404, "no such session")
    return resolved


@router.get("/assets/{asset_id}/lineage", response_model=schemas.AssetLineage, responses=NO_ASSET)
async def asset_lineage(asset_id: uuid.UUID, request: Request, subject: Subject) -> dict[str, Any]:
    """What this image was made from (`parents`) and what was made from it (`children`): each link with
    its relation (img2img, inpaint, upscale, edit, reroll, sweep, derived), the rule and evidence behind
    it, a confidence in [0, 1], and whether the file proves it (`explicit`). Explicit links first."""
    pool = _pool(request)
    if not await curation.asset_exists(pool, subject, asset_id):
        raise HTTPException(404, "no such asset")
    return {
        "parents": [
            service.link_json(r, "parent_id") for r in await curation.parents(pool, subject, asset_id)
        ],
        "children": [
            service.link_json(r, "child_id") for r in await curation.children(pool, subject, asset_id)
        ],
    }


@router.get("/sessions/{session_id}/lineage", response_model=schemas.SessionLineage, responses=NO_SESSION)
async def session_lineage(session_id: uuid.UUID, request: Request, subject: Subject) -> dict[str, Any]:
    """The session's lineage graph: the links with both ends in the session."""
    resolved = await _session(request, subject, session_id)
    rows = await curation.session_edges(_pool(request), subject, resolved)
    return {"edges": [service.edge_json(r) for r in rows]}


@router.get("/sessions/{session_id}/stacks", response_model=schemas.SessionStacks, responses=NO_SESSION)
async def session_stacks(session_id: uuid.UUID, request: Request, subject: Subject) -> dict[str, Any]:
    """The session as stacks of variations, in time order: every image in exactly one stack (a lone
    image is a stack of one). A stack needs agreeing metadata (a prompt or seed family) or a pixel
    match, never a file name alone; its cover is the most recent pick, else the last and largest."""
    resolved = await _session(request, subject, session_id)
    return service.stacks_json(await curation.session_stacks(_pool(request), subject, resolved))


@router.get("/sessions/{session_id}/changes", response_model=schemas.SessionChanges, responses=NO_SESSION)
async def session_changes(session_id: uuid.UUID, request: Request, subject: Subject) -> dict[str, Any]:
    """The change strip: between consecutive generations of the session, the prompt words added and
    removed, parameter changes (seed, sampler, steps, cfg, size, negative prompt), model and LoRA
    switches. Steps that changed nothing are left out."""
    resolved = await _session(request, subject, session_id)
    rows = await curation.session_facts(_pool(request), subject, resolved)
    return {"changes": service.changes_json(rows)}


@router.put(
    "/assets/{asset_id}/flag",
    response_model=schemas.FlagAnswer,
    responses={**UNREADABLE_BODY, **NO_ASSET, **CLUSTERING_DOWN},
)
async def put_flag(
    asset_id: uuid.UUID, body: schemas.FlagRequest, request: Request, subject: Subject
) -> dict[str, Any]:
    """Pick (keyboard P), reject (X) or clear (U, `null`) an image. Rejects leave the gallery and the
    session's images unless asked for (`include_rejected=true`); `flag=pick` lists the keepers; a pick
    becomes its stack's cover."""
    if not await curation.asset_exists(_pool(request), subject, asset_id):
        raise HTTPException(404, "no such asset")
    answer = await service.forward(
        request.app.state.runtime.settings, subject, "PUT", f"/assets/{asset_id}/flag", {"flag": body.flag}
    )
    return {"asset_id": str(asset_id), "flag": answer["flag"]}


async def _edited(request: Request, subject: AuthSubject, session_id: uuid.UUID, method: str,
                  path: str, body: Any = None) -> dict[str, Any]:  # fmt: skip
    """Forward a stack edit of the session, then answer its stacks as `GET .../stacks` does."""
    resolved = await _session(request, subject, session_id)
    settings = request.app.state.runtime.settings
    await service.forward(settings, subject, method, f"/sessions/{resolved}/stacks{path}", body)
    return service.stacks_json(await curation.session_stacks(_pool(request), subject, resolved))


@router.post("/sessions/{session_id}/stacks", response_model=schemas.SessionStacks, responses=STACK_EDIT)
async def stack_by_hand(
    session_id: uuid.UUID, body: schemas.StackRequest, request: Request, subject: Subject
) -> dict[str, Any]:
    """Stack these images of the session together by hand (they leave the stacks they were in). The
    edit stays through later imports. Answers the session's stacks."""
    ids = [str(a) for a in body.asset_ids]
    return await _edited(request, subject, session_id, "POST", "", {"asset_ids": ids})


@router.delete(
    "/sessions/{session_id}/stacks/{stack_id}", response_model=schemas.SessionStacks, responses=STACK_EDIT
)
async def unstack(
    session_id: uuid.UUID, stack_id: uuid.UUID, request: Request, subject: Subject
) -> dict[str, Any]:
    """Unstack: every image of the stack stands alone, and stays so through later imports. Answers the
    session's stacks."""
    return await _edited(request, subject, session_id, "DELETE", f"/{stack_id}")


@router.delete(
    "/sessions/{session_id}/stacks/{stack_id}/assets/{asset_id}",
    response_model=schemas.SessionStacks,
    responses=STACK_EDIT,
)
async def move_out_of_stack(
    session_id: uuid.UUID, stack_id: uuid.UUID, asset_id: uuid.UUID, request: Request, subject: Subject
) -> dict[str, Any]:
    """Move one image out of its stack: it stands alone, and stays so through later imports. Answers
    the session's stacks."""
    return await _edited(request, subject, session_id, "DELETE", f"/{stack_id}/assets/{asset_id}")
