"""`/api/v1/credits`, `/api/v1/credits/history`, `/api/v1/billing/...`: the credits service answers; the
gateway scopes every call to the asking workspace and shapes the answers for people."""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from libs.billing import SIGNATURE_HEADER, stripe_signature
from libs.common.internal import call_internal, internal_headers
from services.gateway.auth import AuthSubject, authenticate
from services.gateway.credits import schemas
from services.gateway.endpoints import UNAUTHORIZED, UNREADABLE_BODY

router = APIRouter(prefix="/api/v1", tags=["credits"])
Subject = Annotated[AuthSubject, Depends(authenticate)]
CURRENCY_SIGNS = {"usd": "$", "eur": "€", "gbp": "£"}


def _settings(request: Request) -> Any:
    return request.app.state.runtime.settings


async def _credits(request: Request, method: str, path: str, **kwargs: Any) -> httpx.Response:
    settings = _settings(request)
    return await call_internal(settings, "credits", settings.credits_url, method, path, **kwargs)


def price_text(minor: int, currency: str) -> str:
    """500 in usd as "$5.00"; a currency without a sign here as "5.00 CHF"."""
    amount = f"{minor // 100:,}.{minor % 100:02d}"
    sign = CURRENCY_SIGNS.get(currency.lower())
    return f"{sign}{amount}" if sign else f"{amount} {currency.upper()}"


def pack_json(pack: dict[str, Any]) -> dict[str, Any]:
    price = price_text(pack["price_minor"], pack.get("currency", "usd"))
    return {"id": pack["id"], "name": pack["name"], "credits": pack["credits"], "price": price}


async def _packs(request: Request) -> list[dict[str, Any]]:
    return list((await _credits(request, "GET", "/internal/v1/packs")).json()["packs"])


@router.get("/credits", response_model=schemas.Credits, responses=UNAUTHORIZED)
async def get_credits(request: Request, subject: Subject) -> dict[str, Any]:
    """Your credits: `balance`, `reserved` (held for reflections under way), `available`, and the packs
    you can buy."""
    account = (await _credits(request, "GET", f"/internal/v1/accounts/{subject.tenant_id}")).json()
    return {
        "balance": account["balance"],
        "reserved": account["reserved"],
        "available": account["available"],
        "packs": [pack_json(p) for p in await _packs(request)],
    }


@router.get("/credits/history", response_model=list[schemas.CreditEntry], responses=UNAUTHORIZED)
async def credit_history(
    request: Request,
    subject: Subject,
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^\d+$")] = None,
) -> Response:
    """What changed your credits, newest first, a page at a time (`X-Next-Cursor` when more follows)."""
    params = {"cursor": cursor} if cursor else {}
    path = f"/internal/v1/accounts/{subject.tenant_id}/ledger"
    page = (await _credits(request, "GET", path, params=params)).json()
    next_cursor = page.get("next_cursor")
    headers = {"X-Next-Cursor": next_cursor} if next_cursor else {}
    return JSONResponse(history_json(page["entries"]), headers=headers)


def history_json(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ledger entries (per account: the workspace's `available` and `held`) as changes a person reads,
    one per transfer: `credits` is what it did to the balance (a grant +100, a settled reflection -50),
    `held` what it moved into or out of the credits held for work under way (a reservation +75, its
    settlement or release -75)."""
    changes: dict[str, dict[str, Any]] = {}
    for e in entries:
        change = changes.setdefault(
            str(e["transfer_id"]),
            {"id": str(e["transfer_id"]), "at": e["created_at"], "kind": e["kind"], "credits": 0, "held": 0,
             "reason": e["reason"]},
        )  # fmt: skip
        change["credits"] += e["credits"]
        if e["account"] == "held":
            change["held"] += e["credits"]
    return list(changes.values())


@router.post(
    "/billing/webhook",
    response_model=schemas.WebhookReceipt,
    responses={400: {"description": "bad signature, stale or not an event"}},
)
async def billing_webhook(request: Request) -> Response:
    """The payment provider's webhook (no account: the provider signs it). The body and its
    `Stripe-Signature` header go to the credits service unchanged, which checks the signature and its
    timestamp and credits the pack once per provider event."""
    settings = _settings(request)
    headers = {
        **internal_headers(settings),
        "Content-Type": request.headers.get("content-type", "application/json"),
    }
    if signature := request.headers.get(SIGNATURE_HEADER):
        headers[SIGNATURE_HEADER] = signature
    try:
        async with httpx.AsyncClient(base_url=settings.credits_url, timeout=30.0) as client:
            answer = await client.post(
                "/internal/v1/billing/webhook", content=await request.body(), headers=headers
            )
    except httpx.HTTPError as exc:
        # the provider retries a delivery that failed: a 503 asks it to
        raise HTTPException(503, f"the credits service is unreachable: {type(exc).__name__}") from None
    if answer.status_code >= 500:
        raise HTTPException(503, "the credits service could not take the event now")
    return Response(answer.content, status_code=answer.status_code, media_type="application/json")


@router.post(
    "/billing/checkout",
    response_model=schemas.Checkout,
    responses={
        **UNAUTHORIZED,
        **UNREADABLE_BODY,
        404: {"description": "no such pack"},
        501: {"description": "no payment provider"},
    },
)
async def checkout(body: schemas.CheckoutRequest, request: Request, subject: Subject) -> dict[str, Any]:
    """Buy a credit pack. With the built-in test provider (`ATELIER_BILLING_TEST_CHECKOUT`, on for
    `make run` and the tests) the purchase completes at once: the gateway signs a completed checkout as
    the provider would and delivers it to the webhook a real payment reaches, so the credits arrive
    through the one path that credits purchases. A real provider's hosted checkout is not wired yet:
    with the test provider off this answers 501."""
    settings = _settings(request)
    if not settings.billing_test_checkout:
        raise HTTPException(501, "buying credits needs a payment provider, and none is configured")
    pack = next((p for p in await _packs(request) if p["id"] == body.pack), None)
    if pack is None:
        raise HTTPException(404, f"no credit pack {body.pack!r}")
    event = {
        "id": f"evt_test_{uuid.uuid4().hex}",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "data": {"object": {
            "id": f"cs_test_{uuid.uuid4().hex}", "object": "checkout.session", "payment_status": "paid",
            "amount_total": pack["price_minor"], "currency": pack.get("currency", "usd"),
            "metadata": {"tenant_id": str(subject.tenant_id), "pack": pack["id"]},
        }},
    }  # fmt: skip
    raw = json.dumps(event).encode()
    headers = {SIGNATURE_HEADER: stripe_signature(settings.billing_webhook_secret, raw, int(time.time())),
               "Content-Type": "application/json"}  # fmt: skip
    await _credits(request, "POST", "/internal/v1/billing/webhook", content=raw, headers=headers)
    return {"status": "paid", "url": None}
