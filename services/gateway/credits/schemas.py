"""What the credits routes give."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Pack(BaseModel):
    """A credit pack on offer."""

    id: str
    name: str
    credits: int
    price: str = Field(description="the price as a person reads it, e.g. '€5.00'")


class Credits(BaseModel):
    """`GET /api/v1/credits`: the workspace's credits. `available` = `balance` - `reserved` (credits held
    for reflections under way)."""

    balance: int
    reserved: int
    available: int
    packs: list[Pack]


class CreditEntry(BaseModel):
    """One change to the workspace's credits, newest first."""

    id: str
    at: str = Field(description="when, ISO 8601")
    kind: str = Field(description="grant, purchase, reservation, settlement, release, expiry or adjustment")
    credits: int = Field(description="the change to the balance (negative: spent)")
    held: int = Field(description="the change to the credits held for work under way")
    reason: str | None = None


class WebhookReceipt(BaseModel):
    """What the webhook answers the provider: received, and what became of the event."""

    received: bool
    event_id: str
    outcome: str = Field(description="credited, duplicate (a replay: nothing changed) or ignored")
    tenant_id: str | None = None
    credits: int | None = None


class CheckoutRequest(BaseModel):
    pack: str = Field(min_length=1, max_length=40)


class Checkout(BaseModel):
    """Where to pay: the provider's checkout page, or (the built-in test provider) already paid."""

    status: str = Field(
        description="'redirect' (go to `url`) or 'paid' (the test provider: credited already)"
    )
    url: str | None = None
