"""Connected folders, the public half: `/api/v1/folders`.

Ingest owns folders, so the gateway authenticates the user and asks ingest's internal API
(`ATELIER_INGEST_URL`) on the tenant's behalf; ingest's refusal (outside the allowed roots,
missing, not a directory, already connected) comes back with its status and reason.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from libs.common.internal import call_internal
from services.gateway.auth import AuthSubject, authenticate
from services.gateway.endpoints import UNAUTHORIZED, Responses, Text, refusal
from services.gateway.schemas import ConnectedFolder

# ingest's answers when it cannot be asked, here as on every route that calls it
INGEST_DOWN: Responses = {502: refusal("ingest failed"), 503: refusal("ingest is unreachable")}
router = APIRouter(
    prefix="/api/v1/folders",
    tags=["connected folders"],
    responses={**UNAUTHORIZED, **INGEST_DOWN},
)
Subject = Annotated[AuthSubject, Depends(authenticate)]


class FolderRequest(BaseModel):
    path: Text


async def _ingest(request: Request, method: str, path: str, **kwargs: Any) -> httpx.Response:
    settings = request.app.state.runtime.settings
    return await call_internal(
        settings, "ingest", settings.ingest_url, method, f"/internal/v1/folders{path}", **kwargs
    )


@router.post(
    "",
    status_code=201,
    response_model=ConnectedFolder,
    responses={
        400: refusal("not an absolute path to a readable directory, or the body is not UTF-8 JSON"),
        403: refusal("outside the allowed roots, or connected folders are off on this server"),
        409: refusal("already connected"),
    },
)
async def connect_folder(body: FolderRequest, request: Request, subject: Subject) -> dict[str, Any]:
    """Connect a directory on the server: it is scanned once, then new files in it are imported as they land."""
    response = await _ingest(request, "POST", "", json={
        "tenant_id": str(subject.tenant_id), "path": body.path, "time_zone": subject.time_zone,
    })  # fmt: skip
    return response.json()


@router.get("", response_model=list[ConnectedFolder])
async def list_folders(request: Request, subject: Subject) -> list[dict[str, Any]]:
    """The tenant's connected folders with their status (pending, watching, error and why)."""
    response = await _ingest(request, "GET", "", params={"tenant_id": str(subject.tenant_id)})
    return response.json()


@router.delete("/{folder_id}", status_code=204, responses={404: refusal("no such folder")})
async def disconnect_folder(folder_id: uuid.UUID, request: Request, subject: Subject) -> Response:
    """Stop watching the folder; assets already imported from it stay."""
    await _ingest(request, "DELETE", f"/{folder_id}", params={"tenant_id": str(subject.tenant_id)})
    return Response(status_code=204)
