"""How every service consumes events: in batches, idempotently, effects before offsets.

`EventConsumer` wraps one FastStream batch subscriber. For each batch it:
1. parses every record; one that is not a valid event goes to the topic's dead-letter
   topic with the reason, and the batch goes on without it;
2. opens one database transaction, records the event ids in `<schema>.inbox`
   (`INSERT ... ON CONFLICT DO NOTHING RETURNING`), and hands only the events not
   seen before to the handler, which writes its effects (and its own events, through
   the outbox) in that same transaction;
3. commits the transaction, then the Kafka offsets (FastStream's ack).
A crash anywhere before 3 redelivers the batch; the inbox makes the redelivery a no-op.
If the handler raises, the transaction rolls back and the batch is redelivered (nack).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from prometheus_client import Counter, Histogram

from libs.common.events import Event, InvalidEvent, Payload, Topics, parse_event

log = logging.getLogger(__name__)

EVENTS_CONSUMED = Counter("atelier_events_consumed_total", "Events handled", ["group", "topic", "outcome"])
BATCH_SECONDS = Histogram(
    "atelier_consumer_batch_seconds",
    "Time to handle one batch, transaction included",
    ["group", "topic"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCHES_FAILED = Counter(
    "atelier_consumer_batches_failed_total",
    "Batches whose handler raised: rolled back and redelivered (a poison batch shows here)",
    ["group", "topic"],
)
BATCH_SIZE = Histogram(
    "atelier_consumer_batch_size",
    "Events per batch",
    ["group", "topic"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)


@dataclass(frozen=True)
class Delivery:
    """One event as the handler sees it."""

    event: Event
    payload: Payload

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.event.tenant_id


Handler = Callable[[asyncpg.Connection, Sequence[Delivery]], Awaitable[None]]


async def claim_new(conn: asyncpg.Connection, schema: str, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Record event ids as handled; returns those that were not handled before."""
    rows = await conn.fetch(
        f'INSERT INTO "{schema}".inbox (event_id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id',
        list(event_ids),
    )
    return {r["event_id"] for r in rows}


async def _raw_values(message: StreamMessage[Any]) -> list[bytes]:
    """Hand the handler each record's bytes: events are parsed (and dead-lettered) one by one by us,
    so one malformed record cannot fail the decoding of its whole batch."""
    return [record.value for record in message.raw_message]


class EventConsumer:
    def __init__(
        self,
        *,
        broker: KafkaBroker,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        schema: str,
        topic: str,
        group_id: str,
        handler: Handler,
        session_timeout_ms: int = 6000,
        heartbeat_interval_ms: int = 1500,
        max_records: int = 500,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.schema = schema
        self.topic = topic
        self.group_id = group_id
        self.handler = handler
        broker.subscriber(
            topic,
            group_id=group_id,
            batch=True,
            max_records=max_records,
            batch_timeout_ms=50,
            auto_offset_reset="earliest",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_raw_values,
        )(self.handle_batch)

    async def handle_batch(self, bodies: list[bytes]) -> None:
        started = time.perf_counter()
        deliveries: list[Delivery] = []
        for raw in bodies:
            try:
                deliveries.append(Delivery(*parse_event(raw)))
            except InvalidEvent as exc:
                await self._dead_letter(raw, str(exc))
        if deliveries:
            # the same event twice in one batch counts once: keep the first
            unique: dict[uuid.UUID, Delivery] = {}
            for d in deliveries:
                unique.setdefault(d.event.event_id, d)
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    fresh = await claim_new(conn, self.schema, list(unique))
                    new = [d for event_id, d in unique.items() if event_id in fresh]
                    if new:
                        await self.handler(conn, new)
            except Exception:
                BATCHES_FAILED.labels(self.group_id, self.topic).inc()
                log.exception(
                    "batch failed; it will be redelivered",
                    extra={"topic": self.topic, "group": self.group_id},
                )
                raise
            EVENTS_CONSUMED.labels(self.group_id, self.topic, "handled").inc(len(new))
            EVENTS_CONSUMED.labels(self.group_id, self.topic, "duplicate").inc(len(deliveries) - len(new))
        BATCH_SIZE.labels(self.group_id, self.topic).observe(len(bodies))
        BATCH_SECONDS.labels(self.group_id, self.topic).observe(time.perf_counter() - started)

    async def _dead_letter(self, raw: bytes, reason: str) -> None:
        EVENTS_CONSUMED.labels(self.group_id, self.topic, "dead_letter").inc()
        log.warning("event sent to dead-letter topic", extra={"topic": self.topic, "reason": reason})
        await self.producer.send_and_wait(
            Topics.dead_letter(self.topic),
            value=raw,
            headers=[("reason", reason.encode()), ("group", self.group_id.encode())],
        )
