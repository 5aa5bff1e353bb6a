"""The paid flow, as ../shared/notes/architecture.md draws it: the gateway asks reflection for a quote;
on confirm (with an `Idempotency-Key`) it reserves the quoted credits (402 if short), has reflection
create the pending reflection, and in the transaction that stores the answer under the key puts
`reflection.requested` in its outbox. The worker writes the reflection and publishes its outcome; the
credits service settles or releases. Every step is idempotent, so two confirms with one key, a retry
after a crash, or a redelivered event charge once."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from libs.common.events import Event, ReflectionRequested
from libs.common.internal import call_internal, internal_headers
from libs.common.outbox import add_to_outbox
from services.gateway import repository as gateway_repository
from services.gateway.auth import AuthSubject, authenticate
from services.gateway.credits.endpoints import pack_json
from services.gateway.endpoints import UNAUTHORIZED, UNREADABLE_BODY, refusal
from services.gateway.reflections import repository, schemas

router = APIRouter(prefix="/api/v1", tags=["reflections"])
Subject = Annotated[AuthSubject, Depends(authenticate)]
OPERATION = "reflect"
# a reservation lives this long: past it, a reflection nobody finished gives its credits back
RESERVATION_TTL_SECONDS = 1800
PROBLEM_TYPE = "https://atelier.example/problems/insufficient-credits"
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=8, max_length=200)]


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


async def _internal(request: Request, service: str, method: str, path: str, **kwargs: Any) -> Any:
    settings = _runtime(request).settings
    base = settings.reflection_url if service == "reflection" else settings.credits_url
    return await call_internal(settings, service, base, method, path, **kwargs)


@router.post(
    "/sessions/{session_id}/reflection/quote",
    response_model=schemas.Quote,
    responses={
        **UNAUTHORIZED,
        404: refusal("no such session"),
        422: {"model": schemas.Unprocessable, "description": "fewer than 50 images, or a malformed request"},
    },
)
async def quote(session_id: uuid.UUID, request: Request, subject: Subject) -> dict[str, Any]:
    """What a reflection of this session costs (valid for 15 minutes). A session of fewer than 50
    images is a 422 saying so."""
    path = f"/internal/v1/tenants/{subject.tenant_id}/sessions/{session_id}/quote"
    q = (await _internal(request, "reflection", "POST", path)).json()
    return {
        "quote_id": q["quote_id"],
        "credits": q["credits"],
        "expires_at": q["expires_at"],
        "model": q["model"],
    }


def _digest(session_id: uuid.UUID, quote_id: uuid.UUID) -> str:
    return hashlib.sha256(f"{OPERATION}:{session_id}:{quote_id}".encode()).hexdigest()


async def _insufficient(
    request: Request, subject: AuthSubject, price: int, refusal: dict[str, Any]
) -> JSONResponse:
    packs = (await _internal(request, "credits", "GET", "/internal/v1/packs")).json()["packs"]
    body = {
        "type": PROBLEM_TYPE,
        "title": "Not enough credits",
        "status": 402,
        "detail": f"this reflection costs {price} credits and {refusal.get('available', 0)} are available",
        "balance": refusal.get("balance"),
        "available": refusal.get("available"),
        "price": price,
        "packs": [pack_json(p) for p in packs],
    }
    return JSONResponse(body, status_code=402, media_type="application/problem+json")


@router.post(
    "/sessions/{session_id}/reflections",
    status_code=202,
    response_model=schemas.ReflectionAccepted,
    responses={
        **UNAUTHORIZED,
        **UNREADABLE_BODY,
        402: {"content": {"application/problem+json": {}}, "description": "not enough credits: balance, price, packs"},
        404: refusal("no such session or quote"),
        409: refusal("the key was used for another request, or the quote expired"),
    },
)  # fmt: skip
async def request_reflection(
    session_id: uuid.UUID,
    body: schemas.ReflectionRequest,
    request: Request,
    subject: Subject,
    idempotency_key: IdempotencyKey,
) -> Any:
    """Confirm a quote: its credits are reserved and the reflection starts (202). Send an
    `Idempotency-Key` (a random string per confirmation): the same key again answers the same
    reflection and charges nothing more; with another session or quote it is a 409. Short of credits:
    402 `application/problem+json` with `balance`, `price` and the `packs` on offer (nothing is kept
    under the key then: buy credits and send the same key again)."""
    runtime = _runtime(request)
    digest = _digest(session_id, body.quote_id)
    stored = await repository.stored_answer(runtime.pool, subject.tenant_id, idempotency_key)
    if stored is not None:
        if stored["request_digest"] != digest:
            raise HTTPException(409, "this Idempotency-Key was used for another request")
        return JSONResponse(stored["response"], status_code=stored["status_code"])

    tenant = subject.tenant_id
    q = (
        await _internal(request, "reflection", "GET", f"/internal/v1/tenants/{tenant}/quotes/{body.quote_id}")
    ).json()
    if uuid.UUID(str(q["session_id"])) != session_id:
        raise HTTPException(404, "no such quote for this session")
    if q.get("expired"):
        raise HTTPException(409, "the quote expired: ask for a new one")
    # one reflection per key, whoever gets here first
    reflection_id = uuid.uuid5(uuid.NAMESPACE_URL, f"atelier:reflection:{tenant}:{idempotency_key}")
    settings = runtime.settings
    reserved = await _reserve(request, {
        "tenant_id": str(tenant), "credits": q["credits"], "idempotency_key": f"reflection:{tenant}:{idempotency_key}",
        "purpose": f"reflection {reflection_id}", "ttl_seconds": RESERVATION_TTL_SECONDS,
    })  # fmt: skip
    if reserved.status_code == 402:
        return await _insufficient(request, subject, q["credits"], reserved.json())
    if reserved.status_code == 409:
        raise HTTPException(409, "this Idempotency-Key was used for another request")
    if reserved.status_code not in (200, 201):
        raise HTTPException(502, f"the credits service answered {reserved.status_code}")
    reservation = reserved.json()
    await call_internal(
        settings, "reflection", settings.reflection_url, "POST", f"/internal/v1/tenants/{tenant}/reflections",
        json={"quote_id": str(body.quote_id), "reflection_id": str(reflection_id)},
    )  # fmt: skip
    answer = {"reflection_id": str(reflection_id), "status": "pending"}
    event = Event.of(
        ReflectionRequested(
            reflection_id=reflection_id, session_id=session_id, quote_id=body.quote_id,
            reservation_id=uuid.UUID(str(reservation["reservation_id"])), credits=q["credits"],
        ),
        tenant_id=tenant,
    )  # fmt: skip
    async with runtime.pool.acquire() as conn, conn.transaction():
        if await repository.store_answer(conn, tenant, idempotency_key, OPERATION, digest, 202, answer):
            await add_to_outbox(conn, "gateway", [event])
    # a concurrent confirm with the same key may have stored first: its answer is the same reflection
    return JSONResponse(answer, status_code=202)


async def _reserve(request: Request, body: dict[str, Any]) -> httpx.Response:
    """Reserve credits, keeping the 402 and 409 answers (call_internal would turn them into errors)."""
    settings = _runtime(request).settings
    try:
        async with httpx.AsyncClient(base_url=settings.credits_url, timeout=30.0) as client:
            return await client.post(
                "/internal/v1/reservations", json=body, headers=internal_headers(settings)
            )
    except httpx.HTTPError as exc:
        raise HTTPException(503, f"the credits service is unreachable: {type(exc).__name__}") from None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def reflection_json(row: Any) -> dict[str, Any]:
    return {
        "reflection_id": str(row["reflection_id"]),
        "session_id": str(row["session_id"]),
        "status": row["status"],
        "model": row["model"],
        "curator": row["curator"],
        "summary": row["summary"],
        "summary_statements": row["summary_statements"] or [],
        "style_patterns": row["style_patterns"] or [],
        "evolution_notes": row["evolution_notes"] or [],
        "facts": row["facts"] or [],
        "credits_reserved": row["credits_reserved"],
        "credits_charged": row["credits_charged"],
        "error": row["error"],
        "created_at": row["created_at"].isoformat(),
        "completed_at": _iso(row["completed_at"]),
    }


@router.get(
    "/reflections/{reflection_id}",
    response_model=schemas.Reflection,
    responses={**UNAUTHORIZED, 404: refusal("no such reflection")},
)
async def get_reflection(reflection_id: uuid.UUID, request: Request, subject: Subject) -> dict[str, Any]:
    """A reflection: its status, and once completed its summary of exploration, style patterns and
    evolution notes (each statement with the images it cites), the facts it rests on, its price."""
    row = await repository.reflection(_runtime(request).pool, subject, reflection_id)
    if row is None:
        raise HTTPException(404, "no such reflection")
    return reflection_json(row)


@router.get(
    "/sessions/{session_id}/reflections",
    response_model=list[schemas.Reflection],
    responses={**UNAUTHORIZED, 404: refusal("no such session")},
)
async def list_reflections(session_id: uuid.UUID, request: Request, subject: Subject) -> list[dict[str, Any]]:
    """The session's reflections, newest first. Another workspace's session, like an unknown one, is a
    404 (not an empty list, which would confirm nothing but still answer for an id that is not yours);
    a merged-away id lists the reflections of the session it became."""
    pool = _runtime(request).pool
    row, resolved = await gateway_repository.session(pool, subject, session_id)
    if row is None:
        raise HTTPException(404, "no such session")
    rows = await repository.session_reflections(pool, subject, resolved)
    return [reflection_json(r) for r in rows]
