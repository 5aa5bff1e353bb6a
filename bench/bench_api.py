"""The read API at a heavy user's scale: one workspace with 1,000,000 assets in 10,000 sessions.

Set-up: `LocalInfra` (free ports, a fresh database), the owners' migrations, then the library bulk-loaded
with COPY through the owners' tables (bench/api_library.py; the load time is printed). The gateway runs as
a real process (`python -m services.gateway`), as in production, and is asked over HTTP by one client,
one request at a time, REQUESTS times per case after a warm-up of 10:

- `sessions.first_page`: `GET /api/v1/sessions?limit=50`;
- `sessions.deep_page`: the page after 5,000 sessions (the cursor found by walking 100 pages once);
- `session.assets`: `GET /api/v1/sessions/{id}/assets?limit=100` of the largest session;
- `gallery.first_page` and `gallery.page_100`: `GET /api/v1/assets?limit=100`, first and 100th page;
- `gallery.search_one_word`: `?q=lighthouse` (~8% of the library matches), best match first;
- `gallery.search_two_filters`: `?q=dragon&tool=comfyui&lora=film_grain`;
- `facets`: `GET /api/v1/facets` over the whole library (the filter menus' first load), and
  `facets.search`: under `?q=lighthouse`;
- keepers (the library has ~7 % of its assets flagged, ~5 % picks, see api_library.py):
  `gallery.keepers` (`?flag=pick`), `gallery.keepers_search` (`?flag=pick&q=lighthouse`) and
  `gallery.keepers_tool` (`?flag=pick&tool=comfyui`).

The figure is the p95 in milliseconds (p50 and p99 printed and stored too); the baseline beside it is the
database's own time for the page: the statements the gateway's repository runs for it (recorded by calling
the same repository function), each run with EXPLAIN ANALYZE 20 times, median execution plus planning
time, summed over the page's statements. Target (issue 10): p95 below 50 ms for each case.

A gallery page's statements include its count (`X-Total-Count`: the planner's estimate, timed as a round
trip since EXPLAIN ANALYZE cannot wrap an EXPLAIN, then, unless that is past 50,000, an exact count of up
to 10,001 rows).

`BENCH_API_ASSETS` / `BENCH_API_SESSIONS` shrink the library for a quick run; `BENCH_API_CASES`
(comma-separated names) runs only those cases.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures import REPO, free_port, percentile, stop_process

N_ASSETS = int(os.environ.get("BENCH_API_ASSETS", "1000000"))
N_SESSIONS = int(os.environ.get("BENCH_API_SESSIONS", "10000"))
REQUESTS = int(os.environ.get("BENCH_API_REQUESTS", "200"))
WARM_UP = 10
TOKEN = "bench-api-token"
TARGET_P95_MS = 50


class RecordingPool:
    """Stands in for the pool when a repository function is called: notes each statement, then runs it."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    async def _run(self, method: str, sql: str, *args: Any) -> Any:
        self.statements.append((sql, args))
        return await getattr(self.pool, method)(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> Any:
        return await self._run("fetch", sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        return await self._run("fetchrow", sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._run("fetchval", sql, *args)


async def database_ms(pool: Any, call: Callable[[Any], Awaitable[Any]]) -> float:
    """The database's time for one page: median (execution + planning) of EXPLAIN ANALYZE per statement."""
    recorder = RecordingPool(pool)
    await call(recorder)
    total = 0.0
    for sql, args in recorder.statements:
        times = []
        if sql.startswith("EXPLAIN"):  # the count's estimate: planning only, timed as a round trip
            for _ in range(20):
                started = time.perf_counter()
                await pool.fetchval(sql, *args)
                times.append((time.perf_counter() - started) * 1000)
            total += statistics.median(times)
            continue
        for _ in range(20):
            plan = await pool.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
            doc = (json.loads(plan) if isinstance(plan, str) else plan)[0]
            times.append(doc["Execution Time"] + doc["Planning Time"])
        total += statistics.median(times)
    return total


async def _gallery(
    pool: Any, subject: Any, filters: Any = None, *, limit: int = 101, after: Any = None
) -> None:
    """What `GET /api/v1/assets` reads: the page, then how many match."""
    from services.gateway import repository

    filters = filters or repository.AssetFilter()
    await repository.assets(pool, subject, limit=limit, after=after, filters=filters)
    await repository.count_assets(pool, subject, filters)


async def _wait_ready(base_url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 120
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {log.read_text()[-2000:]}")
            try:
                if (await client.get(f"{base_url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"gateway not healthy: {log.read_text()[-2000:]}")


def _start_gateway(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "services.gateway"], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


@contextlib.asynccontextmanager
async def gateway_process(infra: Any, tmp: str) -> AsyncIterator[str]:
    """The gateway as its own process over `infra` (no demo tenant, quiet logs), healthy; yields its URL."""
    port = free_port()
    log = Path(tmp) / "gateway.log"
    env = {**os.environ, **infra.env(), "ATELIER_HTTP_PORT": str(port), "ATELIER_LOG_LEVEL": "WARNING",
           "ATELIER_DEMO_TENANT": "false"}  # fmt: skip
    proc = _start_gateway(env, log)
    try:
        base = f"http://127.0.0.1:{port}"
        await _wait_ready(base, proc, log)
        yield base
    finally:
        stop_process(proc)


async def _latencies(client: Any, path: str) -> list[float]:
    out = []
    for i in range(WARM_UP + REQUESTS):
        started = time.perf_counter()
        response = await client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
        if i >= WARM_UP:
            out.append(elapsed)
    return out


async def _cursor_after(client: Any, path: str, pages: int) -> str:
    """The cursor that starts page `pages + 1` of a list."""
    cursor = ""
    for _ in range(pages):
        response = await client.get(path + (f"&cursor={cursor}" if cursor else ""))
        cursor = response.headers["x-next-cursor"]
    return cursor


async def run_async() -> list[dict[str, Any]]:
    import asyncpg
    import httpx
    from api_library import load_library

    from libs.common.db import create_pool, migrate
    from libs.stack.infra import LocalInfra
    from services.gateway import repository
    from services.gateway.auth import ensure_tenant, subject_for_token
    from services.gateway.pagination import decode_cursor
    from services.gateway.repository import AssetFilter, FlagFilter

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, LocalInfra(Path(tmp) / "infra") as infra:
        pool = await create_pool(infra.database_url)
        for name in ("gateway", "ingest", "clustering"):
            await migrate(pool, name, REPO / "services" / name / "migrations")
        tenant_id = await ensure_tenant(pool, "heavy-user", TOKEN)
        conn = await asyncpg.connect(infra.database_url)
        started = time.perf_counter()
        await load_library(conn, tenant_id=tenant_id, n_assets=N_ASSETS, n_sessions=N_SESSIONS, flagged=True)
        print(f"   loaded {N_ASSETS:,} assets in {N_SESSIONS:,} sessions in {time.perf_counter() - started:.0f} s",
              flush=True)  # fmt: skip
        largest = await conn.fetchval(
            "SELECT session_id FROM clustering.sessions WHERE tenant_id = $1 ORDER BY asset_count DESC LIMIT 1",
            tenant_id,
        )
        await conn.close()

        async with gateway_process(infra, tmp) as base:
            subject = await subject_for_token(pool, TOKEN)
            assert subject is not None
            async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"},
                                         timeout=60) as client:  # fmt: skip
                # a smaller library (BENCH_API_*) goes as deep as it can
                deep_sessions = await _cursor_after(
                    client, "/api/v1/sessions?limit=50", min(100, N_SESSIONS // 50 - 1)
                )
                page_100 = await _cursor_after(
                    client, "/api/v1/assets?limit=100", min(99, N_ASSETS // 100 - 1)
                )
                picks = FlagFilter(flag="pick")
                cases: list[tuple[str, str, Callable[[Any], Awaitable[Any]]]] = [
                    ("sessions.first_page", "/api/v1/sessions?limit=50",
                     lambda p: repository.sessions(p, subject, limit=51)),
                    ("sessions.deep_page", f"/api/v1/sessions?limit=50&cursor={deep_sessions}",
                     lambda p: repository.sessions(p, subject, limit=51,
                                                   after=decode_cursor("sessions", deep_sessions))),
                    ("session.assets", f"/api/v1/sessions/{largest}/assets?limit=100",
                     lambda p: repository.session_assets(p, subject, largest, limit=101)),
                    ("gallery.first_page", "/api/v1/assets?limit=100",
                     lambda p: _gallery(p, subject)),
                    ("gallery.page_100", f"/api/v1/assets?limit=100&cursor={page_100}",
                     lambda p: _gallery(p, subject, limit=101, after=decode_cursor("assets", page_100))),
                    ("gallery.search_one_word", "/api/v1/assets?limit=100&q=lighthouse",
                     lambda p: _gallery(p, subject, AssetFilter(q="lighthouse"))),
                    ("gallery.search_two_filters", "/api/v1/assets?limit=100&q=dragon&tool=comfyui&lora=film_grain",
                     lambda p: _gallery(p, subject, AssetFilter(q="dragon", tool="comfyui", lora="film_grain"))),
                    ("facets", "/api/v1/facets",
                     lambda p: repository.facets(p, subject, AssetFilter())),
                    ("facets.search", "/api/v1/facets?q=lighthouse",
                     lambda p: repository.facets(p, subject, AssetFilter(q="lighthouse"))),
                    ("gallery.keepers", "/api/v1/assets?limit=100&flag=pick",
                     lambda p: _gallery(p, subject, AssetFilter(flags=picks))),
                    ("gallery.keepers_search", "/api/v1/assets?limit=100&flag=pick&q=lighthouse",
                     lambda p: _gallery(p, subject, AssetFilter(q="lighthouse", flags=picks))),
                    ("gallery.keepers_tool", "/api/v1/assets?limit=100&flag=pick&tool=comfyui",
                     lambda p: _gallery(p, subject, AssetFilter(tool="comfyui", flags=picks))),
                ]  # fmt: skip
                only = {c for c in os.environ.get("BENCH_API_CASES", "").split(",") if c}
                for name, path, call in cases:
                    if only and name not in only:
                        continue
                    latencies = await _latencies(client, path)
                    db_ms = await database_ms(pool, call)
                    p50, p95, p99 = (percentile(latencies, q) for q in (50, 95, 99))
                    print(f"   {name:<22} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms  "
                          f"database {db_ms:5.2f} ms  (target p95 < {TARGET_P95_MS} ms)", flush=True)  # fmt: skip
                    for q, value in (("p50", p50), ("p95", p95), ("p99", p99)):
                        rows.append({"name": f"api.{name}.{q}_ms", "value": round(value, 2), "unit": "ms",
                                     "baseline": "database time per page (EXPLAIN ANALYZE)",
                                     "baseline_value": round(db_ms, 3),
                                     "ratio": round(value / db_ms, 1) if db_ms else None})  # fmt: skip
            await pool.close()
    return rows


def run() -> list[dict[str, Any]]:
    return asyncio.run(run_async())


if __name__ == "__main__":
    for row in run():
        print(row)
