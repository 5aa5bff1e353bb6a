"""`GET /api/v1/export`: the caller's whole workspace as one zip, streamed as it is written (see
service.py). A GET, so the Settings page's "Download my library" is a plain link the browser saves."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from prometheus_client import Counter

from services.gateway.auth import AuthSubject, authenticate
from services.gateway.endpoints import UNAUTHORIZED
from services.gateway.export.service import ExportWriter, export_filename

router = APIRouter(prefix="/api/v1", tags=["export"])
Subject = Annotated[AuthSubject, Depends(authenticate)]
EXPORTS = Counter("atelier_gateway_exports_total", "Workspace exports started (GET /api/v1/export)")


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            "description": "the workspace as a zip: originals/, metadata.jsonl, sessions.json, "
            "reflections.json, flags/stacks/lineage (.jsonl), workspace.json and README.txt",
        },
        **UNAUTHORIZED,
    },
)
async def export_workspace(request: Request, subject: Subject) -> StreamingResponse:
    """Download the whole workspace as a zip: every original byte for byte, the metadata read from each,
    the sessions (with your cuts and joins), reflections, picks and rejects, stacks and lineage, and a
    README describing the files. Streamed while it is made (no size known in advance); an operator
    can restore it with `atelier admin restore-workspace`."""
    runtime = request.app.state.runtime
    assert runtime.store is not None
    EXPORTS.inc()
    writer = ExportWriter(runtime.pool, runtime.store, subject)
    return StreamingResponse(
        writer.stream(),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{export_filename(subject)}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
