"""Payment providers: how a signed webhook becomes a paid credit pack.

`PaymentProvider` is what the webhook route needs from a provider: check the signature of the raw
body, and read a completed checkout out of it. `StripeLikeProvider` follows Stripe's scheme, so a
Stripe account (or anything signing the same way) can be plugged in:

    Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>[,v1=...]

The signature covers the timestamp, so an old delivery cannot be replayed with a fresh `t`; a `t`
further than the tolerance (300 s) from now is refused (Stripe's default tolerance). Several `v1`
values are accepted while a secret is being rolled. The event is Stripe's shape, trimmed:

    {"id": "evt_...", "type": "checkout.session.completed", "created": 1764355200,
     "data": {"object": {"id": "cs_...", "object": "checkout.session", "payment_status": "paid",
                         "amount_total": 2000, "currency": "usd",
                         "metadata": {"tenant_id": "<uuid>", "pack": "studio"}}}}

Any other event type is acknowledged and ignored (providers send many).
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Protocol

from libs.billing import SIGNATURE_HEADER, stripe_signature
from services.credits.settings import CreditPack

CHECKOUT_COMPLETED = "checkout.session.completed"


class WebhookRefused(ValueError):
    """A delivery we cannot trust or understand: answered 400 with the reason."""


@dataclass(frozen=True)
class CheckoutCompleted:
    event_id: str
    tenant_id: uuid.UUID
    pack: str
    amount_minor: int | None
    currency: str | None
    checkout_id: str | None


@dataclass(frozen=True)
class Delivery:
    """A verified event: its id, its type, and the checkout if it is one we act on."""

    event_id: str
    type: str
    checkout: CheckoutCompleted | None


class PaymentProvider(Protocol):
    name: str
    signature_header: str

    def verify(self, body: bytes, signature: str | None, *, now: float | None = None) -> None:
        """Raise `WebhookRefused` unless `signature` signs `body` with our secret, recently enough."""

    def parse(self, body: bytes) -> Delivery:
        """The event in a verified body (`WebhookRefused` when it is not one)."""


class StripeLikeProvider:
    name = "stripe"
    signature_header = SIGNATURE_HEADER

    def __init__(self, secret: str, *, tolerance_seconds: int = 300) -> None:
        self._secret = secret
        self.tolerance_seconds = tolerance_seconds

    def signature(self, body: bytes, timestamp: int) -> str:
        """The header value a provider would send for `body` at `timestamp` (tests sign with it)."""
        return stripe_signature(self._secret, body, timestamp)

    def verify(self, body: bytes, signature: str | None, *, now: float | None = None) -> None:
        if not signature:
            raise WebhookRefused(f"no {self.signature_header} header")
        timestamp: int | None = None
        candidates: list[str] = []
        for part in signature.split(","):
            name, _, value = part.strip().partition("=")
            if name == "t":
                try:
                    timestamp = int(value)
                except ValueError:
                    raise WebhookRefused("the signature's timestamp is not a number") from None
            elif name == "v1":
                candidates.append(value)
        if timestamp is None or not candidates:
            raise WebhookRefused("the signature header needs t= and v1=")
        expected = self.signature(body, timestamp).split("v1=", 1)[1]
        if not any(hmac.compare_digest(expected.encode(), c.encode()) for c in candidates):
            raise WebhookRefused("the signature does not match the body")
        now = time.time() if now is None else now
        if abs(now - timestamp) > self.tolerance_seconds:
            raise WebhookRefused(
                f"the signature's timestamp is {now - timestamp:.0f} s away from now "
                f"(tolerance {self.tolerance_seconds} s): stale or replayed"
            )

    def parse(self, body: bytes) -> Delivery:
        try:
            event = json.loads(body)
            event_id, kind = str(event["id"]), str(event["type"])
        except (ValueError, KeyError, TypeError):
            raise WebhookRefused("the body is not an event (JSON with id and type)") from None
        if kind != CHECKOUT_COMPLETED:
            return Delivery(event_id, kind, None)
        try:
            session = event["data"]["object"]
            metadata = session.get("metadata") or {}
            tenant_id = uuid.UUID(str(metadata["tenant_id"]))
            pack = str(metadata["pack"])
        except (KeyError, TypeError, ValueError, AttributeError):
            raise WebhookRefused(
                "a completed checkout needs data.object.metadata.tenant_id and .pack"
            ) from None
        if session.get("payment_status", "paid") != "paid":
            # paid later (an async payment method): Stripe then sends checkout.session.async_payment_succeeded
            return Delivery(event_id, kind, None)
        amount = session.get("amount_total")
        return Delivery(
            event_id,
            kind,
            CheckoutCompleted(
                event_id=event_id,
                tenant_id=tenant_id,
                pack=pack,
                amount_minor=int(amount) if isinstance(amount, int) else None,
                currency=session.get("currency"),
                checkout_id=session.get("id"),
            ),
        )


def checkout_event(
    tenant_id: uuid.UUID, pack: CreditPack, *, event_id: str | None = None, checkout_id: str | None = None
) -> bytes:
    """A `checkout.session.completed` body as the provider would send it (tests and the dev tools)."""
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": CHECKOUT_COMPLETED,
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": checkout_id or f"cs_{uuid.uuid4().hex}",
                    "object": "checkout.session",
                    "payment_status": "paid",
                    "amount_total": pack.price_minor,
                    "currency": pack.currency,
                    "metadata": {"tenant_id": str(tenant_id), "pack": pack.id},
                }
            },
        }
    ).encode()
