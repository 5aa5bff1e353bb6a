"""The internal API (`/internal/v1`, our services only: libs/common/internal.py).

- `POST /internal/v1/tenants/{tenant_id}/sessions/{session_id}/quote` -> 200 {"quote_id", "credits",
  "expires_at", "model", "session_id", "asset_count", "prompt_tokens", "answer_tokens", "expired"};
  404 unknown session; 422 fewer images than a reflection needs (the reason in `detail`).
- `GET /internal/v1/tenants/{tenant_id}/quotes/{quote_id}` -> the quote (the gateway reserves its
  `credits` on confirm; `expired` says whether it may still be confirmed); 404.
- `POST /internal/v1/tenants/{tenant_id}/reflections` {"quote_id", "reflection_id"} -> 201 (made) or
  200 (it existed) {"reflection_id", "status"}: the `pending` row, for the gateway to make on confirm;
  404 unknown quote; 409 the quote expired, or the id is taken by another quote.
- `GET /internal/v1/tenants/{tenant_id}/reflections/{reflection_id}` -> the reflection; 404.
- `GET /internal/v1/tenants/{tenant_id}/sessions/{session_id}/reflections` -> {"items": [...]}, newest first.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel

from services.reflection import repository
from services.reflection.service import QuoteRefused, ReflectionService, quote_json

router = APIRouter(prefix="/internal/v1")


def _service(request: Request) -> ReflectionService:
    return request.app.state.reflection  # type: ignore[no-any-return]


@router.post("/tenants/{tenant_id}/sessions/{session_id}/quote")
async def quote(tenant_id: uuid.UUID, session_id: uuid.UUID, request: Request) -> dict[str, Any]:
    try:
        return await _service(request).quote(tenant_id, session_id)
    except QuoteRefused as exc:
        raise HTTPException(exc.status, exc.reason) from None


@router.get("/tenants/{tenant_id}/quotes/{quote_id}")
async def get_quote(tenant_id: uuid.UUID, quote_id: uuid.UUID, request: Request) -> dict[str, Any]:
    service = _service(request)
    assert service.pool is not None
    row = await repository.find_quote(service.pool, tenant_id, quote_id)
    if row is None:
        raise HTTPException(404, "no such quote")
    return quote_json(row)


class NewReflection(BaseModel):
    quote_id: uuid.UUID
    reflection_id: uuid.UUID


@router.post("/tenants/{tenant_id}/reflections")
async def create_reflection(
    tenant_id: uuid.UUID, body: NewReflection, request: Request, response: Response
) -> dict[str, Any]:
    service = _service(request)
    assert service.pool is not None
    q = await repository.find_quote(service.pool, tenant_id, body.quote_id)
    if q is None:
        raise HTTPException(404, "no such quote")
    existing = await repository.get_reflection(service.pool, tenant_id, body.reflection_id)
    if existing is None:
        if q["expired"]:
            raise HTTPException(409, "the quote expired: ask for a new one")
        made = await repository.create_pending(
            service.pool,
            reflection_id=body.reflection_id,
            tenant_id=tenant_id,
            session_id=q["session_id"],
            quote_id=q["quote_id"],
            model=q["model"],
        )
        existing = await repository.get_reflection(service.pool, tenant_id, body.reflection_id)
        if existing is None:  # the id belongs to another tenant
            raise HTTPException(409, "this reflection id is taken")
        response.status_code = 201 if made else 200
    if existing["quote_id"] != q["quote_id"]:
        raise HTTPException(409, "this reflection id is taken by another quote")
    return {"reflection_id": str(existing["reflection_id"]), "status": existing["status"]}


@router.get("/tenants/{tenant_id}/reflections/{reflection_id}")
async def get_reflection(tenant_id: uuid.UUID, reflection_id: uuid.UUID, request: Request) -> dict[str, Any]:
    service = _service(request)
    assert service.pool is not None
    row = await repository.get_reflection(service.pool, tenant_id, reflection_id)
    if row is None:
        raise HTTPException(404, "no such reflection")
    return repository.reflection_json(row)


@router.get("/tenants/{tenant_id}/sessions/{session_id}/reflections")
async def session_reflections(
    tenant_id: uuid.UUID, session_id: uuid.UUID, request: Request
) -> dict[str, Any]:
    service = _service(request)
    assert service.pool is not None
    rows = await repository.session_reflections(service.pool, tenant_id, session_id)
    return {"items": [repository.reflection_json(r) for r in rows]}
