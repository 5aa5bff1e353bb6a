"""The credits service: owns every balance. A double-entry ledger (migrations/002_ledger.sql), two-phase
reservations (reserve, then settle at most the amount or release; a reaper expires the forgotten ones
on the database's clock), grants, and credit packs bought through a payment provider's signed webhook.

Internal API only (endpoints.py); consumes `reflection.completed` / `reflection.failed` to settle or
release (handlers.py); publishes `credits.*` through its outbox.
"""

from __future__ import annotations

from pathlib import Path

from libs.common.events import Topics
from libs.common.internal import require_internal_caller
from libs.common.runtime import ServiceRuntime
from services.credits.billing import StripeLikeProvider
from services.credits.consumers import LateConsumers
from services.credits.endpoints import router
from services.credits.handlers import handle_completed, handle_failed
from services.credits.reaper import BackgroundWork
from services.credits.repository import SCHEMA
from services.credits.service import CreditsService
from services.credits.settings import CreditsSettings


def build(settings: CreditsSettings | None = None) -> ServiceRuntime:
    settings = settings or CreditsSettings()
    runtime = ServiceRuntime(settings, schema=SCHEMA, migrations_dir=Path(__file__).parent / "migrations")
    service = CreditsService(lambda: runtime.pool, settings)
    # a group per topic: two subscriptions sharing one group id would rebalance each other on every join;
    # started after the API is up (consumers.py says why)
    consumers = LateConsumers(
        runtime,
        [
            (Topics.REFLECTION_COMPLETED, "credits-reflection-completed", handle_completed),
            (Topics.REFLECTION_FAILED, "credits-reflection-failed", handle_failed),
        ],
    )
    background = BackgroundWork(service)
    runtime.on_start(background.start)
    runtime.on_start(consumers.start)
    runtime.on_stop(consumers.stop)
    runtime.on_stop(background.stop)
    runtime.app.state.runtime = runtime
    runtime.app.state.credits = service
    runtime.app.state.payment_provider = StripeLikeProvider(
        settings.billing_webhook_secret, tolerance_seconds=settings.billing_webhook_tolerance_seconds
    )
    # only our services may call it: it trusts the tenant ids it is given (libs/common/internal.py)
    runtime.app.include_router(router, dependencies=[require_internal_caller(settings)])  # type: ignore[list-item]
    return runtime
