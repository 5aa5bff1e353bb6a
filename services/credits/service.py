"""The credits service's operations: one transaction each, with the metrics they move.

The HTTP routes (endpoints.py), the reflection-outcome consumers (handlers.py) and the reaper
(reaper.py) all come through here or through repository functions on their own transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

from services.credits import repository
from services.credits.domain import Balances, ReservationRequest
from services.credits.repository import KeyRaced, PurchaseFacts, Reserved, Resolved
from services.credits.settings import CreditsSettings

T = TypeVar("T")

RESERVATIONS = Counter(
    "atelier_credits_reservations_total",
    "Reservation requests by outcome (created, replayed, conflict, insufficient)",
    ["outcome"],
)
SETTLED_CREDITS = Counter("atelier_credits_settled_credits_total", "Credits spent by settlements")
RELEASED_CREDITS = Counter(
    "atelier_credits_released_credits_total",
    "Credits freed from reservations, by how (settlement rest, release, expiry)",
    ["how"],
)
RESOLUTIONS = Counter(
    "atelier_credits_resolutions_total",
    "Settle and release requests by outcome (settled, released, or already resolved)",
    ["request", "outcome"],
)
EXPIRIES = Counter("atelier_credits_expiries_total", "Reservations released by the reaper when due")
REAPER_LAG = Gauge(
    "atelier_credits_reaper_lag_seconds",
    "Age of the oldest pending reservation past its expiry (0 when the reaper is keeping up)",
)
EXPIRY_DELAY = Histogram(
    "atelier_credits_expiry_delay_seconds",
    "How long after its expires_at a reservation was expired",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
GRANTED_CREDITS = Counter("atelier_credits_granted_credits_total", "Credits issued, by source", ["source"])
PURCHASES = Counter("atelier_credits_webhooks_total", "Payment webhooks by outcome", ["outcome"])
RECONCILIATION_OK = Gauge(
    "atelier_credits_reconciliation_ok", "1 when the last ledger reconciliation found everything consistent"
)
RECONCILIATION_MISMATCHES = Gauge(
    "atelier_credits_reconciliation_mismatches",
    "Wallets, transfers and reservations the last reconciliation found inconsistent",
)
RECONCILIATION_LAST = Gauge(
    "atelier_credits_reconciliation_last_run_timestamp_seconds", "When reconciliation last ran"
)

# a transaction that lost a race on an idempotency key, or was chosen as a deadlock victim, runs again
ATTEMPTS = 5


class CreditsService:
    def __init__(self, pool_of: Callable[[], asyncpg.Pool], settings: CreditsSettings) -> None:
        self._pool_of = pool_of
        self.settings = settings

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool_of()

    async def _in_transaction(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    return await work(conn)
            except (KeyRaced, asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                if attempt == ATTEMPTS:
                    raise
                await asyncio.sleep(0.005 * attempt)
        raise AssertionError("unreachable")

    async def account(self, tenant_id: uuid.UUID) -> Balances:
        async with self.pool.acquire() as conn:
            balances = await repository.read_balances(conn, tenant_id)
        if balances is not None:
            return balances
        return await self._in_transaction(
            lambda conn: repository.account(conn, tenant_id, self.settings.starting_grant_credits)
        )

    async def reserve(self, tenant_id: uuid.UUID, key: str, req: ReservationRequest) -> Reserved:
        try:
            reserved = await self._in_transaction(
                lambda conn: repository.reserve(
                    conn, tenant_id, key, req, self.settings.starting_grant_credits
                )
            )
        except repository.Insufficient:
            RESERVATIONS.labels("insufficient").inc()
            raise
        RESERVATIONS.labels(reserved.outcome).inc()
        return reserved

    async def settle(self, reservation_id: uuid.UUID, credits: int) -> Resolved:
        resolved = await self._in_transaction(lambda conn: repository.settle(conn, reservation_id, credits))
        self.count_resolution("settle", resolved)
        return resolved

    async def release(self, reservation_id: uuid.UUID, reason: str | None = None) -> Resolved:
        resolved = await self._in_transaction(lambda conn: repository.release(conn, reservation_id, reason))
        self.count_resolution("release", resolved)
        return resolved

    @staticmethod
    def count_resolution(request: str, resolved: Resolved) -> None:
        if not resolved.changed:
            RESOLUTIONS.labels(request, f"already {resolved.reservation.status.value}").inc()
            return
        RESOLUTIONS.labels(request, resolved.reservation.status.value).inc()
        if resolved.settlement is not None:
            SETTLED_CREDITS.inc(resolved.settlement.settled)
            RELEASED_CREDITS.labels("settlement").inc(resolved.settlement.freed)
        else:
            RELEASED_CREDITS.labels("release").inc(resolved.reservation.credits)

    async def grant(
        self, tenant_id: uuid.UUID, credits: int, reason: str, key: str
    ) -> tuple[str, repository.Grant | None, Balances | None]:
        outcome, grant, balances = await self._in_transaction(
            lambda conn: repository.grant(
                conn, tenant_id, credits, reason, key, self.settings.starting_grant_credits
            )
        )
        if outcome == "created":
            GRANTED_CREDITS.labels("grant" if credits > 0 else "adjustment").inc(abs(credits))
        return outcome, grant, balances

    async def purchase(self, facts: PurchaseFacts) -> bool:
        credited = await self._in_transaction(
            lambda conn: repository.record_purchase(conn, facts, self.settings.starting_grant_credits)
        )
        if credited:
            GRANTED_CREDITS.labels("purchase").inc(facts.credits)
        return credited

    async def ledger(self, tenant_id: uuid.UUID, before: int | None, limit: int) -> list[dict[str, object]]:
        async with self.pool.acquire() as conn:
            return await repository.ledger_page(conn, tenant_id, before, limit)

    async def expire_due(self) -> int:
        """One reaper step; returns how many reservations it expired."""

        async def step(conn: asyncpg.Connection) -> tuple[list[repository.Reservation], list[float]]:
            return await repository.expire_due(conn, self.settings.reaper_batch_size)

        expired, lags = await self._in_transaction(step)
        for reservation, lag in zip(expired, lags, strict=True):
            EXPIRIES.inc()
            RELEASED_CREDITS.labels("expiry").inc(reservation.credits)
            EXPIRY_DELAY.observe(max(lag, 0.0))
        return len(expired)

    async def reconcile(self) -> repository.Reconciliation:
        result = await repository.reconcile(self.pool)
        RECONCILIATION_OK.set(1 if result.ok else 0)
        RECONCILIATION_MISMATCHES.set(
            len(result.mismatched) + len(result.unbalanced_transfers) + len(result.resolved_twice)
        )
        RECONCILIATION_LAST.set_to_current_time()
        return result
