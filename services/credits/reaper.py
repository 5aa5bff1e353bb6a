"""Background work of every credits replica: the reaper and the reconciliation.

The reaper releases pending reservations whose `expires_at` has passed, by the database's clock, so a
crashed worker never holds credits for ever. It runs in every replica: `FOR UPDATE SKIP LOCKED` shares
the due rows out, and the `status = 'pending'` condition of the UPDATE means a reservation is expired
at most once and never after it was settled or released (repository.expire_due).

Reconciliation checks the stored balances against the ledger now and then and reports the result as
metrics (and an error log line naming what differs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.credits import repository
from services.credits.service import REAPER_LAG, CreditsService

log = logging.getLogger(__name__)


class BackgroundWork:
    def __init__(self, service: CreditsService) -> None:
        self.service = service
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._reaper(), name="credits-reaper"),
            asyncio.create_task(self._reconciler(), name="credits-reconciliation"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _reaper(self) -> None:
        interval = self.service.settings.reaper_interval_seconds
        while True:
            try:
                # a full batch: more may be due, go again at once
                while await self.service.expire_due() >= self.service.settings.reaper_batch_size:
                    pass
                async with self.service.pool.acquire() as conn:
                    REAPER_LAG.set(await repository.overdue_seconds(conn))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reaper step failed; trying again")
            await asyncio.sleep(interval)

    async def _reconciler(self) -> None:
        interval = self.service.settings.reconcile_interval_seconds
        while True:
            try:
                result = await self.service.reconcile()
                if not result.ok:
                    log.error(
                        "ledger reconciliation found inconsistencies",
                        extra={
                            "mismatched_wallets": result.mismatched[:10],
                            "unbalanced_transfers": result.unbalanced_transfers[:10],
                            "ledger_total": result.ledger_total,
                            "resolved_twice": result.resolved_twice[:10],
                        },
                    )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciliation failed; trying again later")
            await asyncio.sleep(interval)
