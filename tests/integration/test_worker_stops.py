"""Killing an ingest worker in the middle of a batch and starting it again loses nothing and
duplicates nothing.

Over real infrastructure of its own (Tansu, SeaweedFS, PostgreSQL on free ports, so no other
test's in-process ingest consumer shares the group): ingest runs as a real subprocess; ~40 files
(the shared corpus's good images plus generated 1024 px PNGs) are staged in S3 and announced;
as soon as the first batch has committed (and before the last), the worker gets SIGKILL; a new
worker process takes over. Every wait polls database state against a deadline.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TOTAL = 40
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


@pytest.fixture(scope="module")
def own_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, dict[str, str]]]:
    from libs.stack.infra import LocalInfra

    local = LocalInfra(
        tmp_path_factory.mktemp("crash-infra"), ports="free", kafka_storage="memory", database="fresh"
    )
    infra = local.start()
    env = infra.env() | {
        "ATELIER_KAFKA_SESSION_TIMEOUT_MS": "2000",
        "ATELIER_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "ATELIER_KAFKA_PARTITIONS": "4",
        "ATELIER_INGEST_BATCH_SIZE": "8",
        "ATELIER_LOG_LEVEL": "WARNING",
    }
    try:
        yield infra, env
    finally:
        local.stop()


def _generated_png(rng: random.Random) -> bytes:
    """A 1024 px PNG that takes real work to decode (noise over a gradient), with A1111 parameters."""
    from PIL import Image, ImageChops, PngImagePlugin

    grad = Image.linear_gradient("L").resize((1024, 1024)).rotate(rng.uniform(0, 360))
    noise = Image.effect_noise((1024, 1024), rng.uniform(8, 20))
    image = Image.merge("RGB", [grad, ImageChops.add(grad, noise, scale=2.0), noise])
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters",
        f"a lighthouse at dusk\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: {rng.randrange(2**32)}",
    )
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info, compress_level=1)
    return out.getvalue()


def _files(corpus: Path) -> list[tuple[str, bytes]]:
    """Distinct good files: the corpus's images (not `_negative`), topped up with generated ones."""
    files: dict[str, tuple[str, bytes]] = {}
    for path in sorted(corpus.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and "_negative" not in path.parts:
            data = path.read_bytes()
            files.setdefault(hashlib.sha256(data).hexdigest(), (path.name, data))
    # at most 3/4 from the corpus: generated 1024 px PNGs make the batches slow enough to cut into
    chosen = list(files.values())[: TOTAL * 3 // 4]
    rng = random.Random(40)
    while len(chosen) < TOTAL:
        data = _generated_png(rng)
        chosen.append((f"generated-{len(chosen)}.png", data))
    return chosen


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "services.ingest"], cwd=REPO,
                                env={**os.environ, **env, "ATELIER_HTTP_PORT": str(port)},
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


async def _poll(
    predicate: Callable[[], Awaitable[object]],
    timeout: float,
    what: str,
    interval: float = 0.01,
    worker: subprocess.Popen[bytes] | None = None,
) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if worker is not None and worker.poll() is not None:
            raise AssertionError(f"the ingest worker exited ({worker.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


async def test_killed_worker_loses_nothing_and_duplicates_nothing(own_infra, corpus, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import asyncpg
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from libs.common.broker import ensure_topics
    from libs.common.events import AssetUploaded, Event, Topics
    from libs.common.settings import CommonSettings
    from libs.common.storage import ObjectStore, original_key

    infra, env = own_infra
    settings = CommonSettings(**{k.removeprefix("ATELIER_").lower(): v for k, v in env.items()})
    await ensure_topics(settings)
    store = ObjectStore(settings)
    await store.ensure_buckets()

    tenant = uuid.uuid4()
    files = _files(corpus)
    assert len(files) == TOTAL
    events, expected = [], {}
    for name, data in files:
        digest = hashlib.sha256(data).hexdigest()
        key = original_key(tenant, digest)
        await store.put(store.originals, key, data)
        asset_id = uuid.uuid5(tenant, digest)
        expected[asset_id] = digest
        events.append(Event.of(AssetUploaded(asset_id=asset_id, sha256=digest, object_key=key, filename=name,
                                              size=len(data)), tenant_id=tenant))  # fmt: skip

    conn = await asyncpg.connect(infra.database_url)
    first = second = None
    try:
        first = _start_worker(env, tmp_path / "ingest-1.log")

        async def schema_ready() -> bool:
            return bool(await conn.fetchval("SELECT to_regclass('ingest.assets') IS NOT NULL"))

        await _poll(schema_ready, 60, "the first worker's migrations", interval=0.05, worker=first)

        async def stored() -> int:
            return await conn.fetchval("SELECT count(*) FROM ingest.assets WHERE tenant_id = $1", tenant)

        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for event in events:
                await producer.send(Topics.ASSET_UPLOADED, event.to_bytes(), key=event.key)
            await producer.flush()
        finally:
            await producer.stop()

        # the first batch has committed: the worker is now inside the next one
        at_kill = await _poll(stored, 60, "the first stored batch", worker=first)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert first.returncode == -signal.SIGKILL
        assert 1 <= at_kill < TOTAL, f"the kill should land mid-import, {at_kill} of {TOTAL} were stored"
        stored_after_kill = await stored()
        print(f"SIGKILL with {at_kill} of {TOTAL} stored ({stored_after_kill} after the kill)")
        assert stored_after_kill < TOTAL, "everything was stored before the worker died: nothing was tested"

        second = _start_worker(env, tmp_path / "ingest-2.log")

        async def complete() -> bool:
            return await stored() >= TOTAL

        await _poll(complete, 60, "all assets stored by the second worker", interval=0.05, worker=second)

        async def relayed() -> bool:
            return await conn.fetchval("SELECT count(*) FROM ingest.outbox WHERE published_at IS NULL") == 0

        await _poll(relayed, 30, "the outbox relayed", interval=0.05, worker=second)

        # every asset exactly once
        row = await conn.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT sha256) AS shas FROM ingest.assets WHERE tenant_id = $1",
            tenant,
        )
        assert (row["n"], row["shas"]) == (TOTAL, TOTAL)
        rows = await conn.fetch("SELECT asset_id, sha256 FROM ingest.assets WHERE tenant_id = $1", tenant)
        assert {r["asset_id"]: r["sha256"] for r in rows} == expected

        # exactly one asset.imported per asset queued in the outbox
        bodies = await conn.fetch("SELECT body FROM ingest.outbox WHERE topic = $1", Topics.ASSET_IMPORTED)
        announced = Counter(uuid.UUID(json.loads(b["body"])["payload"]["asset_id"]) for b in bodies)
        assert set(announced) == set(expected)
        assert [a for a, n in announced.items() if n != 1] == []

        # good files are never quarantined
        assert await conn.fetchval("SELECT count(*) FROM ingest.quarantine WHERE tenant_id = $1", tenant) == 0
        assert (
            await conn.fetchval("SELECT count(*) FROM ingest.outbox WHERE topic = $1", Topics.ASSET_REJECTED)
            == 0
        )
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        await conn.close()

    # on the topic: no asset without its event (a relay crash may publish twice: at least once)
    consumer = AIOKafkaConsumer(Topics.ASSET_IMPORTED, bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        on_topic: set[uuid.UUID] = set()
        deadline = time.monotonic() + 20
        while set(expected) - on_topic and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    doc = json.loads(record.value)
                    if doc["tenant_id"] == str(tenant):
                        on_topic.add(uuid.UUID(doc["payload"]["asset_id"]))
    finally:
        await consumer.stop()
    assert on_topic == set(expected)
