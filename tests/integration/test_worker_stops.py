"""Stopping a worker in the middle of a batch, by SIGKILL or SIGTERM, and starting another loses
nothing and duplicates nothing.

Over real infrastructure of its own (Tansu, SeaweedFS, PostgreSQL on free ports, so no other
test's in-process consumer shares the group): the workers run as real subprocesses. SIGKILL: the
batch in hand is rolled back by the database and redelivered. SIGTERM: the worker takes no new
batch and finishes the one in hand within `shutdown_grace_seconds` (committed, offsets moved), or,
past the grace, hands it back (rolled back, redelivered); it exits cleanly either way. Every wait
polls database state or the worker's own metrics against a deadline.
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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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


def _noise_png(rng: random.Random, size: int = 1024, parameters: str | None = None) -> bytes:
    """A PNG that takes real work to decode (noise over a gradient), optionally with A1111 parameters."""
    from PIL import Image, ImageChops, PngImagePlugin

    grad = Image.linear_gradient("L").resize((size, size)).rotate(rng.uniform(0, 360))
    noise = Image.effect_noise((size, size), rng.uniform(8, 20))
    image = Image.merge("RGB", [grad, ImageChops.add(grad, noise, scale=2.0), noise])
    info = PngImagePlugin.PngInfo()
    if parameters is not None:
        info.add_text("parameters", parameters)
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info, compress_level=1)
    return out.getvalue()


def _generated_png(rng: random.Random) -> bytes:
    """A 1024 px noise PNG with A1111 parameters of its own."""
    seed = rng.randrange(2**32)
    return _noise_png(
        rng, parameters=f"a lighthouse at dusk\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: {seed}"
    )


def _slow_files(count: int, seed: int) -> list[tuple[str, bytes]]:
    """`count` distinct 2048 px PNGs, slow enough to import (about 60 ms each to decode on our
    machines) that a batch of 8 lasts well past the moment the test sees it begin, on a fast CI
    machine too. One image's pixels, encoded once; each file differs by its parameters chunk."""
    from tests.images import with_text_chunk

    rng = random.Random(seed)
    pixels = _noise_png(rng, size=2048)
    return [
        (
            f"slow-{i}.png",
            with_text_chunk(pixels, b"parameters\x00a lighthouse at dusk\nSteps: 20, Seed: %d" % i),
        )
        for i in range(count)
    ]


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_worker(
    env: dict[str, str], log: Path, service: str = "ingest", port: int | None = None, **extra: str
) -> subprocess.Popen[bytes]:
    port = port or _free_port()
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", f"services.{service}"], cwd=REPO,
                                env={**os.environ, **env, **extra, "ATELIER_HTTP_PORT": str(port)},
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
            raise AssertionError(f"the worker exited ({worker.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


@dataclass
class Uploads:
    """Files staged in the object store for one tenant, and the `asset.uploaded` events announcing them."""

    tenant: uuid.UUID
    events: list[Any]
    expected: dict[uuid.UUID, str]  # asset id -> sha256


async def _stage(infra_env: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[Any, Uploads]:
    from libs.common.broker import ensure_topics
    from libs.common.events import AssetUploaded, Event
    from libs.common.settings import CommonSettings
    from libs.common.storage import ObjectStore, original_key

    settings = CommonSettings(**{k.removeprefix("ATELIER_").lower(): v for k, v in infra_env.items()})
    await ensure_topics(settings)
    store = ObjectStore(settings)
    await store.ensure_buckets()
    tenant = uuid.uuid4()
    events, expected = [], {}
    for name, data in files:
        digest = hashlib.sha256(data).hexdigest()
        key = original_key(tenant, digest)
        await store.put(store.originals, key, data)
        asset_id = uuid.uuid5(tenant, digest)
        expected[asset_id] = digest
        events.append(Event.of(AssetUploaded(asset_id=asset_id, sha256=digest, object_key=key, filename=name,
                                              size=len(data)), tenant_id=tenant))  # fmt: skip
    return settings, Uploads(tenant, events, expected)


async def _publish(settings: Any, topic: str, events: list[Any]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send(topic, event.to_bytes(), key=event.key)
        await producer.flush()
    finally:
        await producer.stop()


async def _stored(conn: Any, tenant: uuid.UUID) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM ingest.assets WHERE tenant_id = $1", tenant))


async def _assert_imported_once(conn: Any, uploads: Uploads) -> None:
    """Every asset stored once, with exactly one `asset.imported` queued, and nothing quarantined."""
    from libs.common.events import Topics

    tenant, expected = uploads.tenant, uploads.expected
    rows = await conn.fetch("SELECT asset_id, sha256 FROM ingest.assets WHERE tenant_id = $1", tenant)
    assert len(rows) == len(expected)
    assert {r["asset_id"]: r["sha256"] for r in rows} == expected
    bodies = await conn.fetch("SELECT body FROM ingest.outbox WHERE topic = $1", Topics.ASSET_IMPORTED)
    announced = Counter(
        uuid.UUID(doc["payload"]["asset_id"])
        for doc in (json.loads(b["body"]) for b in bodies)
        if doc["tenant_id"] == str(tenant)
    )
    assert set(announced) == set(expected)
    assert [a for a, n in announced.items() if n != 1] == []
    assert await conn.fetchval("SELECT count(*) FROM ingest.quarantine WHERE tenant_id = $1", tenant) == 0


def _stop(*procs: subprocess.Popen[bytes] | None) -> None:
    for proc in procs:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _batch_in_hand(port: int, group: str, topic: str) -> float:
    """Seconds the worker has been inside its current batch (0 between batches), from its /metrics."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    except httpx.HTTPError:
        return 0.0  # not serving yet
    wanted = f'atelier_consumer_stuck_seconds{{group="{group}",topic="{topic}"}}'
    for line in text.splitlines():
        if line.startswith(wanted):
            return float(line.split()[-1])
    return 0.0


async def test_killed_worker_loses_nothing_and_duplicates_nothing(own_infra, corpus, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import asyncpg
    from aiokafka import AIOKafkaConsumer

    from libs.common.events import Topics

    infra, env = own_infra
    files = _files(corpus)
    assert len(files) == TOTAL
    settings, uploads = await _stage(env, files)
    tenant, expected = uploads.tenant, uploads.expected

    conn = await asyncpg.connect(infra.database_url)
    first = second = None
    try:
        first = _start_worker(env, tmp_path / "ingest-1.log")

        async def schema_ready() -> bool:
            return bool(await conn.fetchval("SELECT to_regclass('ingest.assets') IS NOT NULL"))

        await _poll(schema_ready, 60, "the first worker's migrations", interval=0.05, worker=first)

        async def stored() -> int:
            return await _stored(conn, tenant)

        await _publish(settings, Topics.ASSET_UPLOADED, uploads.events)

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
        await _assert_imported_once(conn, uploads)
    finally:
        _stop(first, second)
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


def _assert_stopped_cleanly(log: Path, outcome: str) -> None:
    """The worker's log says how its batch in hand ended, and that its shutdown went through."""
    said = log.read_text(errors="replace")
    assert f"batch in hand at shutdown {outcome}" in said, said[-2000:]
    assert "service stopped" in said, "the worker did not get through its shutdown"


async def _terminate_mid_batch(
    worker: subprocess.Popen[bytes],
    port: int,
    group: str,
    topic: str,
    grace: float,
    written: Callable[[], Awaitable[int]],
) -> tuple[int, int]:
    """SIGTERM the worker once it is well inside a batch; it must exit cleanly within the grace.
    Returns what `written` counted just before the signal and after the exit. The worker must log
    at INFO for its log to say how its batch ended."""

    async def inside_a_batch() -> bool:
        return await _batch_in_hand(port, group, topic) >= 0.2

    await _poll(inside_a_batch, 90, f"{group} inside a batch", interval=0.02, worker=worker)
    before = await written()
    worker.send_signal(signal.SIGTERM)
    worker.wait(grace + 30)
    # uvicorn re-raises the signal once its shutdown is over: -SIGTERM after a clean stop
    assert worker.returncode in (0, -signal.SIGTERM), f"{group} exited with {worker.returncode}"
    return before, await written()


@pytest.mark.parametrize(("grace", "outcome"), [(30.0, "finished"), (0.0, "handed back")])
async def test_sigterm_mid_batch_finishes_or_hands_back_the_batch(  # type: ignore[no-untyped-def]
    own_infra, tmp_path, grace: float, outcome: str
) -> None:
    """Ingest, SIGTERMed inside a batch: with time to spare it commits that batch and exits; with no
    grace it rolls it back and exits. Either way the next worker imports every file exactly once."""
    import asyncpg

    from libs.common.events import Topics

    infra, env = own_infra
    # only slow files: a batch of 8 takes long enough to land the signal inside it
    files = _slow_files(24, seed=int(grace) + 7)
    settings, uploads = await _stage(env, files)
    conn = await asyncpg.connect(infra.database_url)
    first = second = None
    try:
        port = _free_port()
        log = tmp_path / "ingest-term.log"
        first = _start_worker(
            env, log, port=port, ATELIER_SHUTDOWN_GRACE_SECONDS=str(grace), ATELIER_LOG_LEVEL="INFO"
        )
        # serving before the files are announced, so the test watches the first batch from its start
        await _until_serving(port, first)
        await _publish(settings, Topics.ASSET_UPLOADED, uploads.events)
        before, at_exit = await _terminate_mid_batch(
            first, port, "ingest", Topics.ASSET_UPLOADED, grace, lambda: _stored(conn, uploads.tenant)
        )
        _assert_stopped_cleanly(log, outcome)
        assert at_exit < len(files), "the worker imported everything before the signal: nothing was tested"
        if outcome == "finished":
            assert at_exit > before, "the batch in hand at the signal was not committed"
        else:
            assert at_exit == before, "the batch handed back left rows behind"

        second = _start_worker(env, tmp_path / "ingest-after-term.log")

        async def complete() -> bool:
            return await _stored(conn, uploads.tenant) >= len(files)

        await _poll(complete, 90, "all assets stored by the next worker", interval=0.05, worker=second)

        async def relayed() -> bool:
            return await conn.fetchval("SELECT count(*) FROM ingest.outbox WHERE published_at IS NULL") == 0

        await _poll(relayed, 30, "the outbox relayed", interval=0.05, worker=second)
        await _assert_imported_once(conn, uploads)
    finally:
        _stop(first, second)
        await conn.close()


def _imported_events(tenant: uuid.UUID, count: int, seed: int) -> tuple[list[Any], list[Any]]:
    """`asset.imported` for `count` timed assets of one tenant (bursts with pauses between), and their moments."""
    from libs.common.events import AssetImported, Event
    from libs.sessions.segmentation import Moment

    rng = random.Random(seed)
    at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    events, moments = [], []
    for i in range(count):
        at += timedelta(seconds=rng.choice([5, 20, 40, 90, 600, 3600 * 3]) * rng.uniform(0.5, 1.5))
        asset_id = uuid.uuid5(tenant, str(i))
        payload = AssetImported(asset_id=asset_id, sha256=f"{i:064x}", filename=f"{i}.png", generated_at=at,
                                timestamp_precision="second", prompt=f"subject {i // 50}")  # fmt: skip
        events.append(Event.of(payload, tenant_id=tenant))
        moments.append(Moment(str(asset_id), at))
    return events, moments


async def test_sigterm_mid_batch_clustering_places_every_asset_once(own_infra, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Clustering, SIGTERMed inside a batch, finishes it and exits; the next worker places the rest:
    every asset in exactly one session, and the sessions are the batch segmentation of all of them."""
    import asyncpg

    from libs.common.events import Topics
    from libs.sessions.segmentation import segment

    infra, env = own_infra
    tenant = uuid.uuid4()
    events, moments = _imported_events(tenant, 6000, seed=5)
    settings, _ = await _stage(env, [])
    conn = await asyncpg.connect(infra.database_url)
    first = second = None

    async def placed() -> int:
        if not await conn.fetchval("SELECT to_regclass('clustering.members') IS NOT NULL"):
            return 0
        return int(
            await conn.fetchval("SELECT count(*) FROM clustering.members WHERE tenant_id = $1", tenant)
        )

    async def placed_by_anyone() -> int:
        if not await conn.fetchval("SELECT to_regclass('clustering.members') IS NOT NULL"):
            return 0
        return int(await conn.fetchval("SELECT count(*) FROM clustering.members"))

    try:
        port = _free_port()
        log = tmp_path / "clustering-term.log"
        first = _start_worker(env, log, "clustering", port=port, ATELIER_LOG_LEVEL="INFO",
                              ATELIER_CLUSTERING_BATCH_SIZE="1500")  # fmt: skip
        await _until_serving(port, first)  # watch the first batch from its start, as for ingest
        await _publish(settings, Topics.ASSET_IMPORTED, events)
        # the topic may also hold earlier tests' imports (other tenants): the batch in hand is counted whole
        before, at_exit = await _terminate_mid_batch(
            first, port, "clustering", Topics.ASSET_IMPORTED, 20.0, placed_by_anyone
        )
        _assert_stopped_cleanly(log, "finished")
        assert before < at_exit, f"{before} then {at_exit} placed: the batch in hand was not committed"
        assert await placed() < len(events), "every asset was placed before the signal: nothing was tested"

        second = _start_worker(env, tmp_path / "clustering-after-term.log", "clustering")

        async def complete() -> bool:
            return await placed() >= len(events)

        await _poll(complete, 120, "every asset placed by the next worker", interval=0.1, worker=second)
        rows = await conn.fetch(
            "SELECT asset_id, session_id FROM clustering.members WHERE tenant_id = $1", tenant
        )
        assert len(rows) == len(events) == len({r["asset_id"] for r in rows})
        sessions: dict[uuid.UUID, set[str]] = {}
        for r in rows:
            sessions.setdefault(r["session_id"], set()).add(str(r["asset_id"]))
        expected = {frozenset(m.asset_id for m in s) for s in segment(moments)}
        assert {frozenset(s) for s in sessions.values()} == expected
    finally:
        _stop(first, second)
        await conn.close()


async def _until_serving(port: int, worker: subprocess.Popen[bytes]) -> None:
    import httpx

    async def healthy() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                return (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    await _poll(healthy, 90, "the worker serving", interval=0.1, worker=worker)


async def test_sigterm_mid_batch_credits_settles_every_reservation_once(own_infra, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Credits, SIGTERMed inside a batch of `reflection.completed`, finishes it and exits; the next
    worker settles the rest: every reservation settled once, the ledger balanced."""
    import asyncpg
    import httpx

    from libs.common.db import create_pool
    from libs.common.events import Event, ReflectionCompleted, Topics
    from libs.common.internal import internal_headers
    from services.credits.repository import reconcile

    infra, env = own_infra
    env = env | {"ATELIER_INTERNAL_TOKEN": "worker-stops"}
    settings, _ = await _stage(env, [])
    tenant, count = uuid.uuid4(), 1500
    conn = await asyncpg.connect(infra.database_url)
    first = second = None

    async def settled() -> int:
        return int(await conn.fetchval(
            "SELECT count(*) FROM credits.reservations WHERE tenant_id = $1 AND status = 'settled'", tenant
        ))  # fmt: skip

    try:
        port = _free_port()
        log = tmp_path / "credits-term.log"
        first = _start_worker(env, log, "credits", port=port, ATELIER_LOG_LEVEL="INFO")
        await _until_serving(port, first)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}/internal/v1", timeout=30, headers=internal_headers(settings)
        ) as client:
            opened = await client.get(f"/accounts/{tenant}")
            assert opened.status_code == 200, opened.text
            start = opened.json()["available"]
            r = await client.post(f"/accounts/{tenant}/grants",
                                  json={"credits": count, "reason": "test", "idempotency_key": "grant"})  # fmt: skip
            assert r.status_code == 201, r.text
            lanes = asyncio.Semaphore(16)

            async def reserve(i: int) -> uuid.UUID:
                async with lanes:
                    r = await client.post("/reservations", json={
                        "tenant_id": str(tenant), "credits": 1, "idempotency_key": f"r{i}", "purpose": "test",
                        "ttl_seconds": 3600})  # fmt: skip
                assert r.status_code == 201, r.text
                return uuid.UUID(r.json()["reservation_id"])

            reservations = await asyncio.gather(*(reserve(i) for i in range(count)))
        events = [
            Event.of(ReflectionCompleted(reflection_id=uuid.uuid4(), reservation_id=rid, credits=1, tokens=10),
                     tenant_id=tenant)
            for rid in reservations
        ]  # fmt: skip
        await _publish(settings, Topics.REFLECTION_COMPLETED, events)
        before, at_exit = await _terminate_mid_batch(
            first, port, "credits-reflection-completed", Topics.REFLECTION_COMPLETED, 20.0, settled
        )
        _assert_stopped_cleanly(log, "finished")
        assert before < at_exit < count, f"{before} then {at_exit} of {count} settled"

        port = _free_port()
        second = _start_worker(env, tmp_path / "credits-after-term.log", "credits", port=port)

        async def complete() -> bool:
            return await settled() >= count

        await _poll(
            complete, 120, "every reservation settled by the next worker", interval=0.1, worker=second
        )
        row = await conn.fetchrow(
            "SELECT count(*) AS n, sum(settled_credits) AS spent FROM credits.reservations"
            " WHERE tenant_id = $1 AND status = 'settled'",
            tenant,
        )
        assert (row["n"], row["spent"]) == (count, count)
        pool = await create_pool(infra.database_url, max_size=2)
        try:
            result = await reconcile(pool)
        finally:
            await pool.close()
        assert result.ok, result
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}/internal/v1", headers=internal_headers(settings)
        ) as client:
            account = (await client.get(f"/accounts/{tenant}")).json()
        assert (account["available"], account["reserved"]) == (start, 0)
    finally:
        _stop(first, second)
        await conn.close()


async def test_sigterm_mid_batch_reflection_writes_every_reflection_once(own_infra, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The reflection worker, SIGTERMed inside a batch of `reflection.requested`, finishes it and
    exits; the next worker writes the rest: every reflection completed once, with one outcome event."""
    import httpx

    from libs.common.db import create_pool, migrate
    from libs.common.events import Event, ReflectionRequested, Topics
    from libs.common.internal import internal_headers
    from libs.common.storage import ObjectStore
    from tests.integration.test_reflection import _make_session

    infra, env = own_infra
    env = env | {"ATELIER_INTERNAL_TOKEN": "worker-stops"}
    settings, _ = await _stage(env, [])
    pool = await create_pool(infra.database_url, max_size=4)
    # the sessions the reflections read live in ingest's and clustering's schemas: made as those services make them
    for service in ("ingest", "clustering"):
        await migrate(pool, service, REPO / "services" / service / "migrations")
    tenant = uuid.uuid4()
    # with their card thumbnails in the store, as ingest leaves them: each reflection measures 60 images'
    # pixels, so a batch of ten lasts long enough to land the signal inside it on a quiet machine too
    store = ObjectStore(settings)
    sessions = [
        await _make_session(pool, tenant, 60, start=datetime(2026, 11, 1 + i, 10, tzinfo=UTC), store=store)
        for i in range(3)
    ]
    first = second = None

    async def completed() -> int:
        return int(await pool.fetchval(
            "SELECT count(*) FROM reflection.reflections WHERE tenant_id = $1 AND status = 'completed'", tenant
        ))  # fmt: skip

    try:
        port = _free_port()
        log = tmp_path / "reflection-term.log"
        first = _start_worker(env, log, "reflection", port=port, ATELIER_LOG_LEVEL="INFO")
        await _until_serving(port, first)
        events = []
        base = f"http://127.0.0.1:{port}/internal/v1/tenants/{tenant}"
        async with httpx.AsyncClient(base_url=base, headers=internal_headers(settings), timeout=60) as client:
            for i in range(30):
                session = sessions[i % len(sessions)]
                quote = (await client.post(f"/sessions/{session}/quote")).json()
                rid = uuid.uuid4()
                made = await client.post(
                    "/reflections", json={"quote_id": quote["quote_id"], "reflection_id": str(rid)}
                )
                assert made.status_code == 201, made.text
                payload = ReflectionRequested(reflection_id=rid, session_id=session, quote_id=uuid.UUID(quote["quote_id"]),
                                              reservation_id=uuid.uuid4(), credits=quote["credits"])  # fmt: skip
                events.append(Event.of(payload, tenant_id=tenant))
        await _publish(settings, Topics.REFLECTION_REQUESTED, events)
        before, at_exit = await _terminate_mid_batch(
            first, port, "reflection", Topics.REFLECTION_REQUESTED, 20.0, completed
        )
        _assert_stopped_cleanly(log, "finished")
        assert before < at_exit < len(events), f"{before} then {at_exit} of {len(events)} completed"

        second = _start_worker(env, tmp_path / "reflection-after-term.log", "reflection")

        async def complete() -> bool:
            return await completed() >= len(events)

        await _poll(complete, 120, "every reflection written by the next worker", interval=0.1, worker=second)
        statuses = await pool.fetch(
            "SELECT status, count(*) AS n FROM reflection.reflections WHERE tenant_id = $1 GROUP BY status",
            tenant,
        )
        assert {r["status"]: r["n"] for r in statuses} == {"completed": len(events)}
        bodies = await pool.fetch("SELECT body FROM reflection.outbox")
        outcomes = Counter(
            doc["payload"]["reflection_id"]
            for doc in (json.loads(b["body"]) for b in bodies)
            if doc["tenant_id"] == str(tenant)
        )
        assert sorted(outcomes.values()) == [1] * len(events)
    finally:
        _stop(first, second)
        await pool.close()
