"""The gateway's memory while it streams a workspace export (`GET /api/v1/export`): peak RSS against its
own idle RSS, for a library much larger than that difference.

Set-up: `LocalInfra` (free ports, a fresh database), the owners' migrations, a workspace of N_ASSETS
assets in N_SESSIONS sessions loaded through the owners' tables (bench/api_library.py), and for each asset
an original of ORIGINAL_BYTES in S3 under its key (pseudo-random bytes: nothing compresses, and originals
are stored in the zip anyway). The gateway runs as a real process (`python -m services.gateway`); one
client downloads the export over HTTP, writing it to disk as it arrives, while a thread reads the gateway's
VmRSS every 10 ms. The zip is then opened and its originals counted.

Rows: `export.<size>.peak_rss_mb` (baseline: the same gateway idle, after a warm-up export of a small
workspace) and `export.<size>.mib_per_s` (the download's rate; no baseline). Target: the peak stays within
tens of MB of idle whatever the library's size (the export holds one original chunk, one page of rows and
the names of the originals written so far). `BENCH_EXPORT_ASSETS` / `BENCH_EXPORT_MIB` change the size.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_upload import RssSampler, _start_gateway, _status_kb, _wait_ready
from fixtures import REPO, environ, free_port, stop_process

TOKEN = "bench-export-token"
SMALL_TOKEN = "bench-export-small"
MIB = 1024 * 1024
N_ASSETS = int(os.environ.get("BENCH_EXPORT_ASSETS", "1000"))
N_SESSIONS = max(1, N_ASSETS // 50)
TOTAL_MIB = int(os.environ.get("BENCH_EXPORT_MIB", "1024"))
ORIGINAL_BYTES = TOTAL_MIB * MIB // N_ASSETS


async def _put_originals(store: object, keys: list[str], body: bytes) -> None:
    """Every key gets `body`, eight puts at a time."""
    gate = asyncio.Semaphore(8)

    async def put(key: str) -> None:
        async with gate:
            await store.put(store.originals, key, body)  # type: ignore[attr-defined]

    await asyncio.gather(*(put(k) for k in keys))


async def _download(base_url: str, token: str, target: Path) -> tuple[int, float]:
    import httpx

    started = time.perf_counter()
    size = 0
    async with (
        httpx.AsyncClient(
            base_url=base_url, timeout=600, headers={"Authorization": f"Bearer {token}"}
        ) as client,
        client.stream("GET", "/api/v1/export") as response,
    ):
        response.raise_for_status()
        with target.open("wb") as out:
            async for chunk in response.aiter_raw():
                out.write(chunk)
                size += len(chunk)
    return size, time.perf_counter() - started


async def _run() -> list[dict]:
    import asyncpg
    from api_library import load_library

    from libs.common.db import create_pool, migrate
    from libs.common.settings import CommonSettings
    from libs.common.storage import ObjectStore, original_key
    from libs.stack.infra import LocalInfra
    from services.gateway.auth import ensure_tenant

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp, LocalInfra(Path(tmp) / "infra") as infra:
        pool = await create_pool(infra.database_url)
        for name in ("gateway", "ingest", "clustering", "reflection"):
            await migrate(pool, name, REPO / "services" / name / "migrations")
        tenant_id = await ensure_tenant(pool, "bench-export", TOKEN)
        small_id = await ensure_tenant(pool, "bench-export-small", SMALL_TOKEN)
        conn = await asyncpg.connect(infra.database_url)
        await load_library(conn, tenant_id=tenant_id, n_assets=N_ASSETS, n_sessions=N_SESSIONS)
        await load_library(conn, tenant_id=small_id, n_assets=20, n_sessions=1, seed=5)
        await conn.close()
        with environ(infra.env()):
            store = ObjectStore(CommonSettings())
        await store.ensure_buckets()
        body = hashlib.shake_256(b"atelier bench export").digest(ORIGINAL_BYTES)
        started = time.perf_counter()
        for tenant in (tenant_id, small_id):
            shas = [
                r["sha256"]
                for r in await pool.fetch("SELECT sha256 FROM ingest.assets WHERE tenant_id = $1", tenant)
            ]
            await _put_originals(store, [original_key(tenant, s) for s in shas], body)
        print(f"   {N_ASSETS:,} originals of {ORIGINAL_BYTES / MIB:.2f} MiB put in {time.perf_counter() - started:.0f} s",
              flush=True)  # fmt: skip
        await pool.close()

        port = free_port()
        log = Path(tmp) / "gateway.log"
        env = {**os.environ, **infra.env(), "ATELIER_HTTP_PORT": str(port), "ATELIER_LOG_LEVEL": "WARNING",
               "ATELIER_DEMO_TENANT": "false"}  # fmt: skip
        proc = _start_gateway(REPO, env, log)
        base_url = f"http://127.0.0.1:{port}"
        try:
            await _wait_ready(base_url, proc, log)
            await _download(base_url, SMALL_TOKEN, Path(tmp) / "warm.zip")  # the export's code paths loaded
            await asyncio.sleep(1.0)
            idle_mb = _status_kb(proc.pid, "VmRSS") / 1024
            target = Path(tmp) / "export.zip"
            with RssSampler(proc.pid) as sampler:
                size, elapsed = await _download(base_url, TOKEN, target)
            with zipfile.ZipFile(target) as archive:
                originals = sum(1 for n in archive.namelist() if n.startswith("originals/"))
                lines = archive.read("metadata.jsonl").count(b"\n")
            if originals != N_ASSETS or lines != N_ASSETS:
                raise RuntimeError(
                    f"the export holds {originals} originals and {lines} lines, not {N_ASSETS}"
                )
            peak_mb = sampler.peak_kb / 1024
            label = f"export.{N_ASSETS}_assets_{size / MIB:.0f}_mib"
            print(f"   {label}: {size / MIB:,.0f} MiB in {elapsed:.1f} s ({size / MIB / elapsed:,.0f} MiB/s); peak RSS "
                  f"{peak_mb:.0f} MB = idle {idle_mb:.0f} MB + {peak_mb - idle_mb:.0f} MB", flush=True)  # fmt: skip
            rows.append({"name": f"{label}.peak_rss_mb", "value": round(peak_mb, 1), "unit": "MB",
                         "baseline": "same gateway, idle RSS", "baseline_value": round(idle_mb, 1),
                         "ratio": round(peak_mb / idle_mb, 2)})  # fmt: skip
            rows.append({"name": f"{label}.mib_per_s", "value": round(size / MIB / elapsed, 1), "unit": "MiB/s",
                         "baseline": None, "baseline_value": None, "ratio": None})  # fmt: skip
        finally:
            stop_process(proc)
    return rows


def run() -> list[dict]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for row in run():
        print(row)
