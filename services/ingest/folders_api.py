"""The ingest service's internal HTTP API for connected folders, `/internal/v1/folders`.

Ingest owns the folders, so registering one is a call to ingest, not a write into its schema.
The gateway calls this after authenticating the user and passes the tenant; nothing here
authenticates users: only our services may call it (libs/common/internal.py).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, HTTPException, Response
from pydantic import AfterValidator, BaseModel

from libs.common.internal import require_internal_caller
from libs.common.runtime import ServiceRuntime
from libs.common.text import clean_text
from services.ingest import folders_repository as repo
from services.ingest.folder_paths import FolderRefused, resolve_folder
from services.ingest.settings import IngestSettings


def _text(value: str) -> str:
    """Refused with a 422 when PostgreSQL could not store it (NUL) or UTF-8 cannot encode it (a lone surrogate)."""
    if clean_text(value) != value:
        raise ValueError("must be text without NUL characters or unpaired surrogates")
    return value


class FolderRegistration(BaseModel):
    tenant_id: uuid.UUID
    path: Annotated[str, AfterValidator(_text)]
    time_zone: Annotated[str, AfterValidator(_text)] = "UTC"


def folder_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["folder_id"]),
        "path": row["path"],
        "status": row["status"],
        "error": row["error"],
        "created_at": row["created_at"].isoformat(),
        "last_scan_at": row["last_scan_at"].isoformat() if row["last_scan_at"] else None,
        "file_count": row["file_count"],
    }


def internal_folders_router(runtime: ServiceRuntime, settings: IngestSettings) -> APIRouter:
    router = APIRouter(
        prefix="/internal/v1/folders",
        include_in_schema=False,
        dependencies=[require_internal_caller(settings)],
    )  # type: ignore[list-item]

    @router.post("", status_code=201)
    async def register_folder(body: FolderRegistration) -> dict[str, Any]:
        try:
            resolved = resolve_folder(body.path, settings.folder_root_paths)
        except FolderRefused as exc:
            raise HTTPException(exc.status, exc.reason) from None
        async with runtime.pool.acquire() as conn:
            try:
                row = await repo.insert_folder(conn, body.tenant_id, str(resolved), body.time_zone)
            except repo.FolderAlreadyConnected:
                raise HTTPException(409, f"{resolved} is already connected") from None
        return folder_json(row)

    @router.get("")
    async def list_folders(tenant_id: uuid.UUID) -> list[dict[str, Any]]:
        async with runtime.pool.acquire() as conn:
            return [folder_json(row) for row in await repo.tenant_folders(conn, tenant_id)]

    @router.delete("/{folder_id}", status_code=204)
    async def delete_folder(folder_id: uuid.UUID, tenant_id: uuid.UUID) -> Response:
        async with runtime.pool.acquire() as conn:
            if not await repo.delete_folder(conn, tenant_id, folder_id):
                raise HTTPException(404, "no such folder")
        return Response(status_code=204)

    return router
