"""From `asset.imported` to a stored session, over the real broker and database.

Set-up: `LocalInfra` (free ports, in-memory Tansu, a fresh database); the clustering runtime
(`services.clustering.app.build()`) runs in this process with session timeout 2000 ms /
heartbeat 500 ms; an aiokafka producer publishes `asset.imported` events for a few tenants
whose generation times come in bursts (4-40 images 6-40 s apart) with pauses (2 min - 3 h)
between them, each tenant's events in its own time order, the tenants interleaved.
A warm-up event is placed first so the consumer has joined its group before the clock starts.

1. Throughput (`pipeline.imported_to_session.events_per_s`): N events are published as fast as
   an aiokafka producer in a child process goes (pre-encoded, so only publishing is timed; a
   separate process, as ingest workers are, so it does not share clustering's event loop); the
   clock runs from the moment the child is told to send until
   `SELECT count(*) FROM clustering.members WHERE session_id IS NOT NULL` counts all N (polled
   every 50 ms). Baseline in the same run: `copy_records_to_table` of N rows of the same shape
   into a scratch copy of `clustering.members` (same primary key and indexes) -> rows/s. The same is
   run first with curation switched off in this process (`ATELIER_CURATION=false`: no lineage, no
   stacks), to fresh tenants: the `..._vs_no_curation` rows give curation's cost as the ratio of the
   two runs (events/s, and CPU per event of this process and of PostgreSQL) under the same load.

2. Latency (`pipeline.imported_to_session.p99_ms_at_500_per_s`, baseline p50): fresh tenants,
   events published at a steady 500/s for ~20 s. Each event gets its own correlation id and a
   per-tenant sequence number; a plain consumer (no group, all partitions, from the end) reads
   `session.updated` / `session.merged` and notes when each arrives. Clustering handles one
   tenant's events in partition order and stamps the events of a batch with the correlation id of
   that tenant's *last* event in the batch; the batch's members, sessions and outbox rows commit
   in one transaction. So seeing a session event whose correlation id has sequence k for tenant T
   proves every event of T up to k has its session stored and announced. An event's latency is
   the time from its send to the first session event of its tenant with sequence >= its own: the
   moment a client listening to `session.updated` (the gateway) could show it. Publish and
   observe times are taken on one monotonic clock in this process. Events never covered count
   as lost and are reported.

In the latency phase the paced producer, clustering and the observer share this process; all of
it shares the machine's 2 cores with Tansu and PostgreSQL (and whatever else runs): absolute
numbers move with load, the ratios less so. The time clustering spent inside its batch handler
during the throughput run is printed from its own histogram, for diagnosis, with the CPU time
this process used per event over the throughput phase (`time.process_time`: the consumer, its
decoding, the outbox relay publishing session events, and the 50 ms count polls; not Tansu or
PostgreSQL), and the CPU per event of Tansu and of the PostgreSQL backends serving this
database over the same phase: unlike events/s these hardly move with other load on the machine.
`BENCH_PIPELINE_PROFILE=out.prof` writes a cProfile of the throughput phase to that file.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures import environ, percentile, wait_until

N_EVENTS = 20_000
N_TENANTS = 5
RATE = 500
LATENCY_SECONDS = int(os.environ.get("BENCH_PIPELINE_LATENCY_SECONDS", "20"))
LATENCY_TENANTS = 4


def tenant_times(rng: random.Random, n: int, start: datetime) -> list[datetime]:
    """n generation times in bursts with pauses, like someone at a generator."""
    times: list[datetime] = []
    t = start
    while len(times) < n:
        for _ in range(rng.randrange(4, 41)):
            t += timedelta(seconds=rng.uniform(6, 40))
            times.append(t)
        t += timedelta(seconds=rng.uniform(120, 3 * 3600))
    return times[:n]


def make_events(
    rng: random.Random, tenants: list[uuid.UUID], n: int, start: datetime
) -> list[tuple[uuid.UUID, int, uuid.UUID, uuid.UUID, bytes]]:
    """(tenant, seq, correlation_id, asset_id, body), tenants interleaved, each in time order."""
    from libs.common.events import AssetImported, Event

    per = [n // len(tenants) + (1 if i < n % len(tenants) else 0) for i in range(len(tenants))]
    queues = {t: tenant_times(rng, k, start) for t, k in zip(tenants, per, strict=True)}
    seqs = dict.fromkeys(tenants, 0)
    out = []
    live = list(tenants)
    while live:
        tenant = rng.choice(live)
        when = queues[tenant][seqs[tenant]]
        seqs[tenant] += 1
        if seqs[tenant] == len(queues[tenant]):
            live.remove(tenant)
        asset_id, correlation = uuid.uuid4(), uuid.uuid4()
        event = Event.of(
            AssetImported(asset_id=asset_id, sha256=f"{asset_id.int:064x}"[:64], filename=f"{asset_id.hex[:8]}.png",
                          tool="a1111", prompt=rng.choice(("a lighthouse at dusk", "an astronaut", "a cosy room")),
                          model="sdxl", width=1024, height=1024, generated_at=when, timestamp_source="embedded",
                          timestamp_precision="second", thumbnail_key=f"{tenant}/{asset_id}/card.webp",
                          dominant_color=f"#{rng.randrange(2**24):06x}"),
            tenant_id=tenant, correlation_id=correlation,
        )  # fmt: skip
        out.append((tenant, seqs[tenant], correlation, asset_id, event.to_bytes()))
    return out


async def placed_count(pool) -> int:  # type: ignore[no-untyped-def]
    return await pool.fetchval("SELECT count(*) FROM clustering.members WHERE session_id IS NOT NULL")


async def copy_baseline(pool, n: int, rng: random.Random) -> float:  # type: ignore[no-untyped-def]
    tenants = [uuid.uuid4() for _ in range(N_TENANTS)]
    start = datetime(2026, 6, 1, tzinfo=UTC)
    rows = [
        (
            uuid.uuid4(),
            tenants[i % N_TENANTS],
            uuid.uuid4(),
            start + timedelta(seconds=i),
            "second",
            "a lighthouse at dusk",
            "#a0b0c0",
            f"t/{i}/card.webp",
        )
        for i in range(n)
    ]
    async with pool.acquire() as conn:
        await conn.execute("DROP TABLE IF EXISTS public.bench_members_copy")
        await conn.execute("CREATE TABLE public.bench_members_copy (LIKE clustering.members INCLUDING ALL)")
        began = time.perf_counter()
        await conn.copy_records_to_table(
            "bench_members_copy", schema_name="public", records=rows,
            columns=["asset_id", "tenant_id", "session_id", "generated_at", "precision", "prompt",
                     "dominant_color", "thumbnail_key"],
        )  # fmt: skip
        elapsed = time.perf_counter() - began
        await conn.execute("DROP TABLE public.bench_members_copy")
    return n / elapsed


async def observe(consumer, seen: list[tuple[float, uuid.UUID | None]]) -> None:  # type: ignore[no-untyped-def]
    import json

    while True:
        batches = await consumer.getmany(timeout_ms=100)
        now = time.monotonic()
        for records in batches.values():
            for record in records:
                doc = json.loads(record.value)
                corr = doc.get("correlation_id")
                seen.append((now, uuid.UUID(corr) if corr else None))


def latencies(
    sent: dict[uuid.UUID, tuple[uuid.UUID, int, float]], seen: list[tuple[float, uuid.UUID | None]]
) -> tuple[list[float], int]:
    """Per event: first observation of its tenant with a sequence >= its own, minus its send time."""
    by_tenant: dict[uuid.UUID, list[tuple[float, int]]] = {}
    for at, corr in sorted(seen, key=lambda s: s[0]):
        if corr in sent:
            tenant, seq, _ = sent[corr]
            by_tenant.setdefault(tenant, []).append((at, seq))
    # running maximum of the sequence seen so far, per tenant, in time order
    frontier: dict[uuid.UUID, tuple[list[int], list[float]]] = {}
    for tenant, obs in by_tenant.items():
        highest, seqs, times = 0, [], []
        for at, seq in obs:
            if seq > highest:
                highest = seq
                seqs.append(seq)
                times.append(at)
        frontier[tenant] = (seqs, times)
    values, lost = [], 0
    for tenant, seq, sent_at in sent.values():
        seqs, times = frontier.get(tenant, ([], []))
        i = bisect.bisect_left(seqs, seq)
        if i == len(seqs):
            lost += 1
        else:
            values.append(times[i] - sent_at)
    return values, lost


async def _run() -> list[dict]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from libs.common.events import Topics
    from libs.stack.infra import LocalInfra
    from services.clustering import curation
    from services.clustering.app import build

    rng = random.Random(2026)
    # per-batch "Received/Processed" lines would cost more than some batches
    for name in ("aiokafka", "faststream", "faststream.access.kafka"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with (
        tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp,
        (local := LocalInfra(Path(tmp))) as infra,
    ):
        env = infra.env() | {
            "ATELIER_KAFKA_SESSION_TIMEOUT_MS": "2000",
            "ATELIER_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        }
        with environ(env):
            runtime = build()
        await runtime.start()
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all", linger_ms=2)
        await producer.start()
        try:
            pool = runtime.pool
            # warm-up: the consumer has joined its group and placed something before timing
            warm = make_events(rng, [uuid.uuid4()], 1, datetime(2026, 1, 1, tzinfo=UTC))
            for tenant, _, _, _, body in warm:
                await producer.send_and_wait(Topics.ASSET_IMPORTED, body, key=str(tenant).encode())
            await wait_until(lambda: placed_count(pool), 60, what="warm-up event placed")

            # -- throughput, without and then with curation (lineage and stacks) ----------------
            # the same kind of events to fresh tenants; curation switched off in this process for the first
            # (ATELIER_CURATION=false), so the ratio of the two is the cost of curation under today's load
            curation.set_curation_enabled(False)
            try:
                bare = await _throughput(
                    rng, pool, infra, local, tmp, datetime(2026, 2, 1, tzinfo=UTC), profile=False
                )
            finally:
                curation.set_curation_enabled(True)
            full = await _throughput(
                rng, pool, infra, local, tmp, datetime(2026, 3, 1, tzinfo=UTC), profile=True
            )
            for label, run_ in (("without curation", bare), ("with curation", full)):
                print(
                    f"   {label}: {N_EVENTS} events in {run_.elapsed:.2f} s (publishing took {run_.published:.2f} s) "
                    f"= {run_.rate:,.0f}/s; {run_.batches:.0f} batches, {run_.in_handler:.2f} s inside handle_batch; "
                    f"this process used {run_.cpu_per_event:.0f} µs of CPU per event "
                    f"({', '.join(f'{k} {v:.0f}' for k, v in run_.servers_per_event.items())})",
                    flush=True,
                )
            ours = full.rate
            copy_rate = await copy_baseline(pool, N_EVENTS, rng)
            print(
                f"   throughput: {ours:,.0f}/s with curation, {bare.rate:,.0f}/s without "
                f"({ours / bare.rate:.2f}); COPY {copy_rate:,.0f} rows/s",
                flush=True,
            )

            # -- latency at a steady rate ------------------------------------------------------
            observer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False)
            await observer.start()
            parts = [
                TopicPartition(topic, p)
                for topic in (Topics.SESSION_UPDATED, Topics.SESSION_MERGED)
                for p in (observer.partitions_for_topic(topic) or await _partitions(observer, topic))
            ]
            observer.assign(parts)
            await observer.seek_to_end(*parts)
            for tp in parts:  # resolve the end offsets now, before anything new is published
                await observer.position(tp)
            seen: list[tuple[float, uuid.UUID | None]] = []
            watcher = asyncio.create_task(observe(observer, seen))
            try:
                n = RATE * LATENCY_SECONDS
                steady = make_events(
                    rng, [uuid.uuid4() for _ in range(LATENCY_TENANTS)], n, datetime(2026, 5, 1, tzinfo=UTC)
                )
                sent: dict[uuid.UUID, tuple[uuid.UUID, int, float]] = {}
                pending = []
                start = time.monotonic()
                for i, (tenant, seq, corr, _, body) in enumerate(steady):
                    due = start + i / RATE
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    sent[corr] = (tenant, seq, time.monotonic())
                    pending.append(await producer.send(Topics.ASSET_IMPORTED, body, key=str(tenant).encode()))
                await asyncio.gather(*pending)
                send_span = time.monotonic() - start

                async def all_seen() -> bool:
                    return not latencies(sent, seen)[1]

                try:
                    await wait_until(all_seen, 60, interval=0.1, what="session events for every event")
                except TimeoutError:
                    pass
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
                await observer.stop()
            values, lost = latencies(sent, seen)
            p50, p99 = percentile(values, 50) * 1000, percentile(values, 99) * 1000
            print(
                f"   latency: {n} events in {send_span:.1f} s ({n / send_span:.0f}/s): p50 {p50:.0f} ms, "
                f"p99 {p99:.0f} ms, max {max(values) * 1000:.0f} ms, lost {lost}",
                flush=True,
            )
        finally:
            await producer.stop()
            await runtime.stop()

    return [
        {"name": "pipeline.imported_to_session.events_per_s", "value": ours, "unit": "events/s",
         "baseline": "PostgreSQL COPY rows/s", "baseline_value": copy_rate, "ratio": ours / copy_rate},
        {"name": "pipeline.imported_to_session.events_per_s_vs_no_curation", "value": ours, "unit": "events/s",
         "baseline": "same run, ATELIER_CURATION=false", "baseline_value": bare.rate, "ratio": ours / bare.rate},
        {"name": "pipeline.clustering_cpu_us_per_event_vs_no_curation", "value": full.cpu_per_event,
         "unit": "µs/event", "baseline": "same run, ATELIER_CURATION=false", "baseline_value": bare.cpu_per_event,
         "ratio": full.cpu_per_event / bare.cpu_per_event},
        {"name": "pipeline.postgres_cpu_us_per_event_vs_no_curation",
         "value": full.servers_per_event.get("postgres", 0.0), "unit": "µs/event",
         "baseline": "same run, ATELIER_CURATION=false", "baseline_value": bare.servers_per_event.get("postgres", 0.0),
         "ratio": full.servers_per_event.get("postgres", 0.0) / (bare.servers_per_event.get("postgres", 0.0) or 1.0)},
        {"name": "pipeline.imported_to_session.p99_ms_at_500_per_s", "value": p99, "unit": "ms",
         "baseline": "p50 at 500 events/s", "baseline_value": p50, "ratio": p99 / p50 if p50 else None},
    ]  # fmt: skip


class _Throughput(NamedTuple):
    # a NamedTuple, not a dataclass: bench/run.py loads this file without registering it as a module
    elapsed: float
    published: float
    cpu_per_event: float  # µs of this process's CPU
    servers_per_event: dict[str, float]  # µs of Tansu's / PostgreSQL's CPU
    batches: float
    in_handler: float  # seconds inside handle_batch

    @property
    def rate(self) -> float:
        return N_EVENTS / self.elapsed


async def _throughput(rng, pool, infra, local, tmp: str, start: datetime, *, profile: bool) -> _Throughput:  # type: ignore[no-untyped-def]
    """N_EVENTS to fresh tenants, published from another process as fast as it goes, timed until all are placed."""
    base = await placed_count(pool)
    tenants = [uuid.uuid4() for _ in range(N_TENANTS)]
    events = make_events(rng, tenants, N_EVENTS, start)
    # published from another process, as ingest workers would: the producer's CPU does not
    # share clustering's event loop (it still shares the machine's 2 cores)
    feeder = await _Feeder.start(infra.kafka_bootstrap, [(t, body) for t, _, _, _, body in events], tmp)
    servers = await _server_processes(pool, local.child_pids)
    servers_began = _cpu_seconds(servers)
    profiler = _profiler() if profile else None
    began, cpu_began = time.perf_counter(), time.process_time()
    published = await feeder.go()

    async def all_placed() -> bool:
        return await placed_count(pool) - base >= N_EVENTS

    batch_before = _batch_stats()
    await wait_until(all_placed, 1200, interval=0.05, what=f"{N_EVENTS} members placed")
    elapsed = time.perf_counter() - began
    cpu_per_event = (time.process_time() - cpu_began) / N_EVENTS * 1e6
    servers_per_event = {
        name: (seconds - servers_began.get(name, 0.0)) / N_EVENTS * 1e6
        for name, seconds in _cpu_seconds(servers).items()
    }
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(os.environ["BENCH_PIPELINE_PROFILE"])
    batch_after = _batch_stats()
    return _Throughput(
        elapsed, published, cpu_per_event, servers_per_event,
        batch_after[1] - batch_before[1], batch_after[0] - batch_before[0],
    )  # fmt: skip


FEEDER = """
import asyncio, pickle, sys, time
from aiokafka import AIOKafkaProducer

async def main():
    bootstrap, path = sys.argv[1], sys.argv[2]
    with open(path, "rb") as f:
        events = pickle.load(f)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    print("ready", flush=True)
    sys.stdin.readline()
    began = time.perf_counter()
    futures = [await producer.send("asset.imported", body, key=key) for key, body in events]
    await asyncio.gather(*futures)
    print(f"{time.perf_counter() - began:.3f}", flush=True)
    await producer.stop()

asyncio.run(main())
"""


class _Feeder:
    """A child process that publishes pre-encoded events when told to; answers how long it took."""

    def __init__(self, proc) -> None:  # type: ignore[no-untyped-def]
        self.proc = proc

    @classmethod
    async def start(cls, bootstrap: str, events: list[tuple[uuid.UUID, bytes]], tmp: str) -> _Feeder:
        import pickle

        path = Path(tmp) / "events.pickle"
        path.write_bytes(pickle.dumps([(str(t).encode(), body) for t, body in events]))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", FEEDER, bootstrap, str(path),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"event feeder did not start: {line!r}")
        return cls(proc)

    async def go(self) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()
        seconds = float(await asyncio.wait_for(self.proc.stdout.readline(), 300))
        await self.proc.wait()
        return seconds


def _profiler():  # type: ignore[no-untyped-def]
    """cProfile over the throughput phase when BENCH_PIPELINE_PROFILE names an output file."""
    if not os.environ.get("BENCH_PIPELINE_PROFILE"):
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


async def _server_processes(pool, child_pids: dict[str, int]) -> dict[str, list]:  # type: ignore[no-untyped-def]
    """Tansu, and the PostgreSQL backends serving this database (the pool's connections), by name."""
    import psutil

    backends = await pool.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    found = {"postgres": [psutil.Process(r["pid"]) for r in backends]}
    if "tansu" in child_pids:
        found["tansu"] = [psutil.Process(child_pids["tansu"])]
    return found


def _cpu_seconds(processes: dict[str, list]) -> dict[str, float]:  # type: ignore[type-arg]
    """User + system CPU seconds of each group of processes (a process gone since counts as 0)."""
    import psutil

    totals: dict[str, float] = {}
    for name, group in processes.items():
        totals[name] = 0.0
        for process in group:
            try:
                cpu = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            totals[name] += cpu.user + cpu.system
    return totals


def _batch_stats() -> tuple[float, float]:
    """(seconds, batches) the clustering consumer spent in handle_batch so far (its own histogram)."""
    from prometheus_client import REGISTRY

    total = count = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "atelier_consumer_batch_seconds":
            for sample in metric.samples:
                if sample.labels.get("group") == "clustering":
                    if sample.name.endswith("_sum"):
                        total += sample.value
                    elif sample.name.endswith("_count"):
                        count += sample.value
    return total, count


async def _partitions(consumer, topic: str) -> set[int]:  # type: ignore[no-untyped-def]
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


def run() -> list[dict]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for row in run():
        print(row)
