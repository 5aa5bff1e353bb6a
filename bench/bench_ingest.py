"""Ingest throughput: images/s per worker, over the real broker, database and object store.

The set: 120 PNGs and 120 JPEGs at 1024x1024 that look like generator output (smooth colour
fields, soft shapes, low-amplitude noise: ~2 MB PNGs, ~0.3 MB JPEGs), the PNGs with an A1111
`parameters` chunk, the JPEGs with an EXIF UserComment; generated once and cached (fixtures.py).

Floor (same run, this process, one core): Pillow alone doing the image work a worker does for
each file: read the bytes, open, (`draft` for JPEG, as the worker does), decode, the detail and
card thumbnails (settings.detail_size / card_size, BILINEAR, in place: the detail is encoded, then
shrunk into the card), WebP encode of both (quality 80, method 0). No hashing, metadata, colours,
EXIF orientation, S3 or database.

Ours: the real pipeline. The files' bytes are put in S3 as `originals/<tenant>/<sha256>` (before
the clock starts, as the gateway would have done), then `asset.uploaded` events are published
(keyed by tenant, as the gateway's outbox does) and the clock runs until `ingest.assets` holds
them all. Workers are separate processes (`python -m services.ingest`, their own HTTP port, one
consumer group); the tenants are chosen so their keys spread evenly over the topic's 8
partitions. Before timing, warm-up rounds (one tiny image per tenant) run until every worker has
handled events, so the group is formed and stable. Then the same with 2 workers (fresh tenants).

Rows: `ingest.images_per_s.1_worker` (baseline: the Pillow floor, target ratio >= 0.8) and
`ingest.images_per_s.2_workers` (baseline: 1 worker, target ratio >= 1.7). On a 2-core machine
the broker, PostgreSQL and SeaweedFS share the cores with the workers, which bounds the second.
The per-stage means from `atelier_ingest_stage_seconds` are printed for diagnosis.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures import (
    balanced_tenants,
    cached_images,
    environ,
    start_ingest_worker,
    stop_process,
    wait_until,
)

# 120 + 120: with 2 workers the timed window is ~8 s, so a batch's ramp-up and the last batch's
# tail weigh little (at 60 + 60 it was ~4 s and the figure moved by +-15% between runs)
N_PNG = int(os.environ.get("BENCH_INGEST_PNG", "120"))
N_JPEG = int(os.environ.get("BENCH_INGEST_JPEG", "120"))
PARTITIONS = 8
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ASSET_NAMESPACE = uuid.UUID("6f1c7a52-2d0e-4f1e-9a51-3c3c0a7e2b10")  # as services/gateway/uploads.py


def pillow_floor(paths: list[Path], card_size: int, detail_size: int) -> float:
    """images/s for the worker's image work done by Pillow alone, sequentially."""
    from PIL import Image

    def shrink(image: Image.Image, longest: int) -> None:
        image.thumbnail((longest, longest), Image.Resampling.BILINEAR, reducing_gap=2.0)

    began = time.perf_counter()
    for path in paths:
        image = Image.open(io.BytesIO(path.read_bytes()))
        if image.format == "JPEG":
            image.draft("RGB", (detail_size, detail_size))
        image.load()
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGB")
        # as the worker: shrunk in place, the detail encoded before the card is made from it
        shrink(image, detail_size)
        image.save(io.BytesIO(), "WEBP", quality=80, method=0)
        shrink(image, card_size)
        image.save(io.BytesIO(), "WEBP", quality=80, method=0)
    return len(paths) / (time.perf_counter() - began)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) from /proc; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _machine_busy_seconds() -> float:
    """CPU seconds spent not idle by the whole machine (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


class CpuAccount:
    """CPU seconds per process group over the timed window: the workers, SeaweedFS, Tansu, our
    database's PostgreSQL backends, PostgreSQL's background processes, this process, and the machine
    as a whole (so what other programs took shows as the remainder)."""

    def __init__(self, pipeline: Pipeline, workers: list[int]) -> None:
        self.pipeline = pipeline
        self.workers = workers

    async def _groups(self) -> dict[str, list[int]]:
        rows = await self.pipeline.pool.fetch(
            "SELECT pid, datname = current_database() AS ours FROM pg_stat_activity WHERE pid IS NOT NULL"
        )
        groups = {f"worker {i}": [pid] for i, pid in enumerate(self.workers)}
        groups |= {name: [pid] for name, pid in self.pipeline.infra_pids.items()}
        groups["postgres (our backends)"] = [r["pid"] for r in rows if r["ours"]]
        groups["postgres (background)"] = [r["pid"] for r in rows if r["ours"] is None]
        groups["bench"] = [os.getpid()]
        return groups

    async def __aenter__(self) -> CpuAccount:
        self.before = {pid: _cpu_seconds(pid) for pids in (await self._groups()).values() for pid in pids}
        self.busy_before = _machine_busy_seconds()
        return self

    async def __aexit__(self, *exc: object) -> None:
        busy = _machine_busy_seconds() - self.busy_before
        # a backend that appeared meanwhile (the pool grew) counts from zero
        self.seconds = {
            name: sum(_cpu_seconds(pid) - self.before.get(pid, 0.0) for pid in pids)
            for name, pids in (await self._groups()).items()
        }
        self.seconds["other programs"] = busy - sum(self.seconds.values())
        self.seconds["machine busy"] = busy


def _tiny_png(seed: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 32), (seed % 256, seed // 256 % 256, 77)).save(out, "PNG")
    return out.getvalue()


class Pipeline:
    def __init__(self, infra, tmp: Path) -> None:  # type: ignore[no-untyped-def]
        self.infra = infra
        self.tmp = tmp
        self.env = infra.env() | {
            "ATELIER_KAFKA_SESSION_TIMEOUT_MS": "2000",
            "ATELIER_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "ATELIER_KAFKA_PARTITIONS": str(PARTITIONS),
            "ATELIER_LOG_LEVEL": "WARNING",
        }
        self.warm_seed = 0
        self.infra_pids: dict[str, int] = {}

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        from libs.common.broker import ensure_topics
        from libs.common.db import create_pool, migrate
        from libs.common.storage import ObjectStore
        from services.ingest.settings import IngestSettings

        with environ(self.env):
            self.settings = IngestSettings()
        await ensure_topics(self.settings)
        self.store = ObjectStore(self.settings)
        await self.store.ensure_buckets()
        self.pool = await create_pool(self.settings.database_url)
        # the schema exists before anyone polls it (the workers would create it too, under a lock)
        await migrate(self.pool, "ingest", Path(__file__).resolve().parents[1] / "services/ingest/migrations")
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap, acks="all", linger_ms=2
        )
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()
        await self.pool.close()

    async def stage(
        self, tenants: list[uuid.UUID], files: list[tuple[str, bytes]]
    ) -> list[tuple[uuid.UUID, bytes]]:
        """Put originals in S3; return the (tenant, event body) pairs to publish, tenants round-robin."""
        from libs.common.events import AssetUploaded, Event
        from libs.common.storage import original_key

        events, puts = [], []
        for i, (name, data) in enumerate(files):
            tenant = tenants[i % len(tenants)]
            digest = hashlib.sha256(data).hexdigest()
            key = original_key(tenant, digest)
            puts.append((key, data))
            event = Event.of(
                AssetUploaded(
                    asset_id=uuid.uuid5(ASSET_NAMESPACE, f"{tenant}:{digest}"),
                    sha256=digest,
                    object_key=key,
                    filename=name,
                    size=len(data),
                ),
                tenant_id=tenant,
            )
            events.append((tenant, event.to_bytes()))
        for start in range(0, len(puts), 8):
            await asyncio.gather(
                *(self.store.put(self.store.originals, k, d) for k, d in puts[start : start + 8])
            )
        return events

    async def publish(self, events: list[tuple[uuid.UUID, bytes]]) -> None:
        from libs.common.events import Topics

        futures = [
            await self.producer.send(Topics.ASSET_UPLOADED, body, key=str(t).encode()) for t, body in events
        ]
        await asyncio.gather(*futures)

    async def assets(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM ingest.assets")

    async def run(
        self, workers: int, tenants: list[uuid.UUID], files: list[tuple[str, bytes]]
    ) -> tuple[float, dict]:
        import httpx

        events = await self.stage(tenants, files)
        procs, ports = [], []
        try:
            for w in range(workers):
                proc, port = start_ingest_worker(self.env, self.tmp / "logs" / f"ingest-{workers}-{w}.log")
                procs.append(proc)
                ports.append(port)
            async with httpx.AsyncClient(timeout=5) as http:
                await self._warm_up(http, tenants, procs, ports)
                base = await self.assets()
                # the warm-up's tiny images are left out of the per-stage means
                stages_before = await self._stages(http, ports)
                async with CpuAccount(self, [p.pid for p in procs]) as cpu:
                    began = time.perf_counter()
                    await self.publish(events)

                    async def done() -> bool:
                        return await self.assets() - base >= len(events)

                    await wait_until(done, 900, interval=0.05, what=f"{len(events)} assets stored")
                    elapsed = time.perf_counter() - began
                stages = {
                    stage: (total - stages_before.get(stage, [0.0, 0.0])[0])
                    / max(1.0, files - stages_before.get(stage, [0.0, 0.0])[1])
                    * 1000
                    for stage, (total, files) in (await self._stages(http, ports)).items()
                }
                self.cpu = {name: (s, s / len(events) * 1000) for name, s in cpu.seconds.items()}
        finally:
            for proc in procs:
                stop_process(proc)
        return len(events) / elapsed, stages

    async def _warm_up(self, http, tenants, procs, ports) -> None:  # type: ignore[no-untyped-def]
        async def healthy() -> bool:
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"ingest worker exited with {proc.returncode}; see {self.tmp / 'logs'}"
                    )
            try:
                codes = [(await http.get(f"http://127.0.0.1:{p}/healthz")).status_code for p in ports]
            except httpx_errors():
                return False
            return all(code == 200 for code in codes)

        await wait_until(healthy, 120, interval=0.1, what="ingest workers healthy")
        for _ in range(30):
            files = []
            for _ in tenants:
                self.warm_seed += 1
                files.append((f"warm-{self.warm_seed}.png", _tiny_png(self.warm_seed)))
            base = await self.assets()
            await self.publish(await self.stage(tenants, files))

            async def stored(base: int = base, n: int = len(files)) -> bool:
                return await self.assets() - base >= n

            await wait_until(stored, 120, what="warm-up assets stored")
            handled = [await _handled(http, p) for p in ports]
            if all(handled):
                return
        raise RuntimeError(f"not every worker took part after warm-up: {handled}")

    async def _stages(self, http, ports) -> dict:  # type: ignore[no-untyped-def]
        """(sum of seconds, files) per stage so far, over all workers."""
        totals: dict[str, list[float]] = {}
        for port in ports:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            for kind, stage, value in re.findall(
                r'^atelier_ingest_stage_seconds_(sum|count)\{stage="([^"]+)"\} (\S+)$', text, re.M
            ):
                pair = totals.setdefault(stage, [0.0, 0.0])
                pair[0 if kind == "sum" else 1] += float(value)
            # a whole batch (transaction included), per file: what it adds to the stages is the
            # batch's serial part (duplicate check, first fetch, last upload, rows, commit)
            for kind, value in re.findall(
                r'^atelier_consumer_batch_seconds_(sum|count)\{[^}]*group="ingest"[^}]*\} (\S+)$', text, re.M
            ):
                pair = totals.setdefault("batch", [0.0, 0.0])
                pair[0] += float(value) if kind == "sum" else 0.0
        totals["batch"] = [totals.get("batch", [0.0])[0], sum([await _handled(http, p) for p in ports])]
        return totals


def print_cpu(cpu: dict[str, tuple[float, float]]) -> None:
    print("   CPU during the timed window, ms per image: " + ", ".join(
        f"{name} {per_image:.1f}" for name, (_, per_image) in cpu.items()), flush=True)  # fmt: skip


def httpx_errors() -> tuple[type[BaseException], ...]:
    import httpx

    return (httpx.TransportError,)


async def _handled(http, port: int) -> float:  # type: ignore[no-untyped-def]
    text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    return sum(float(v) for v in re.findall(
        r'^atelier_events_consumed_total\{[^}]*outcome="handled"[^}]*\} (\S+)$', text, re.M))  # fmt: skip


async def _run() -> list[dict]:
    from libs.stack.infra import LocalInfra
    from services.ingest.settings import IngestSettings

    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp_name:
        tmp = Path(tmp_name)
        began = time.perf_counter()
        paths = cached_images(N_PNG, N_JPEG)
        print(
            f"   {len(paths)} images ready in {time.perf_counter() - began:.1f} s "
            f"({sum(p.stat().st_size for p in paths) / len(paths) / 1e6:.2f} MB mean)",
            flush=True,
        )
        settings = IngestSettings()
        floor = pillow_floor(paths, settings.card_size, settings.detail_size)
        files = [(p.name, p.read_bytes()) for p in paths]
        local = LocalInfra(tmp / "infra")
        with local as infra:
            pipeline = Pipeline(infra, tmp)
            pipeline.infra_pids = local.child_pids
            await pipeline.start()
            try:
                one, stages_one = await pipeline.run(1, balanced_tenants(PARTITIONS, 1, seed=1), files)
                print(
                    f"   1 worker: {one:.1f} images/s (floor {floor:.1f}); mean ms per file by stage: "
                    f"{ {k: round(v, 1) for k, v in stages_one.items()} }",
                    flush=True,
                )
                print_cpu(pipeline.cpu)
                two, stages_two = await pipeline.run(2, balanced_tenants(PARTITIONS, 1, seed=2), files)
                print(
                    f"   2 workers: {two:.1f} images/s; mean ms per file by stage: "
                    f"{ {k: round(v, 1) for k, v in stages_two.items()} }",
                    flush=True,
                )
                print_cpu(pipeline.cpu)
            finally:
                await pipeline.stop()
    return [
        {"name": "ingest.images_per_s.1_worker", "value": one, "unit": "images/s",
         "baseline": "Pillow floor, same image work", "baseline_value": floor, "ratio": one / floor},
        {"name": "ingest.images_per_s.2_workers", "value": two, "unit": "images/s",
         "baseline": "1 worker", "baseline_value": one, "ratio": two / one},
    ]  # fmt: skip


def run() -> list[dict]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for row in run():
        print(row)
