"""Dead letters over the real broker and database: every kind of poison ends on the dead-letter topic with
its reason and key while the events behind it are handled, and `atelier admin replay-dlq` re-drives a
dead letter after the fix so that it is handled exactly once (libs/common/consumer.py,
libs/cli/dead_letters.py). Uploads that fail end in ingest's quarantine: tests/integration/test_poison_uploads.py."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from libs.cli.dead_letters import replay_dead_letters
from libs.common.broker import ensure_topics
from libs.common.consumer import Delivery
from libs.common.events import MAX_EVENT_BYTES, AssetRejected, Event, Topics
from libs.common.runtime import ServiceRuntime
from libs.common.settings import CommonSettings
from tests.conftest import REPO
from tests.polling import until

pytestmark = pytest.mark.integration

TENANT = uuid.uuid4()  # every event on one key: one partition, in order
KEY = str(TENANT).encode()


class Recorder:
    """Writes each event's filename to `handled` in the handler's transaction; names in `failing` raise
    (a deterministic failure) until they are taken out of it: the fix."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.failing: set[str] = set()

    async def __call__(self, conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            name = d.payload.filename  # type: ignore[attr-defined]
            if name in self.failing:
                raise ValueError(f"{name} cannot be handled by this release")
            await conn.execute(f'INSERT INTO "{self.schema}".handled (name) VALUES ($1)', name)


@pytest.fixture
async def service(infra: object, tmp_path: Path) -> AsyncIterator[tuple[ServiceRuntime, Recorder, str]]:
    """A service of its own: its schema, a topic of its own, one consumer."""
    schema = f"dlq_{uuid.uuid4().hex[:8]}"
    topic = f"test.dlq.{uuid.uuid4().hex[:8]}"
    (tmp_path / "001_tables.sql").write_text(
        "CREATE TABLE handled (n bigserial PRIMARY KEY, name text NOT NULL);"
    )
    settings = CommonSettings(service_name=schema, consumer_retry_pause_seconds=0.05)
    await ensure_topics(settings, (topic,))
    runtime = ServiceRuntime(settings, schema=schema, migrations_dir=tmp_path)
    recorder = Recorder(schema)
    runtime.consume(topic, f"{schema}-group", recorder)
    await runtime.start()
    try:
        yield runtime, recorder, topic
    finally:
        await runtime.stop()


def _event(name: str, reason: str = "-") -> Event:
    return Event.of(AssetRejected(asset_id=uuid.uuid4(), filename=name, reason=reason), tenant_id=TENANT)


async def _send(runtime: ServiceRuntime, topic: str, *values: bytes) -> None:
    for value in values:
        await runtime.producer.send_and_wait(topic, value, key=KEY)


async def _handled(runtime: ServiceRuntime, schema: str) -> list[str]:
    return [r["name"] for r in await runtime.pool.fetch(f'SELECT name FROM "{schema}".handled ORDER BY n')]


async def _dead_letters(
    runtime: ServiceRuntime, topic: str
) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
    """(key, value, headers) of every record on the topic's dead-letter topic."""
    consumer = AIOKafkaConsumer(
        Topics.dead_letter(topic),
        bootstrap_servers=runtime.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=2000)
    finally:
        await consumer.stop()
    return [(r.key, r.value, dict(r.headers)) for records in batches.values() for r in records]


async def test_every_kind_of_poison_is_dead_lettered_with_its_reason_and_the_rest_is_handled(service) -> None:
    runtime, recorder, topic = service
    recorder.failing = {"fails"}
    unknown_version = _event("from-the-future").model_copy(update={"version": 99}).to_bytes()
    oversized = _event("huge", reason="x" * MAX_EVENT_BYTES).to_bytes()
    assert len(oversized) > MAX_EVENT_BYTES
    await _send(
        runtime,
        topic,
        _event("first").to_bytes(),
        b'{"event_id": "not json at all',
        unknown_version,
        oversized,
        _event("fails").to_bytes(),
        _event("after").to_bytes(),
    )

    async def dead_lettered() -> list[tuple[bytes | None, bytes, dict[str, bytes]]] | None:
        found = await _dead_letters(runtime, topic)
        return found if len(found) >= 4 else None

    letters = await until(dead_lettered, within=30.0)
    assert letters is not None, await _dead_letters(runtime, topic)
    reasons = [headers["reason"].decode() for _, _, headers in letters]
    assert len(letters) == 4, reasons
    assert reasons[0].startswith("malformed envelope")
    assert reasons[1] == "unknown event type/version asset.rejected v99"
    assert reasons[2] == f"oversized event: {len(oversized):,} bytes; the limit is {MAX_EVENT_BYTES:,}"
    assert reasons[3].startswith("handler failed 3 times: ValueError: fails cannot be handled")
    # each as it came: the same bytes under the same key, so a replay can put it back where it was
    assert [key for key, _, _ in letters] == [KEY] * 4
    assert letters[2][1] == oversized and letters[1][1] == unknown_version
    assert Event.model_validate_json(letters[3][1]).payload["filename"] == "fails"

    async def after_handled() -> bool:
        return "after" in await _handled(runtime, recorder.schema)

    assert await until(after_handled, within=10.0)
    assert await _handled(runtime, recorder.schema) == ["first", "after"]


async def test_replay_dlq_redrives_a_dead_letter_after_the_fix_exactly_once(service) -> None:
    runtime, recorder, topic = service
    settings = runtime.settings
    recorder.failing = {"needs-fix"}
    needs_fix = _event("needs-fix")
    await _send(runtime, topic, needs_fix.to_bytes(), b"garbage, never an event", _event("other").to_bytes())

    async def both_dead_lettered() -> bool:
        return len(await _dead_letters(runtime, topic)) == 2

    assert await until(both_dead_lettered, within=30.0), await _dead_letters(runtime, topic)
    assert await until(lambda: _handled(runtime, recorder.schema), within=10.0) == ["other"]

    # a dry run through the CLI says what it would do and changes nothing
    dry = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "libs.cli.main", "admin", "replay-dlq", topic, "--dry-run",
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(dry.communicate(), 60)
    assert dry.returncode == 0, err.decode()
    stdout = out.decode()
    assert f"{topic}: would replay 1, skipped 1 as still invalid" in stdout, stdout
    assert "handler failed 3 times: ValueError: needs-fix cannot be handled" in stdout
    assert "malformed envelope" in stdout

    recorder.failing = set()  # the fix is deployed
    summary = await replay_dead_letters(settings, topic)
    assert summary.replayed == 1
    [(where, reason)] = summary.skipped
    assert where.startswith(f"{Topics.dead_letter(topic)}:0:") and reason.startswith("malformed envelope")

    async def fixed() -> bool:
        return "needs-fix" in await _handled(runtime, recorder.schema)

    assert await until(fixed, within=20.0), await _handled(runtime, recorder.schema)
    # a second run finds nothing left; the original delivered once more is a no-op too
    again = await replay_dead_letters(settings, topic)
    assert (again.replayed, again.skipped) == (0, [])
    await _send(runtime, topic, needs_fix.to_bytes(), _event("sentinel").to_bytes())

    async def sentinel_handled() -> bool:
        return "sentinel" in await _handled(runtime, recorder.schema)

    assert await until(sentinel_handled, within=20.0)  # same key, same partition: behind the duplicate
    assert await _handled(runtime, recorder.schema) == ["other", "needs-fix", "sentinel"]
    assert len(await _dead_letters(runtime, topic)) == 2  # the replay did not fail again


async def test_replay_dlq_limit_replays_only_that_many_and_the_next_run_goes_on(service) -> None:
    runtime, recorder, topic = service
    recorder.failing = {"one", "two", "three"}
    await _send(runtime, topic, *(_event(n).to_bytes() for n in ("one", "two", "three")))

    async def all_dead_lettered() -> bool:
        return len(await _dead_letters(runtime, topic)) == 3

    assert await until(all_dead_lettered, within=40.0)
    recorder.failing = set()
    first = await replay_dead_letters(runtime.settings, topic, limit=2)
    second = await replay_dead_letters(runtime.settings, topic, limit=2)
    assert (first.replayed, second.replayed) == (2, 1)

    async def all_handled() -> bool:
        return len(await _handled(runtime, recorder.schema)) >= 3

    assert await until(all_handled, within=20.0)
    assert sorted(await _handled(runtime, recorder.schema)) == ["one", "three", "two"]
    assert (await replay_dead_letters(runtime.settings, topic)).replayed == 0
