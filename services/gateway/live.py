"""Live updates: session changes pushed to open pages as Server-Sent Events (`GET /api/v1/events`).

`LiveFeed` reads `session.updated` and `session.merged` straight off the broker. Every gateway
replica must see every event (a page is connected to one replica, the change may happen behind
any partition), so each replica joins its own consumer group, `gateway-live-<uuid>`, starting at
the latest offset and committing nothing: a page that was not open has nothing to catch up on,
it reads the sessions list when it opens. This is a notification path, not the inbox-transaction
consumer: nothing is written, and a lost notification costs a page one refresh at its slower poll.

Events are fanned out in memory to the streams of the event's tenant only. Each stream has a
bounded queue; a stream too slow to keep up is told to `resync` (reload everything) instead of
holding the feed back or growing without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from aiokafka import AIOKafkaConsumer
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from prometheus_client import Counter, Gauge

from libs.common.events import Event, InvalidEvent, Topics, parse_event
from libs.common.kafka_security import kafka_client_options
from services.gateway.auth import AuthSubject, authenticate
from services.gateway.endpoints import UNAUTHORIZED
from services.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

LIVE_TOPICS = (
    Topics.SESSION_UPDATED,
    Topics.SESSION_MERGED,
    Topics.REFLECTION_COMPLETED,
    Topics.REFLECTION_FAILED,
    # curation (issue 14): new lineage links and a session's stacks rebuilt, so an open session page
    # redraws its stacks and graph
    Topics.LINEAGE_LINKED,
    Topics.STACK_UPDATED,
)
STREAM_QUEUE_SIZE = 256
# how long start-up waits for the feed's partitions before serving anyway (streams then start a bit late)
READY_TIMEOUT_SECONDS = 15.0

OPEN_STREAMS = Gauge("atelier_gateway_live_streams", "Open event streams (GET /api/v1/events)")
LIVE_EVENTS = Counter("atelier_gateway_live_events_total", "Events read by the live feed, by what became of them",
                      ["outcome"])  # fmt: skip


@dataclass(eq=False)
class Subscriber:
    """One open stream: the tenant it belongs to and the events waiting for it."""

    tenant_id: uuid.UUID
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(STREAM_QUEUE_SIZE))
    # set when the queue was full and an event was dropped: the page must reload everything
    overflowed: bool = False


STOP_TIMEOUT_SECONDS = 10.0


class LiveFeed:
    """This replica's subscription to session events, and the open streams it feeds."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.group_id = f"gateway-live-{uuid.uuid4().hex}"
        self.ready = asyncio.Event()  # partitions assigned and positioned at their end
        self._subscribers: dict[uuid.UUID, set[Subscriber]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        s = self.settings
        self._consumer = AIOKafkaConsumer(
            *LIVE_TOPICS,
            bootstrap_servers=s.kafka_bootstrap,
            group_id=self.group_id,
            client_id=f"{s.service_name}-live",
            auto_offset_reset="latest",
            enable_auto_commit=False,  # a replica's group dies with it: there is no position to keep
            **kafka_client_options(s),  # TLS/SASL as every other Kafka client
            session_timeout_ms=s.kafka_session_timeout_ms,
            heartbeat_interval_ms=s.kafka_heartbeat_interval_ms,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="gateway-live-feed")
        try:
            await asyncio.wait_for(self.ready.wait(), READY_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("live feed not assigned yet; serving anyway", extra={"group": self.group_id})

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer:
            try:
                await asyncio.wait_for(self._consumer.stop(), STOP_TIMEOUT_SECONDS)
            except (Exception, asyncio.CancelledError):
                # with its broker gone, aiokafka's stop() may fail or let its fetcher's cancellation out:
                # a replica's live group dies with it anyway, and the rest of the service must still stop
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
                log.warning("live feed consumer did not stop cleanly", extra={"group": self.group_id})

    def subscribe(self, tenant_id: uuid.UUID) -> Subscriber:
        subscriber = Subscriber(tenant_id)
        self._subscribers.setdefault(tenant_id, set()).add(subscriber)
        OPEN_STREAMS.inc()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        streams = self._subscribers.get(subscriber.tenant_id, set())
        if subscriber in streams:
            streams.discard(subscriber)
            OPEN_STREAMS.dec()
        if not streams:
            self._subscribers.pop(subscriber.tenant_id, None)

    def publish(self, event: Event) -> None:
        """Hand an event to every open stream of its tenant."""
        streams = self._subscribers.get(event.tenant_id, ())
        for subscriber in streams:
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscriber.overflowed = True
        LIVE_EVENTS.labels("delivered" if streams else "no_stream").inc()

    async def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=500)
                if not self.ready.is_set() and consumer.assignment():
                    # resolve "latest" now, so every event published from here on is seen
                    for partition in consumer.assignment():
                        await consumer.position(partition)
                    self.ready.set()
                for records in batches.values():
                    for record in records:
                        self._handle(record.value)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live feed failed; retrying", extra={"group": self.group_id})
                await asyncio.sleep(1.0)

    def _handle(self, raw: bytes | None) -> None:
        try:
            event, _ = parse_event(raw or b"")
        except InvalidEvent:
            # the owner's consumer dead-letters bad records; a notification path just skips them
            LIVE_EVENTS.labels("invalid").inc()
            return
        self.publish(event)


# -- the stream -----------------------------------------------------------------------------------
router = APIRouter(prefix="/api/v1", tags=["live updates"])
Subject = Annotated[AuthSubject, Depends(authenticate)]


def _sse(event: Event) -> str:
    data = {"event_id": str(event.event_id), "type": event.type, "occurred_at": event.occurred_at.isoformat(),
            "payload": event.payload}  # fmt: skip
    return f"id: {event.event_id}\nevent: {event.type}\ndata: {json.dumps(data)}\n\n"


async def _stream(
    feed: LiveFeed, tenant_id: uuid.UUID, heartbeat_seconds: float, max_seconds: float
) -> AsyncIterator[str]:
    subscriber = feed.subscribe(tenant_id)
    # a stream ends after `max_seconds` and EventSource reconnects by itself: an open stream would
    # otherwise hold up a graceful shutdown of this replica for as long as the page stays open
    deadline = asyncio.get_running_loop().time() + max_seconds
    try:
        # the first bytes out: the client knows it is subscribed, and how long to wait before reconnecting
        yield "retry: 3000\n: connected\n\n"
        while asyncio.get_running_loop().time() < deadline:
            wait = min(heartbeat_seconds, deadline - asyncio.get_running_loop().time())
            try:
                event = await asyncio.wait_for(subscriber.queue.get(), max(wait, 0.0))
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            if subscriber.overflowed:
                while not subscriber.queue.empty():
                    subscriber.queue.get_nowait()
                subscriber.overflowed = False
                yield "event: resync\ndata: {}\n\n"
                continue
            yield _sse(event)
    finally:  # the client went away (Starlette cancels the stream) or the server is stopping
        feed.unsubscribe(subscriber)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "the stream"},
        **UNAUTHORIZED,
    },
)
async def events(request: Request, subject: Subject) -> StreamingResponse:
    """Server-Sent Events for the caller's tenant: `session.updated`, `session.merged`,
    `reflection.completed` / `reflection.failed`, `lineage.linked` and `stack.updated` as they happen
    (data: the event's id, type, time and payload), `resync` when this stream fell behind and the page
    should reload, and a comment every `live_heartbeat_seconds` to keep the connection open. The stream
    closes after `live_stream_max_seconds`; EventSource reconnects on its own."""
    settings: GatewaySettings = request.app.state.runtime.settings
    feed: LiveFeed = request.app.state.live_feed
    return StreamingResponse(
        _stream(feed, subject.tenant_id, settings.live_heartbeat_seconds, settings.live_stream_max_seconds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
