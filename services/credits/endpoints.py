"""The credits service's internal API (`/internal/v1`): reserve, settle, release, accounts, the ledger,
grants, packs and the payment provider's webhook.

Not public: the gateway authenticates the person and names the tenant; this service trusts that, so
only our services may call it (the shared service token of libs/common/internal.py, required on every
route here by app.py). The webhook's body and signature arrive as the provider sent them, forwarded
unchanged by the gateway's public `POST /api/v1/billing/webhook`: the signature is checked here, by
the owner of the balances.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from libs.common.text import ascii_digits
from services.credits import domain, repository
from services.credits.billing import PaymentProvider, WebhookRefused
from services.credits.domain import Balances, ReservationRequest
from services.credits.repository import PurchaseFacts
from services.credits.service import PURCHASES, CreditsService
from services.credits.settings import CreditPack

log = logging.getLogger(__name__)

router = APIRouter(prefix="/internal/v1", tags=["internal: credits"])

MAX_CREDITS = 10**9
Key = Annotated[str, Field(min_length=1, max_length=255)]


class ReserveRequest(BaseModel):
    tenant_id: uuid.UUID
    credits: int = Field(ge=1, le=MAX_CREDITS)
    idempotency_key: Key
    purpose: str = Field(min_length=1, max_length=200)
    ttl_seconds: int = Field(default=900, ge=1)


class ReservationAnswer(BaseModel):
    reservation_id: uuid.UUID
    status: str
    expires_at: datetime
    credits: int
    settled_credits: int | None = None


class SettleRequest(BaseModel):
    credits: int = Field(ge=0, le=MAX_CREDITS)


class ReleaseRequest(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class AccountAnswer(BaseModel):
    balance: int
    reserved: int
    available: int


class GrantRequest(BaseModel):
    credits: int = Field(ge=-MAX_CREDITS, le=MAX_CREDITS)
    reason: str = Field(min_length=1, max_length=500)
    idempotency_key: Key


def _service(request: Request) -> CreditsService:
    return request.app.state.credits


def _provider(request: Request) -> PaymentProvider:
    return request.app.state.payment_provider


def _insufficient(balances: Balances, requested: int) -> JSONResponse:
    return JSONResponse(
        {
            "type": "insufficient_credits",
            "detail": f"{requested} credits asked for, {balances.available} available",
            "balance": balances.balance,
            "reserved": balances.held,
            "available": balances.available,
            "requested": requested,
        },
        status_code=402,
    )


def _reservation_json(r: repository.Reservation) -> dict[str, Any]:
    return {
        "reservation_id": str(r.reservation_id),
        "status": r.status.value,
        "expires_at": r.expires_at.isoformat(),
        "credits": r.credits,
        "settled_credits": r.settled_credits,
    }


@router.post("/reservations", status_code=201, responses={200: {}, 402: {}, 409: {}})
async def reserve(body: ReserveRequest, request: Request) -> JSONResponse:
    """Hold credits for a piece of work. 201 new; 200 the same key's reservation again (whatever it
    became since); 409 the key was used for another request; 402 not enough available credits."""
    service = _service(request)
    if body.ttl_seconds > service.settings.max_ttl_seconds:
        raise HTTPException(422, f"ttl_seconds is at most {service.settings.max_ttl_seconds}")
    req = ReservationRequest(body.credits, body.purpose, body.ttl_seconds)
    try:
        reserved = await service.reserve(body.tenant_id, body.idempotency_key, req)
    except repository.Insufficient as refused:
        return _insufficient(refused.balances, body.credits)
    if reserved.outcome == "conflict":
        return JSONResponse(
            {
                "type": "idempotency_key_reused",
                "detail": "this idempotency key was used for a reservation with other parameters",
                "reservation_id": str(reserved.reservation.reservation_id),
            },
            status_code=409,
        )
    return JSONResponse(
        _reservation_json(reserved.reservation), status_code=201 if reserved.outcome == "created" else 200
    )


@router.get("/reservations/{reservation_id}")
async def get_reservation(reservation_id: uuid.UUID, request: Request) -> dict[str, Any]:
    async with _service(request).pool.acquire() as conn:
        reservation = await repository.find_reservation(conn, reservation_id)
    if reservation is None:
        raise HTTPException(404, "no such reservation")
    return reservation.as_json()


def _resolution(resolved: repository.Resolved) -> dict[str, Any]:
    r = resolved.reservation
    answer: dict[str, Any] = {
        **_reservation_json(r),
        "changed": resolved.changed,
        "released_credits": (
            r.credits - (r.settled_credits or 0) if r.status is not domain.Status.PENDING else 0
        ),
    }
    if not resolved.changed:
        answer["detail"] = f"nothing changed: {domain.resolution_of(r.status)}"
    return answer


@router.post("/reservations/{reservation_id}/settle")
async def settle(reservation_id: uuid.UUID, body: SettleRequest, request: Request) -> dict[str, Any]:
    """Spend `credits` of the reservation (at most what it holds); the rest is freed. A reservation
    resolved before answers 200 with `changed: false` and what it was resolved as."""
    try:
        resolved = await _service(request).settle(reservation_id, body.credits)
    except repository.NotFound:
        raise HTTPException(404, "no such reservation") from None
    except domain.SettleRefused as refused:
        raise HTTPException(422, str(refused)) from None
    return _resolution(resolved)


@router.post("/reservations/{reservation_id}/release")
async def release(
    reservation_id: uuid.UUID, request: Request, body: ReleaseRequest | None = None
) -> dict[str, Any]:
    """Free the whole reservation; 200 with `changed: false` if it was resolved before."""
    try:
        resolved = await _service(request).release(reservation_id, body.reason if body else None)
    except repository.NotFound:
        raise HTTPException(404, "no such reservation") from None
    return _resolution(resolved)


@router.get("/accounts/{tenant_id}")
async def get_account(tenant_id: uuid.UUID, request: Request) -> AccountAnswer:
    """`balance` = `available` + `reserved`. The account opens (with the starting grant) on first use."""
    balances = await _service(request).account(tenant_id)
    return AccountAnswer(**balances.as_json())


@router.get("/accounts/{tenant_id}/ledger")
async def get_ledger(
    tenant_id: uuid.UUID,
    request: Request,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """The tenant's ledger entries, newest first; `next_cursor` pages on (keyset on the entry id)."""
    before: int | None = None
    if cursor:
        if not ascii_digits(cursor):
            raise HTTPException(422, "cursor: use the next_cursor of the previous page")
        before = int(cursor)
    entries = await _service(request).ledger(tenant_id, before, limit)
    next_cursor = str(entries[-1]["entry_id"]) if len(entries) == limit else None
    return {"entries": entries, "next_cursor": next_cursor}


@router.post("/accounts/{tenant_id}/grants", status_code=201, responses={200: {}, 402: {}, 409: {}})
async def grant(tenant_id: uuid.UUID, body: GrantRequest, request: Request) -> JSONResponse:
    """Add credits (support, promotions); negative credits take some back (an adjustment, never below
    what is available). 201 new; 200 the same key again; 409 the key was used for another grant."""
    if body.credits == 0:
        raise HTTPException(422, "credits: a grant of 0 changes nothing")
    service = _service(request)
    try:
        outcome, granted, _ = await service.grant(tenant_id, body.credits, body.reason, body.idempotency_key)
    except repository.Insufficient as refused:
        return _insufficient(refused.balances, -body.credits)
    assert granted is not None
    if outcome == "conflict":
        return JSONResponse(
            {"type": "idempotency_key_reused", "detail": "this idempotency key was used for another grant"},
            status_code=409,
        )
    account = await service.account(tenant_id)
    return JSONResponse(
        {**granted.as_json(), "account": account.as_json()}, status_code=201 if outcome == "created" else 200
    )


@router.get("/packs")
async def packs(request: Request) -> dict[str, list[CreditPack]]:
    """The credit packs on offer (setting `credit_packs`)."""
    return {"packs": _service(request).settings.credit_packs}


@router.post("/billing/webhook")
async def billing_webhook(
    request: Request, stripe_signature: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    """The payment provider's event, raw body and signature as sent. 400 when the signature is wrong or
    its timestamp stale, or the event cannot be credited; 200 otherwise, once per provider event id
    (a replay answers 200 and changes nothing, so the provider stops retrying)."""
    provider = _provider(request)
    service = _service(request)
    body = await request.body()
    signature = request.headers.get(provider.signature_header, stripe_signature)
    try:
        provider.verify(body, signature)
        delivery = provider.parse(body)
    except WebhookRefused as refused:
        PURCHASES.labels("refused").inc()
        log.warning("payment webhook refused", extra={"reason": str(refused)})
        raise HTTPException(400, str(refused)) from None
    if delivery.checkout is None:
        PURCHASES.labels("ignored").inc()
        return {"received": True, "event_id": delivery.event_id, "outcome": "ignored"}
    checkout = delivery.checkout
    pack = next((p for p in service.settings.credit_packs if p.id == checkout.pack), None)
    if pack is None:
        PURCHASES.labels("refused").inc()
        raise HTTPException(400, f"unknown credit pack {checkout.pack!r}")
    credited = await service.purchase(
        PurchaseFacts(
            provider=provider.name,
            event_id=checkout.event_id,
            tenant_id=checkout.tenant_id,
            pack=pack.id,
            credits=pack.credits,
            amount_minor=checkout.amount_minor,
            currency=checkout.currency,
            checkout_id=checkout.checkout_id,
        )
    )
    outcome = "credited" if credited else "duplicate"
    PURCHASES.labels(outcome).inc()
    return {
        "received": True,
        "event_id": delivery.event_id,
        "outcome": outcome,
        "tenant_id": str(checkout.tenant_id),
        "credits": pack.credits if credited else 0,
    }
