"""Reservations per second through the credits service's internal API: on one hot account (every request
queues on the same wallet row lock) and spread across 1,000 accounts.

Set-up: `LocalInfra` (free ports, a fresh database); the credits service runs as a real process
(`python -m services.credits`, pool of 20), as in production. One client sends RESERVATIONS
`POST /internal/v1/reservations` (1 credit each, a new idempotency key each), CONCURRENCY at a time,
after a warm-up; every one must answer 201. Each reservation is one transaction: the wallet's
conditional UPDATE, the reservation row, a transfer with two entries, the outbox row and its NOTIFY.

The same reservations are also made without HTTP, by calling the service's own transaction
(`CreditsService.reserve`: repository.reserve in one transaction) from CONCURRENCY tasks over a pool:
what the ledger itself sustains, where the row lock of a hot account would show.

Baselines, measured in the same run:
- over HTTP, hot account: the same requests spread across 1,000 accounts (ratio < 1: what the one row
  lock costs);
- over HTTP, 1,000 accounts: the HTTP floor: `GET /livez` (no database) on the same service, same
  client, same concurrency: on this 2-core machine the HTTP stack, not the ledger, is the limit;
- in the database (both cases): a bare INSERT of the same reservation rows into a table of the same
  shape, one autocommit INSERT each, same concurrency (no ledger entries, no wallet, no outbox).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures import REPO, free_port

RESERVATIONS = int(os.environ.get("BENCH_CREDITS_RESERVATIONS", "3000"))
CONCURRENCY = int(os.environ.get("BENCH_CREDITS_CONCURRENCY", "32"))
ACCOUNTS = 1000
WARM_UP = 200
TOKEN = "bench-credits-token"


async def _wait_ready(base: str, proc: Any, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"credits exited: {log.read_text()[-2000:]}")
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"credits not ready: {log.read_text()[-2000:]}")
            await asyncio.sleep(0.1)


async def _reserve_all(client: Any, tenants: list[uuid.UUID], n: int) -> float:
    """Send n reservations round-robin over `tenants`, CONCURRENCY at a time; returns reservations/s."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            r = await client.post(
                "/internal/v1/reservations",
                json={"tenant_id": str(tenants[i % len(tenants)]), "credits": 1,
                      "idempotency_key": uuid.uuid4().hex, "purpose": "bench", "ttl_seconds": 3600},
            )  # fmt: skip
            assert r.status_code == 201, r.text

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return n / (time.perf_counter() - started)


async def _livez(client: Any, n: int) -> float:
    counter = iter(range(n))

    async def worker() -> None:
        for _ in counter:
            assert (await client.get("/livez")).status_code == 200

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return n / (time.perf_counter() - started)


async def _reserve_in_db(service: Any, tenants: list[uuid.UUID], n: int) -> float:
    """The service's reserve transaction called directly: no HTTP."""
    from services.credits.domain import ReservationRequest

    counter = iter(range(n))
    req = ReservationRequest(1, "bench", 3600)

    async def worker() -> None:
        for i in counter:
            reserved = await service.reserve(tenants[i % len(tenants)], uuid.uuid4().hex, req)
            assert reserved.outcome == "created"

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return n / (time.perf_counter() - started)


async def _bare_inserts(pool: Any, tenants: list[uuid.UUID], n: int) -> float:
    """The floor: one autocommit INSERT of a reservation-shaped row per reservation, same concurrency."""
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE bench_reservations (LIKE credits.reservations INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            async with pool.acquire() as conn:
                await conn.execute(
                    "INSERT INTO bench_reservations (reservation_id, tenant_id, idempotency_key, credits, purpose,"
                    " ttl_seconds, expires_at) VALUES ($1, $2, $3, 1, 'bench', 3600, now() + interval '1 hour')",
                    uuid.uuid4(),
                    tenants[i % len(tenants)],
                    uuid.uuid4().hex,
                )

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return n / (time.perf_counter() - started)


async def run_async() -> list[dict[str, Any]]:
    import httpx

    from libs.common.db import create_pool
    from libs.stack.infra import LocalInfra
    from services.credits.service import CreditsService
    from services.credits.settings import CreditsSettings

    with tempfile.TemporaryDirectory() as tmp, LocalInfra(Path(tmp) / "infra") as infra:
        port = free_port()
        log = Path(tmp) / "credits.log"
        env = {**os.environ, **infra.env(), "ATELIER_HTTP_PORT": str(port), "ATELIER_LOG_LEVEL": "WARNING",
               "ATELIER_INTERNAL_TOKEN": TOKEN, "ATELIER_DATABASE_POOL_SIZE": "20",
               "ATELIER_STARTING_GRANT_CREDITS": "1000000"}  # fmt: skip
        with open(log, "ab") as out:  # noqa: ASYNC230
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.credits", cwd=REPO, env=env, stdout=out, stderr=out
            )
        pool = await create_pool(infra.database_url, max_size=CONCURRENCY)
        try:
            base = f"http://127.0.0.1:{port}"
            await _wait_ready(base, _Poll(proc), log)
            limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
            async with httpx.AsyncClient(
                base_url=base, headers={"X-Atelier-Internal-Token": TOKEN}, timeout=60, limits=limits
            ) as client:
                hot = [uuid.uuid4()]
                many = [uuid.uuid4() for _ in range(ACCOUNTS)]
                # open every account first (the starting grant), so the timed runs only reserve
                for chunk in range(0, ACCOUNTS, 100):
                    await asyncio.gather(
                        *(client.get(f"/internal/v1/accounts/{t}") for t in many[chunk : chunk + 100])
                    )
                await client.get(f"/internal/v1/accounts/{hot[0]}")
                await _reserve_all(client, many, WARM_UP)
                spread = await _reserve_all(client, many, RESERVATIONS)
                one = await _reserve_all(client, hot, RESERVATIONS)
                http_floor = await _livez(client, RESERVATIONS)
            service = CreditsService(lambda: pool, CreditsSettings(starting_grant_credits=1_000_000))
            db_spread = await _reserve_in_db(service, many, RESERVATIONS)
            db_one = await _reserve_in_db(service, hot, RESERVATIONS)
            floor = await _bare_inserts(pool, many, RESERVATIONS)
        finally:
            await pool.close()
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 15)
                except TimeoutError:
                    proc.kill()
    print(f"   HTTP: one hot account {one:,.0f}/s, 1,000 accounts {spread:,.0f}/s, GET /livez {http_floor:,.0f}/s; "
          f"in the database: one hot account {db_one:,.0f}/s, 1,000 accounts {db_spread:,.0f}/s, "
          f"bare INSERT {floor:,.0f}/s ({RESERVATIONS} each, {CONCURRENCY} at a time)", flush=True)  # fmt: skip
    return [
        {"name": "credits.reserve.hot_account_per_s", "value": round(one, 1), "unit": "reservations/s",
         "baseline": "same, across 1,000 accounts", "baseline_value": round(spread, 1),
         "ratio": round(one / spread, 2)},
        {"name": "credits.reserve.1000_accounts_per_s", "value": round(spread, 1), "unit": "reservations/s",
         "baseline": "HTTP floor: GET /livez, same client", "baseline_value": round(http_floor, 1),
         "ratio": round(spread / http_floor, 2)},
        {"name": "credits.reserve_db.hot_account_per_s", "value": round(db_one, 1), "unit": "reservations/s",
         "baseline": "bare INSERT of the rows (asyncpg)", "baseline_value": round(floor, 1),
         "ratio": round(db_one / floor, 2)},
        {"name": "credits.reserve_db.1000_accounts_per_s", "value": round(db_spread, 1),
         "unit": "reservations/s", "baseline": "bare INSERT of the rows (asyncpg)",
         "baseline_value": round(floor, 1), "ratio": round(db_spread / floor, 2)},
    ]  # fmt: skip


class _Poll:
    """`poll()` over an asyncio subprocess, for `_wait_ready`."""

    def __init__(self, proc: Any) -> None:
        self.proc = proc

    def poll(self) -> int | None:
        return self.proc.returncode


def run() -> list[dict[str, Any]]:
    return asyncio.run(run_async())


if __name__ == "__main__":
    for row in run():
        print(row)
