from __future__ import annotations

from pydantic import BaseModel, Field

from libs.common.settings import CommonSettings


class CreditPack(BaseModel):
    """A pack on offer: `id` is what a checkout's `metadata.pack` names."""

    id: str
    name: str
    credits: int = Field(gt=0)
    price_minor: int = Field(ge=0)  # in the currency's smallest unit (cents)
    currency: str = "usd"


DEFAULT_PACKS = [
    CreditPack(id="starter", name="Starter", credits=100, price_minor=500),
    CreditPack(id="studio", name="Studio", credits=500, price_minor=2000),
    CreditPack(id="pro", name="Pro", credits=2000, price_minor=6000),
]


class CreditsSettings(CommonSettings):
    service_name: str = "credits"
    http_port: int = 8003
    # what a workspace gets when its account opens (ATELIER_STARTING_GRANT_CREDITS)
    starting_grant_credits: int = Field(default=100, ge=0)
    # packs on offer (ATELIER_CREDIT_PACKS, JSON)
    credit_packs: list[CreditPack] = Field(default_factory=lambda: list(DEFAULT_PACKS))
    # the payment provider's webhook signing secret; the default is for `make run` only
    billing_webhook_secret: str = "whsec_atelier_dev_only"
    # a signed webhook older (or further in the future) than this is refused
    billing_webhook_tolerance_seconds: int = 300
    # reservations live at most this long; the reaper releases them when they are due
    max_ttl_seconds: int = 7 * 24 * 3600
    reaper_interval_seconds: float = 1.0
    reaper_batch_size: int = 500
    reconcile_interval_seconds: float = 300.0
