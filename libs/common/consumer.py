"""How every service consumes events: in batches, idempotently, effects before offsets.

`EventConsumer` wraps one FastStream batch subscriber. For each batch it:
1. parses every record; one that is not a valid event (oversized, malformed, an unknown
   version, a payload that does not validate) goes to the topic's dead-letter topic with the
   reason (a `reason` header, its key kept), and the batch goes on without it;
2. opens one database transaction, records the event ids in `<schema>.inbox`
   (`INSERT ... ON CONFLICT DO NOTHING RETURNING`), and hands only the events not
   seen before to the handler, which writes its effects (and its own events, through
   the outbox) in that same transaction;
3. commits the transaction, then the Kafka offsets (FastStream's ack).
A crash anywhere before 3 redelivers the batch; the inbox makes the redelivery a no-op.

When the handler raises, the transaction rolls back and the failure is judged:
- transient (the database, broker or object store is away: `is_transient`): the consumer
  waits (backing off up to `MAX_BACKOFF_SECONDS`) and the batch is redelivered (nack);
- deterministic (anything else: the same event would fail the same way): the batch is
  replayed one event per transaction, and an event that still fails `POISON_ATTEMPTS` times
  alone is set aside: its id goes to the inbox, the service's `on_poison` hook records why
  (ingest quarantines the file), it goes to the dead-letter topic with the reason, and the
  consumer moves on. One bad event can never hold up the events behind it on its partition.
A dead letter re-driven by `atelier admin replay-dlq` (libs/cli/dead_letters.py) comes back with a
`replayed-from` header naming the dead letter (`topic:partition:offset`). The inbox then claims an id
derived from the event id and that header, not the event id (set aside, it is already in the inbox):
the replay is handled once, and a second replay of the same dead letter changes nothing.

A consumer failing or stuck in one batch for longer than `stuck_after_seconds` makes the
service's readiness check fail and shows in `atelier_consumer_stuck_seconds`.

On SIGTERM (`ServiceRuntime.stop`) the subscriber takes no new batch and the batch in hand gets
`shutdown_grace_seconds` to finish and commit; one still running then is cancelled: its
transaction rolls back and its offsets stay, so the group's next owner handles it whole. Either
way nothing is half-written; `atelier_consumer_shutdown_batches_total` and a log line say which.
"""

from __future__ import annotations

import asyncio
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
from prometheus_client import Counter, Gauge, Histogram

from libs.common.events import Event, InvalidEvent, Payload, Topics, parse_event
from libs.common.failures import is_transient

log = logging.getLogger(__name__)

REPLAYED_FROM = "replayed-from"  # the header a re-driven dead letter carries (libs/cli/dead_letters.py)
_REPLAY_NAMESPACE = uuid.UUID("5d1b6c8e-3f57-4c61-9a5e-0c2f4e8a7d10")

EVENTS_CONSUMED = Counter("atelier_events_consumed_total", "Events handled", ["group", "topic", "outcome"])
BATCH_SECONDS = Histogram(
    "atelier_consumer_batch_seconds",
    "Time to handle one batch, transaction included",
    ["group", "topic"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BATCHES_FAILED = Counter(
    "atelier_consumer_batches_failed_total",
    "Batches whose handler raised and were rolled back, by whether the failure was transient "
    "(retried after a pause) or deterministic (replayed event by event to set the poison aside)",
    ["group", "topic", "kind"],
)
SHUTDOWN_BATCHES = Counter(
    "atelier_consumer_shutdown_batches_total",
    "Batches in hand when the service was asked to stop: finished (committed) or handed back (rolled back, redelivered)",
    ["group", "topic", "outcome"],
)
BATCH_SIZE = Histogram(
    "atelier_consumer_batch_size",
    "Events per batch",
    ["group", "topic"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
POISON_EVENTS = Counter(
    "atelier_consumer_poison_events_total",
    "Events that failed the same way on every attempt and were set aside (dead-lettered, and "
    "quarantined where the service does that)",
    ["group", "topic"],
)
STUCK_SECONDS = Gauge(
    "atelier_consumer_stuck_seconds",
    "How long the consumer has been failing, or inside one batch, without progress (0 when it moves)",
    ["group", "topic"],
)

# a deterministic failure is tried this many times with the event alone before it is set aside
POISON_ATTEMPTS = 3
MAX_BACKOFF_SECONDS = 30.0


# The largest dead-letter value we send: under the producer's 1 MiB max_request_size with room for the
# key and headers. A broker may take bigger records from other producers (Tansu took 2 MiB in `make
# chaos`); such a record is dead-lettered cut to this size with a `truncated-from` header (the original
# size), since sending it whole failed the batch on every delivery and held its partition up for good.
DEAD_LETTER_MAX_BYTES = 1_000_000
TRUNCATED_FROM = "truncated-from"


@dataclass(frozen=True)
class RawRecord:
    """One Kafka record as it came: its key and headers go with it to the dead-letter topic."""

    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()

    def header(self, name: str) -> str | None:
        return next((v.decode(errors="replace") for k, v in self.headers if k == name), None)


@dataclass(frozen=True)
class Delivery:
    """One event as the handler sees it."""

    event: Event
    payload: Payload
    record: RawRecord | None = None

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.event.tenant_id

    @property
    def replayed_from(self) -> str | None:
        return self.record.header(REPLAYED_FROM) if self.record else None

    @property
    def inbox_id(self) -> uuid.UUID:
        """What the inbox claims: the event id, or for a re-driven dead letter an id of its own (the
        event id may be in the inbox already: claimed when the event was set aside)."""
        replayed_from = self.replayed_from
        if replayed_from is None:
            return self.event.event_id
        return uuid.uuid5(_REPLAY_NAMESPACE, f"{self.event.event_id}/{replayed_from}")


Handler = Callable[[asyncpg.Connection, Sequence[Delivery]], Awaitable[None]]
# Records, in the transaction that claims the event, why an event was set aside (e.g. a quarantine row).
PoisonHook = Callable[[asyncpg.Connection, Delivery, str], Awaitable[None]]


async def claim_new(conn: asyncpg.Connection, schema: str, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Record event ids as handled; returns those that were not handled before."""
    rows = await conn.fetch(
        f'INSERT INTO "{schema}".inbox (event_id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id',
        list(event_ids),
    )
    return {r["event_id"] for r in rows}


async def _raw_records(message: StreamMessage[Any]) -> list[RawRecord]:
    """Hand the handler each record as it came: events are parsed (and dead-lettered) one by one by us,
    so one malformed record cannot fail the decoding of its whole batch."""
    return [
        RawRecord(record.value or b"", record.key, tuple((k, bytes(v)) for k, v in record.headers or ()))
        for record in message.raw_message
    ]


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


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
        on_poison: PoisonHook | None = None,
        session_timeout_ms: int = 6000,
        heartbeat_interval_ms: int = 1500,
        max_records: int = 500,
        stuck_after_seconds: float = 60.0,
        retry_pause_seconds: float = 0.5,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.schema = schema
        self.topic = topic
        self.group_id = group_id
        self.handler = handler
        self.on_poison = on_poison
        self.stuck_after_seconds = stuck_after_seconds
        self.retry_pause_seconds = retry_pause_seconds
        # progress, for readiness: when the current failure streak or the batch in hand began
        self._failing_since: float | None = None
        self._batch_since: float | None = None
        self._transient_failures = 0
        self.last_error: str | None = None
        self.stopping = False  # set by ServiceRuntime.stop: the batch in hand is the last one
        STUCK_SECONDS.labels(group_id, topic).set_function(self.stuck_seconds)
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
            decoder=_raw_records,
        )(self.handle_batch)

    # -- progress ------------------------------------------------------------------------------
    def stuck_seconds(self) -> float:
        """Seconds without progress: since the current run of failures began, or since the batch in
        hand started; 0 while batches go through."""
        began = [t for t in (self._failing_since, self._batch_since) if t is not None]
        return time.monotonic() - min(began) if began else 0.0

    def stuck_reason(self) -> str | None:
        """Why readiness should fail, or None while the consumer makes progress."""
        stuck = self.stuck_seconds()
        if stuck < self.stuck_after_seconds:
            return None
        why = (
            f"last error {self.last_error}" if self._failing_since is not None else "one batch still running"
        )
        return f"{self.group_id} on {self.topic}: no progress for {stuck:.0f} s ({why})"

    # -- batches -------------------------------------------------------------------------------
    async def handle_batch(self, bodies: list[Any]) -> None:
        started = time.perf_counter()
        self._batch_since = time.monotonic()
        try:
            deliveries: list[Delivery] = []
            for record in bodies:
                record = record if isinstance(record, RawRecord) else RawRecord(record)
                try:
                    deliveries.append(Delivery(*parse_event(record.value), record=record))
                except InvalidEvent as exc:
                    await self._dead_letter(record, str(exc))
            # the same event twice in one batch counts once: keep the first
            unique: dict[uuid.UUID, Delivery] = {}
            for d in deliveries:
                unique.setdefault(d.inbox_id, d)
            if unique:
                try:
                    handled = await self._apply(list(unique.values()))
                except Exception as exc:
                    await self._retry_later_if_transient(exc)
                    # deterministic: one of these events fails whatever we do; find it, set it aside
                    log.warning(
                        "batch failed the same way twice over; replaying it event by event",
                        extra={"topic": self.topic, "group": self.group_id, "error": _reason(exc)},
                    )
                    handled = 0
                    for d in unique.values():
                        handled += await self._apply_alone(d)
                EVENTS_CONSUMED.labels(self.group_id, self.topic, "handled").inc(handled)
                EVENTS_CONSUMED.labels(self.group_id, self.topic, "duplicate").inc(len(deliveries) - handled)
            self._failing_since, self._transient_failures, self.last_error = None, 0, None
        except asyncio.CancelledError:
            if self.stopping:
                self._at_shutdown("handed_back", len(bodies))
            raise
        else:
            if self.stopping:
                self._at_shutdown("finished", len(bodies))
        finally:
            self._batch_since = None
        BATCH_SIZE.labels(self.group_id, self.topic).observe(len(bodies))
        BATCH_SECONDS.labels(self.group_id, self.topic).observe(time.perf_counter() - started)

    def _at_shutdown(self, outcome: str, records: int) -> None:
        SHUTDOWN_BATCHES.labels(self.group_id, self.topic, outcome).inc()
        log.info(
            f"batch in hand at shutdown {outcome.replace('_', ' ')}",
            extra={"topic": self.topic, "group": self.group_id, "records": records, "outcome": outcome},
        )

    async def _apply(self, deliveries: list[Delivery]) -> int:
        """One transaction: claim the ids, hand the new ones to the handler; returns how many were new."""
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await claim_new(conn, self.schema, [d.inbox_id for d in deliveries])
            new = [d for d in deliveries if d.inbox_id in fresh]
            if replays := [d.event.event_id for d in new if d.inbox_id != d.event.event_id]:
                # a replayed event's own id too, so the original, delivered again, is a no-op
                await claim_new(conn, self.schema, replays)
            if new:
                await self.handler(conn, new)
        return len(new)

    async def _apply_alone(self, delivery: Delivery) -> int:
        """Handle one event in its own transaction, trying a deterministic failure a few times
        before setting the event aside. A transient failure is raised (the batch is redelivered;
        events already handled are inbox no-ops then)."""
        for attempt in range(1, POISON_ATTEMPTS + 1):
            try:
                return await self._apply([delivery])
            except Exception as exc:
                await self._retry_later_if_transient(exc)
                reason = _reason(exc)
                if attempt < POISON_ATTEMPTS:
                    await asyncio.sleep(self.retry_pause_seconds * attempt)
        await self._set_aside(delivery, reason)
        return 0

    async def _retry_later_if_transient(self, exc: Exception) -> None:
        """Count a failure; a transient one waits out a growing pause and is raised again (nack)."""
        now = time.monotonic()
        self._failing_since = self._failing_since or now
        self.last_error = _reason(exc)
        if not is_transient(exc):
            BATCHES_FAILED.labels(self.group_id, self.topic, "deterministic").inc()
            return
        BATCHES_FAILED.labels(self.group_id, self.topic, "transient").inc()
        self._transient_failures += 1
        pause = min(self.retry_pause_seconds * 2 ** (self._transient_failures - 1), MAX_BACKOFF_SECONDS)
        log.warning(
            "batch failed on a dependency; it will be redelivered",
            extra={"topic": self.topic, "group": self.group_id, "error": self.last_error,
                   "retry_in_seconds": pause},
        )  # fmt: skip
        await asyncio.sleep(pause)
        raise exc

    async def _set_aside(self, delivery: Delivery, reason: str) -> None:
        """Claim the event so it is never handled again, let the service record why, and dead-letter it,
        all before the offset moves on: a crash in between handles it again, never loses it."""
        event = delivery.event
        async with self.pool.acquire() as conn, conn.transaction():
            if not await claim_new(conn, self.schema, [delivery.inbox_id]):
                return  # another worker got there first
            if self.on_poison is not None:
                try:
                    async with conn.transaction():  # a savepoint: the hook may fail on the same poison
                        await self.on_poison(conn, delivery, reason)
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    log.exception("poison hook failed; the event is dead-lettered all the same")
            record = delivery.record or RawRecord(event.to_bytes(), event.key)
            await self._dead_letter(record, f"handler failed {POISON_ATTEMPTS} times: {reason}")
        POISON_EVENTS.labels(self.group_id, self.topic).inc()
        log.error(
            "event set aside after failing on every attempt",
            extra={"topic": self.topic, "group": self.group_id, "event_id": str(event.event_id),
                   "tenant_id": str(event.tenant_id), "reason": reason},
        )  # fmt: skip

    async def _dead_letter(self, record: RawRecord, reason: str) -> None:
        """The record as it came (value and key: `replay-dlq` re-publishes them as they were), with why."""
        EVENTS_CONSUMED.labels(self.group_id, self.topic, "dead_letter").inc()
        log.warning("event sent to dead-letter topic", extra={"topic": self.topic, "reason": reason})
        headers = [("reason", reason.encode()), ("group", self.group_id.encode())]
        if replayed_from := record.header(REPLAYED_FROM):
            headers.append((REPLAYED_FROM, replayed_from.encode()))
        value = record.value
        if len(value) > DEAD_LETTER_MAX_BYTES:
            # too big for our producer: sent whole it would fail this batch on every delivery
            headers.append((TRUNCATED_FROM, str(len(value)).encode()))
            value = value[:DEAD_LETTER_MAX_BYTES]
        await self.producer.send_and_wait(
            Topics.dead_letter(self.topic), value=value, key=record.key, headers=headers
        )
