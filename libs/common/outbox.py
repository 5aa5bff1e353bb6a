"""The transactional outbox: a state change and the events it causes commit together.

A service calls `add_to_outbox(conn, events)` inside the transaction that writes its
state; `OutboxRelay` publishes pending rows and marks them sent. A crash between
publishing and marking publishes twice, never zero times; consumers are idempotent
(see `inbox.py`), so the effect happens once.

Each service has its own `<schema>.outbox` table (libs/common/migrations). The relay wakes on NOTIFY for low latency and polls
as a fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge, Histogram

from libs.common.events import Event

log = logging.getLogger(__name__)

OUTBOX_PUBLISHED = Counter(
    "atelier_outbox_published_total", "Events published from the outbox", ["schema", "topic"]
)
OUTBOX_LAG = Histogram(
    "atelier_outbox_lag_seconds",
    "Time from outbox insert to broker acknowledgement",
    ["schema"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


OUTBOX_PENDING = Gauge(
    "atelier_outbox_pending", "Outbox rows not yet published (a stuck relay grows this)", ["schema"]
)
RELAY_ERRORS = Counter("atelier_outbox_relay_errors_total", "Failed relay rounds (retried)", ["schema"])


def _channel(schema: str) -> str:
    return f"{schema}_outbox"


async def add_to_outbox(conn: asyncpg.Connection, schema: str, events: Sequence[Event]) -> None:
    """Queue events in the caller's transaction."""
    if not events:
        return
    await conn.executemany(
        f'INSERT INTO "{schema}".outbox (event_id, topic, key, body) VALUES ($1, $2, $3, $4)',
        [(e.event_id, e.topic, e.key, e.to_bytes()) for e in events],
    )
    await conn.execute("SELECT pg_notify($1, '')", _channel(schema))


# Published outbox rows are kept a day (to look into what was sent), handled event ids two weeks:
# longer than any redelivery we expect (Kafka keeps a week by default), short enough that neither
# table grows without end.
KEEP_PUBLISHED = timedelta(days=1)
KEEP_INBOX = timedelta(days=14)
PRUNE_EVERY_SECONDS = 600.0


async def prune_delivered(pool: asyncpg.Pool, schema: str, *, now: datetime | None = None) -> tuple[int, int]:
    """Delete old published outbox rows and old inbox ids; returns how many of each."""
    now = now or datetime.now(UTC)
    async with pool.acquire() as conn:
        outbox = await conn.execute(
            f'DELETE FROM "{schema}".outbox WHERE published_at < $1', now - KEEP_PUBLISHED
        )
        inbox = await conn.execute(f'DELETE FROM "{schema}".inbox WHERE handled_at < $1', now - KEEP_INBOX)
    return int(outbox.split()[-1]), int(inbox.split()[-1])


class OutboxRelay:
    """Publishes a schema's outbox to Kafka, in insertion order, in batches, and now and then
    prunes what was delivered long ago (`prune_delivered`)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        schema: str,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.schema = schema
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None

    async def start(self) -> None:
        self._listener = await self.pool.acquire()
        await self._listener.add_listener(_channel(self.schema), self._on_notify)
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.schema}")

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener:
            with contextlib.suppress(Exception):
                await self._listener.remove_listener(_channel(self.schema), self._on_notify)
            await self.pool.release(self._listener)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time() + PRUNE_EVERY_SECONDS
        while True:
            try:
                sent = await self.publish_pending()
                if loop.time() >= next_prune:
                    next_prune = loop.time() + PRUNE_EVERY_SECONDS
                    await prune_delivered(self.pool, self.schema)
            except asyncio.CancelledError:
                raise
            except Exception:
                RELAY_ERRORS.labels(self.schema).inc()
                log.exception("outbox relay failed; retrying", extra={"schema": self.schema})
                await asyncio.sleep(self.poll_interval)
                continue
            if sent < self.batch_size:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many rows it sent. Safe to run in several replicas."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f'SELECT id, topic, key, body, created_at FROM "{self.schema}".outbox '
                "WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.batch_size,
            )
            if not rows:
                OUTBOX_PENDING.labels(self.schema).set(0)
                return 0
            futures = [await self.producer.send(r["topic"], value=r["body"], key=r["key"]) for r in rows]
            await asyncio.gather(*futures)
            await conn.execute(
                f'UPDATE "{self.schema}".outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])',
                [r["id"] for r in rows],
            )
            now = await conn.fetchval("SELECT clock_timestamp()")
            if len(rows) == self.batch_size:  # more may be waiting: say how many (cheap on the partial index)
                OUTBOX_PENDING.labels(self.schema).set(
                    await conn.fetchval(
                        f'SELECT count(*) FROM "{self.schema}".outbox WHERE published_at IS NULL'
                    )
                )
            else:
                OUTBOX_PENDING.labels(self.schema).set(0)
        for r in rows:
            OUTBOX_PUBLISHED.labels(self.schema, r["topic"]).inc()
            OUTBOX_LAG.labels(self.schema).observe((now - r["created_at"]).total_seconds())
        return len(rows)
