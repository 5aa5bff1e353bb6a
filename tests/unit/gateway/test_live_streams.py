"""The live feed's fan-out and one stream's framing, in memory (no broker: `publish` is what the
broker loop calls for each event)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from libs.common.events import Event, SessionUpdated
from services.gateway.live import STREAM_QUEUE_SIZE, LiveFeed, _stream
from services.gateway.settings import GatewaySettings


def _update(tenant_id: uuid.UUID) -> Event:
    now = datetime.now(UTC)
    return Event.of(
        SessionUpdated(session_id=uuid.uuid4(), start=now, end=now, asset_count=1), tenant_id=tenant_id
    )


async def test_a_stream_sees_its_tenants_events_only_then_heartbeats_and_ends() -> None:
    feed = LiveFeed(GatewaySettings())
    alice, bob = uuid.uuid4(), uuid.uuid4()
    stream = _stream(feed, alice, heartbeat_seconds=0.05, max_seconds=0.3)
    assert await anext(stream) == "retry: 3000\n: connected\n\n"

    mine = _update(alice)
    feed.publish(_update(bob))
    feed.publish(mine)
    frame = await anext(stream)
    assert frame.startswith(f"id: {mine.event_id}\nevent: session.updated\ndata: ")
    assert await anext(stream) == ": heartbeat\n\n"
    rest = [frame async for frame in stream]  # ends by itself at max_seconds
    assert set(rest) <= {": heartbeat\n\n"}
    assert feed._subscribers == {}  # unsubscribed when the stream ended


async def test_a_stream_that_falls_behind_is_told_to_resync() -> None:
    feed = LiveFeed(GatewaySettings())
    tenant = uuid.uuid4()
    stream = _stream(feed, tenant, heartbeat_seconds=5, max_seconds=5)
    await anext(stream)
    for _ in range(STREAM_QUEUE_SIZE + 1):
        feed.publish(_update(tenant))
    assert await anext(stream) == "event: resync\ndata: {}\n\n"
    await stream.aclose()
    assert feed._subscribers == {}
