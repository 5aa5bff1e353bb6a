"""Consumes the reflection service's outcomes: `reflection.completed` settles the reservation by the
credits it names (never above the reservation: the rest is freed), `reflection.failed` releases it.

Each batch runs in the consumer's transaction with the inbox (libs/common/consumer.py), so a
redelivered event changes nothing; and a reservation resolved already (settled through the API,
expired by the reaper) is left as it is: the conditional UPDATE decides.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import asyncpg
from prometheus_client import Counter

from libs.common.consumer import Delivery
from libs.common.events import ReflectionCompleted, ReflectionFailed
from services.credits import domain, repository
from services.credits.service import CreditsService

log = logging.getLogger(__name__)

OUTCOMES = Counter(
    "atelier_credits_reflection_outcomes_total",
    "Reflection outcome events by what credits did with them",
    ["event", "outcome"],
)


async def _reservation_of(
    conn: asyncpg.Connection, delivery: Delivery, event: str
) -> repository.Reservation | None:
    payload = delivery.payload
    assert isinstance(payload, ReflectionCompleted | ReflectionFailed)
    reservation = await repository.find_reservation(conn, payload.reservation_id)
    if reservation is None or reservation.tenant_id != delivery.tenant_id:
        OUTCOMES.labels(event, "unknown_reservation").inc()
        log.warning(
            "reflection outcome names a reservation this tenant does not have; ignored",
            extra={"reservation_id": str(payload.reservation_id), "tenant_id": str(delivery.tenant_id)},
        )
        return None
    return reservation


async def handle_completed(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    for delivery in deliveries:
        payload = delivery.payload
        assert isinstance(payload, ReflectionCompleted)
        reservation = await _reservation_of(conn, delivery, "completed")
        if reservation is None:
            continue
        settlement = domain.settle_capped(reservation.credits, payload.credits)
        if payload.credits > reservation.credits:
            log.warning(
                "reflection asks to settle more than was reserved; settling the reservation",
                extra={"reservation_id": str(reservation.reservation_id), "asked": payload.credits,
                       "reserved": reservation.credits},
            )  # fmt: skip
        resolved = await repository.settle(conn, reservation.reservation_id, settlement.settled)
        CreditsService.count_resolution("settle", resolved)
        OUTCOMES.labels("completed", "settled" if resolved.changed else "already_resolved").inc()


async def handle_failed(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
    for delivery in deliveries:
        payload = delivery.payload
        assert isinstance(payload, ReflectionFailed)
        reservation = await _reservation_of(conn, delivery, "failed")
        if reservation is None:
            continue
        resolved = await repository.release(
            conn, reservation.reservation_id, f"reflection failed: {payload.reason}"
        )
        CreditsService.count_resolution("release", resolved)
        OUTCOMES.labels("failed", "released" if resolved.changed else "already_resolved").inc()
