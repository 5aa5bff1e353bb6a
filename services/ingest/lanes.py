"""Which lane's file a replica analyses first: the interactive lane's, always.

Each replica consumes both lanes side by side (app.py). Separate topics keep a small upload out of a large
import's queue, but on the same replica the two lanes still share the CPU: with a whale's backlog in the bulk
lane, a minnow's files were analysed at half speed (`make chaos` measured its p95 from upload to session
going from 3 s alone to 8 s beside a 3,000-image import, nearly all of it in ingest). So the bulk lane yields:
before each bulk file, it waits while an interactive batch is in hand, and for `linger_seconds` after one
ends (the next batch usually follows within a poll). It waits at most `max_wait_seconds` per file, so a
steady stream of small uploads slows a bulk import but never stops it, nor makes its consumer look stuck
(a batch of 8 bulk files waits 24 s at most, under `consumer_stuck_seconds`, 60).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from prometheus_client import Counter

BULK_YIELD_SECONDS = Counter(
    "atelier_ingest_bulk_yield_seconds_total",
    "Time the bulk lane waited for the interactive lane before analysing a file",
)


class InteractiveFirst:
    def __init__(
        self,
        *,
        linger_seconds: float = 0.25,
        max_wait_seconds: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.linger_seconds = linger_seconds
        self.max_wait_seconds = max_wait_seconds
        self._clock = clock
        self._in_hand = 0
        self._last_ended = float("-inf")
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def interactive_busy(self) -> bool:
        return self._in_hand > 0

    @asynccontextmanager
    async def interactive_batch(self) -> AsyncIterator[None]:
        """Around each interactive batch: the bulk lane waits while it runs."""
        self._in_hand += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_hand -= 1
            self._last_ended = self._clock()
            if self._in_hand == 0:
                self._idle.set()

    async def bulk_turn(self) -> float:
        """Before each bulk file: wait until the interactive lane has been idle for `linger_seconds`, or
        `max_wait_seconds` have passed. Returns the seconds waited."""
        started = self._clock()
        deadline = started + self.max_wait_seconds
        while (now := self._clock()) < deadline:
            if self._in_hand:
                try:
                    await asyncio.wait_for(self._idle.wait(), deadline - now)
                except TimeoutError:
                    break
                continue
            quiet = now - self._last_ended
            if quiet >= self.linger_seconds:
                break
            await asyncio.sleep(min(self.linger_seconds - quiet, deadline - now))
        waited = self._clock() - started
        if waited > 0:
            BULK_YIELD_SECONDS.inc(waited)
        return waited
