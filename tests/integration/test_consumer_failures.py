"""How a consumer meets failure, over the real broker and database (libs/common/consumer.py):
a poison event is set aside and the events behind it on its partition go on; a transient failure
is retried and handled once; a consumer that cannot move fails readiness until it moves again."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from libs.common.broker import ensure_topics
from libs.common.consumer import Delivery
from libs.common.events import AssetRejected, Event, Topics
from libs.common.runtime import ServiceRuntime
from libs.common.settings import CommonSettings
from tests.polling import until

pytestmark = pytest.mark.integration

TENANT = uuid.uuid4()  # every event on one key: one partition, in order

Behaviour = Callable[[Delivery], Awaitable[None]]


class Recorder:
    """A handler writing each event's filename to a table in the same transaction (the effect),
    after `behave` had its say: it raises to make the event fail."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.behave: Behaviour | None = None
        self.calls: list[str] = []

    async def __call__(self, conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            name = d.payload.filename  # type: ignore[attr-defined]
            self.calls.append(name)
            if self.behave is not None:
                await self.behave(d)
            await conn.execute(f'INSERT INTO "{self.schema}".handled (event_id, name) VALUES ($1, $2)',
                               d.event.event_id, name)  # fmt: skip

    async def set_aside(self, conn: asyncpg.Connection, d: Delivery, reason: str) -> None:
        await conn.execute(f'INSERT INTO "{self.schema}".set_aside (event_id, reason) VALUES ($1, $2)',
                           d.event.event_id, reason)  # fmt: skip


@pytest.fixture
async def consumer_service(
    infra: object, tmp_path: Path
) -> AsyncIterator[tuple[ServiceRuntime, Recorder, str]]:
    """A service of its own: its schema, a topic of its own, one consumer with a poison hook."""
    schema = f"failures_{uuid.uuid4().hex[:8]}"
    topic = f"test.failures.{uuid.uuid4().hex[:8]}"
    (tmp_path / "001_tables.sql").write_text(
        "CREATE TABLE handled (event_id uuid PRIMARY KEY, name text NOT NULL);"
        "CREATE TABLE set_aside (event_id uuid PRIMARY KEY, reason text NOT NULL);"
    )
    settings = CommonSettings(
        service_name=schema, consumer_stuck_seconds=1.0, consumer_retry_pause_seconds=0.05
    )
    await ensure_topics(settings, (topic,))
    runtime = ServiceRuntime(settings, schema=schema, migrations_dir=tmp_path)
    recorder = Recorder(schema)
    runtime.consume(topic, f"{schema}-group", recorder, on_poison=recorder.set_aside)
    await runtime.start()
    try:
        yield runtime, recorder, topic
    finally:
        await runtime.stop()


async def _publish(runtime: ServiceRuntime, topic: str, names: list[str]) -> list[Event]:
    events = [Event.of(AssetRejected(asset_id=uuid.uuid4(), filename=n, reason="-"), tenant_id=TENANT)
              for n in names]  # fmt: skip
    for event in events:
        await runtime.producer.send_and_wait(topic, event.to_bytes(), key=event.key)
    return events


async def _handled(runtime: ServiceRuntime, schema: str) -> list[str]:
    return [r["name"] for r in await runtime.pool.fetch(f'SELECT name FROM "{schema}".handled ORDER BY name')]


async def _dead_letters(runtime: ServiceRuntime, topic: str) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(
        Topics.dead_letter(topic),
        bootstrap_servers=runtime.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=3000)
    finally:
        await consumer.stop()
    return [(r.value, dict(r.headers)) for records in batches.values() for r in records]


async def test_a_poison_event_is_set_aside_and_the_events_behind_it_are_handled(consumer_service) -> None:
    runtime, recorder, topic = consumer_service

    async def poison_fails(d: Delivery) -> None:
        if d.payload.filename == "b-poison":  # type: ignore[attr-defined]
            raise ValueError("this event can never be handled")

    recorder.behave = poison_fails
    events = await _publish(runtime, topic, ["a-first", "b-poison", "c-after", "d-after"])

    async def the_rest_handled() -> bool:
        return await _handled(runtime, recorder.schema) == ["a-first", "c-after", "d-after"]

    assert await until(the_rest_handled, within=30.0), await _handled(runtime, recorder.schema)
    poison = events[1]
    [aside] = await runtime.pool.fetch(f'SELECT event_id, reason FROM "{recorder.schema}".set_aside')
    assert aside["event_id"] == poison.event_id
    assert "ValueError: this event can never be handled" in aside["reason"]
    # tried alone a few times before it was set aside, and never again after
    assert recorder.calls.count("b-poison") >= 3
    [(body, headers)] = await until(lambda: _dead_letters(runtime, topic), within=10.0)
    assert Event.model_validate_json(body).event_id == poison.event_id
    assert b"ValueError" in headers["reason"]
    assert (await runtime.healthz()).status_code == 200


async def test_a_transient_failure_is_retried_and_handled_once(consumer_service) -> None:
    runtime, recorder, topic = consumer_service
    failures_left = [2]

    async def database_away_twice(d: Delivery) -> None:
        if failures_left[0]:
            failures_left[0] -= 1
            raise ConnectionRefusedError("the database is restarting")

    recorder.behave = database_away_twice
    await _publish(runtime, topic, ["only"])

    assert await until(lambda: _handled(runtime, recorder.schema), within=30.0) == ["only"]
    assert recorder.calls.count("only") == 3
    assert await runtime.pool.fetchval(f'SELECT count(*) FROM "{recorder.schema}".set_aside') == 0


async def test_a_stuck_consumer_fails_readiness_until_it_moves_again(consumer_service) -> None:
    runtime, recorder, topic = consumer_service
    away = [True]

    async def dependency_away(d: Delivery) -> None:
        if away[0]:
            raise ConnectionResetError("the object store is down")

    recorder.behave = dependency_away
    await _publish(runtime, topic, ["waits"])

    async def not_ready() -> dict[str, str] | None:
        response = await runtime.healthz()
        return None if response.status_code == 200 else json.loads(response.body)["checks"]

    checks = await until(not_ready, within=20.0)
    assert checks, "readiness never noticed the stuck consumer"
    [stuck] = [v for k, v in checks.items() if k.startswith("consumer ")]
    assert "no progress" in stuck and "ConnectionResetError" in stuck
    group = f"{runtime.schema}-group"
    assert _gauge(group, topic) >= 1.0

    away[0] = False

    async def ready_again() -> bool:
        return (await runtime.healthz()).status_code == 200

    assert await until(ready_again, within=60.0)
    assert await _handled(runtime, recorder.schema) == ["waits"]
    assert _gauge(group, topic) == 0.0


def _gauge(group: str, topic: str) -> float:
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value("atelier_consumer_stuck_seconds", {"group": group, "topic": topic})
    assert value is not None
    return value
