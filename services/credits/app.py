"""The credits service: balances and the ledger (quotes, reservations and settlement come in their own issue)."""

from __future__ import annotations

from pathlib import Path

from libs.common.runtime import ServiceRuntime
from services.credits.settings import CreditsSettings

SCHEMA = "credits"


def build(settings: CreditsSettings | None = None) -> ServiceRuntime:
    settings = settings or CreditsSettings()
    return ServiceRuntime(settings, schema=SCHEMA, migrations_dir=Path(__file__).parent / "migrations")
