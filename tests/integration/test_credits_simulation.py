"""A seeded, replayable simulation of the credits service (in the spirit of TigerBeetle's simulator, at
our scale), and the reaper releasing what a killed worker held.

Two replicas of the credits service run as real processes (`python -m services.credits` on two ports)
over one PostgreSQL and one broker. A driver sends thousands of operations, drawn from the seed, across
several accounts and both replicas: reserve, retry with the same key (and reuse it with another amount),
settle, release, short reservations left to expire, grants (and their retries), purchase webhooks (and
their replays), account reads. At points drawn from the seed a replica gets SIGKILL, in the middle of
whatever it was doing, and is started again; a request that found no answer is sent again (same key) to
whichever replica is up, as any caller would.

Afterwards, from the database: every account's stored balances equal the sums of its entries; every
reservation was resolved exactly once (one resolving transfer, one resolving event; at most one API
answer said it changed it, and that answer agrees with the database); what each tenant was issued
(starting grant, grants and purchases, each once) is exactly what it owns plus what it spent; the
whole ledger sums to zero. On failure the seed is printed; `ATELIER_SIM_SEED=<seed>` replays the same
operations and kill points (the interleaving of concurrent requests is the scheduler's).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TOKEN = "sim-internal-token"
SECRET = "whsec_simulation"
STARTING_GRANT = 200
ACCOUNTS = 8
OPERATIONS = int(os.environ.get("ATELIER_SIM_OPERATIONS") or 3000)
CONCURRENCY = 24
KILLS = 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Replica:
    """One credits process on a fixed port, started and SIGKILLed at will."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = _free_port()
        self.env = {**os.environ, **env, "ATELIER_HTTP_PORT": str(self.port)}
        self.log = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.ready = False  # answered /healthz since it was last started
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/internal/v1"

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.credits"],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def kill(self) -> None:
        assert self.process is not None
        self.ready = False
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def wait_ready(self, timeout: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as c:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise AssertionError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
                try:
                    if (await c.get(f"http://127.0.0.1:{self.port}/healthz")).status_code == 200:
                        self.ready = True
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} not ready: {self.log.read_text()[-2000:]}")
                await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def own_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str], Path]]:
    from libs.stack.infra import LocalInfra

    local = LocalInfra(
        tmp_path_factory.mktemp("credits-sim"), ports="free", kafka_storage="memory", database="fresh"
    )
    infra = local.start()
    env = infra.env() | {
        "ATELIER_KAFKA_SESSION_TIMEOUT_MS": "2000",
        "ATELIER_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "ATELIER_KAFKA_PARTITIONS": "2",
        "ATELIER_LOG_LEVEL": "WARNING",
        "ATELIER_INTERNAL_TOKEN": TOKEN,
        "ATELIER_BILLING_WEBHOOK_SECRET": SECRET,
        "ATELIER_STARTING_GRANT_CREDITS": str(STARTING_GRANT),
        "ATELIER_REAPER_INTERVAL_SECONDS": "0.25",
        "ATELIER_DATABASE_POOL_SIZE": "12",
    }
    try:
        yield infra, env, tmp_path_factory.mktemp("credits-sim-logs")
    finally:
        local.stop()


@pytest.fixture(scope="module")
async def replicas(own_infra: tuple[Any, dict[str, str], Path]) -> AsyncIterator[list[Replica]]:
    _, env, logs = own_infra
    pair = [Replica("replica-a", env, logs), Replica("replica-b", env, logs)]
    pair[0].start()
    await pair[0].wait_ready()  # the first applies the migrations; the second would wait on their lock
    pair[1].start()
    await pair[1].wait_ready()
    try:
        yield pair
    finally:
        for r in pair:
            if r.alive:
                assert r.process is not None
                r.process.terminate()
                try:
                    r.process.wait(15)
                except subprocess.TimeoutExpired:
                    r.kill()


# -- the driver's model ------------------------------------------------------------------------------
@dataclass
class KnownReservation:
    tenant: uuid.UUID
    credits: int
    body: dict[str, Any]
    ttl: int
    changed_by: list[tuple[str, int | None]] = field(default_factory=list)  # (status, settled) per "changed"


@dataclass
class Model:
    tenants: list[uuid.UUID]
    reservations: dict[str, KnownReservation] = field(default_factory=dict)
    reserve_bodies: list[dict[str, Any]] = field(default_factory=list)
    grants: dict[tuple[uuid.UUID, str], dict[str, Any]] = field(default_factory=dict)
    granted: dict[tuple[uuid.UUID, str], int] = field(default_factory=dict)  # counted once per key
    purchases: dict[str, tuple[uuid.UUID, bytes, int]] = field(default_factory=dict)
    purchased: dict[str, int] = field(default_factory=dict)  # counted once per event id
    reused_keys: set[str] = field(default_factory=set)  # keys sent again with another amount
    statuses: Counter[str] = field(default_factory=Counter)
    failovers: int = 0
    events_sent: dict[str, list[Any]] = field(default_factory=dict)  # reservation id -> outcome events
    producer: Any = None


class Cluster:
    """Sends a request to a live replica, again (to either) until one answers: what a caller does."""

    def __init__(self, replicas: list[Replica], client: Any, model: Model) -> None:
        self.replicas = replicas
        self.client = client
        self.model = model

    async def call(self, rng: random.Random, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        for _ in range(400):
            alive = [r for r in self.replicas if r.ready] or self.replicas
            replica = rng.choice(alive)
            try:
                response = await self.client.request(method, replica.url + path, **kwargs)
            except httpx.TransportError:
                self.model.failovers += 1
                await asyncio.sleep(0.05)
                continue
            if response.status_code == 503:  # a dependency away: nothing changed, retry
                await asyncio.sleep(0.05)
                continue
            self.model.statuses[f"{method} {path.split('/')[1]} {response.status_code}"] += 1
            return response
        raise AssertionError(f"no replica answered {method} {path}")


def tenant_of(body: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(body["tenant_id"])


async def _op(i: int, seed: int, cluster: Cluster, provider: Any, packs: list[Any]) -> None:
    """Operation `i`: its kind and parameters come from (seed, i) alone."""
    from services.credits.billing import checkout_event

    rng = random.Random(seed * 1_000_003 + i)
    model = cluster.model
    tenant = rng.choice(model.tenants)
    kind = rng.choices(
        ["reserve", "retry", "reuse", "settle", "release", "grant", "webhook", "read", "outcome"],
        weights=[34, 10, 2, 18, 12, 8, 6, 6, 4],
    )[0]
    if kind in ("retry", "reuse") and model.reserve_bodies:
        body = rng.choice(model.reserve_bodies)
        if kind == "reuse":
            model.reused_keys.add(body["idempotency_key"])
            r = await cluster.call(
                rng, "POST", "/reservations", json={**body, "credits": body["credits"] + 1}
            )
            # 201/402: the first request was refused, so the key was free; 200: an earlier reuse took it
            assert r.status_code in (409, 201, 402, 200), r.text
            if r.status_code in (200, 201):
                reused = {**body, "credits": body["credits"] + 1}
                known = model.reservations.setdefault(
                    r.json()["reservation_id"],
                    KnownReservation(tenant=tenant_of(reused), credits=reused["credits"], body=reused,
                                     ttl=reused["ttl_seconds"]),
                )  # fmt: skip
                assert known.body == reused, "one key, two reservations"
            return
        kind, fresh = "reserve", False
    else:
        fresh = True
    if kind in ("settle", "release", "outcome") and not model.reservations:
        kind = "reserve"
    if kind == "reserve":
        if fresh:
            ttl = rng.choice([1, 2]) if rng.random() < 0.15 else 600
            body = {"tenant_id": str(tenant), "credits": rng.randint(1, 120), "idempotency_key": f"r-{seed}-{i}",
                    "purpose": "simulation", "ttl_seconds": ttl}  # fmt: skip
            model.reserve_bodies.append(body)
        r = await cluster.call(rng, "POST", "/reservations", json=body)
        if r.status_code == 409:
            # the first request was refused (402), then a reuse with another amount took the key
            assert body["idempotency_key"] in model.reused_keys, r.text
            return
        assert r.status_code in (200, 201, 402), r.text
        if r.status_code == 402:
            assert r.json()["type"] == "insufficient_credits" and r.json()["available"] < body["credits"]
            return
        rid = r.json()["reservation_id"]
        known = model.reservations.get(rid)
        if known is None:
            # a 200 for a key we never saw answered: the first attempt committed before its replica died
            model.reservations[rid] = KnownReservation(
                tenant=uuid.UUID(body["tenant_id"]),
                credits=body["credits"],
                body=body,
                ttl=body["ttl_seconds"],
            )
        else:
            assert known.body == body, "one key, two reservations"
        return
    if kind in ("settle", "release"):
        rid = rng.choice(list(model.reservations))
        known = model.reservations[rid]
        if kind == "settle":
            amount = rng.randint(0, known.credits)
            r = await cluster.call(rng, "POST", f"/reservations/{rid}/settle", json={"credits": amount})
        else:
            r = await cluster.call(rng, "POST", f"/reservations/{rid}/release")
        assert r.status_code == 200, r.text
        answer = r.json()
        if answer["changed"]:
            known.changed_by.append((answer["status"], answer["settled_credits"]))
            assert answer["status"] == ("settled" if kind == "settle" else "released")
            if kind == "settle":
                assert answer["settled_credits"] == amount
        return
    if kind == "grant":
        grants = [k for k in model.grants if k[0] == tenant]
        if grants and rng.random() < 0.4:
            key = rng.choice(grants)
        else:
            key = (tenant, f"g-{seed}-{i}")
            model.grants[key] = {
                "credits": rng.randint(1, 100),
                "reason": "simulation",
                "idempotency_key": key[1],
            }
        r = await cluster.call(rng, "POST", f"/accounts/{tenant}/grants", json=model.grants[key])
        assert r.status_code in (200, 201), r.text
        model.granted.setdefault(key, model.grants[key]["credits"])
        return
    if kind == "outcome":
        # what the reflection service will publish: completed (settle, capped at the reservation) or
        # failed (release); sometimes the same event again (a redelivery), all through the real broker
        from libs.common.events import Event, ReflectionCompleted, ReflectionFailed

        rid = rng.choice(list(model.reservations))
        known = model.reservations[rid]
        sent = model.events_sent.setdefault(rid, [])
        if sent and rng.random() < 0.4:
            event = rng.choice(sent)
        elif rng.random() < 0.6:
            payload: Any = ReflectionCompleted(
                reflection_id=uuid.uuid4(), reservation_id=uuid.UUID(rid),
                credits=rng.randint(0, known.credits * 3 // 2), tokens=rng.randint(1, 5000),
            )  # fmt: skip
            event = Event.of(payload, tenant_id=known.tenant)
        else:
            payload = ReflectionFailed(
                reflection_id=uuid.uuid4(), reservation_id=uuid.UUID(rid), reason="sim"
            )
            event = Event.of(payload, tenant_id=known.tenant)
        sent.append(event)
        await model.producer.send_and_wait(event.topic, event.to_bytes(), key=event.key)
        return
    if kind == "webhook":
        if model.purchases and rng.random() < 0.4:
            event_id = rng.choice(list(model.purchases))
            _owner, raw, credits = model.purchases[event_id]
        else:
            pack = rng.choice(packs)
            event_id = f"evt_{seed}_{i}"
            raw = checkout_event(tenant, pack, event_id=event_id)
            model.purchases[event_id] = (tenant, raw, pack.credits)
            credits = pack.credits
        signature = provider.signature(raw, int(time.time()))
        r = await cluster.call(
            rng, "POST", "/billing/webhook", content=raw, headers={"Stripe-Signature": signature}
        )
        assert r.status_code == 200 and r.json()["outcome"] in ("credited", "duplicate"), r.text
        model.purchased.setdefault(event_id, credits)
        return
    r = await cluster.call(rng, "GET", f"/accounts/{tenant}")
    assert r.status_code == 200
    a = r.json()
    assert a["available"] >= 0 and a["reserved"] >= 0 and a["balance"] == a["available"] + a["reserved"]


async def _killer(
    seed: int,
    replicas: list[Replica],
    progress: list[int],
    done: asyncio.Event,
    kills: list[str],
    restarts: list[asyncio.Task[None]],
) -> None:
    """SIGKILL a replica when the operation count reaches points drawn from the seed (mid-request:
    both replicas are busy) and start it again; never both down at once."""
    rng = random.Random(seed ^ 0x5EED)
    # one point in each of KILLS equal stretches of the run (a restart takes ~5 s: the consumer group)
    first, last = OPERATIONS // 20, OPERATIONS * 9 // 10
    width = (last - first) // KILLS
    points = [rng.randrange(first + k * width, first + (k + 1) * width) for k in range(KILLS)]
    for point in points:
        while progress[0] < point:
            if done.is_set():
                return
            await asyncio.sleep(0.01)
        if done.is_set():
            return
        # while one is still starting it may be the one killed again (a crash during start-up): the
        # other keeps answering
        starting = [r for r in replicas if not r.ready]
        if starting and rng.random() < 0.5:  # half the time, let it come up first
            await asyncio.gather(*restarts, return_exceptions=True)
            starting = []
        victim = starting[0] if starting else rng.choice(replicas)
        victim.kill()
        kills.append(f"{victim.name}@{progress[0]}{' (starting)' if starting else ''}")
        await asyncio.sleep(rng.uniform(0.0, 0.5))
        victim.start()
        restarts.append(asyncio.create_task(victim.wait_ready()))


async def test_simulation_two_replicas_kills_no_credit_created_or_lost(
    own_infra: tuple[Any, dict[str, str], Path], replicas: list[Replica]
) -> None:
    import asyncpg
    import httpx

    from services.credits.billing import StripeLikeProvider
    from services.credits.settings import DEFAULT_PACKS

    infra, _, logs = own_infra
    seed = int(os.environ.get("ATELIER_SIM_SEED") or random.randrange(2**32))
    print(f"credits simulation seed {seed} (replay: ATELIER_SIM_SEED={seed})")
    rng = random.Random(seed)
    model = Model(tenants=[uuid.UUID(int=rng.getrandbits(128)) for _ in range(ACCOUNTS)])
    provider = StripeLikeProvider(SECRET)
    started = time.monotonic()
    kills: list[str] = []
    try:
        limits = httpx.Limits(max_connections=CONCURRENCY * 2, max_keepalive_connections=CONCURRENCY * 2)
        async with httpx.AsyncClient(
            headers={"X-Atelier-Internal-Token": TOKEN}, timeout=30, limits=limits
        ) as client:
            from aiokafka import AIOKafkaProducer

            model.producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
            await model.producer.start()
            cluster = Cluster(replicas, client, model)
            done = asyncio.Event()
            progress = [0]
            restarts: list[asyncio.Task[None]] = []
            killer = asyncio.create_task(_killer(seed, replicas, progress, done, kills, restarts))
            queue = iter(range(OPERATIONS))

            async def worker() -> None:
                for i in queue:
                    await _op(i, seed, cluster, provider, DEFAULT_PACKS)
                    progress[0] += 1

            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
            done.set()
            await killer
            await asyncio.gather(*restarts, return_exceptions=True)
            for r in replicas:
                if not r.alive:
                    r.start()
                await r.wait_ready()
            await model.producer.stop()
            # resolve what is left: release the long ones; the short ones are the reaper's. First let
            # the consumers handle every outcome event sent (each names a reservation)
            conn = await asyncpg.connect(infra.database_url)
            try:
                sent_ids = list({e.event_id for events in model.events_sent.values() for e in events})
                deadline = time.monotonic() + 40
                while await conn.fetchval(
                    "SELECT count(*) FROM credits.inbox WHERE event_id = ANY($1::uuid[])", sent_ids
                ) < len(sent_ids):
                    assert time.monotonic() < deadline, "outcome events not consumed"
                    await asyncio.sleep(0.2)
                pending = await conn.fetch(
                    "SELECT reservation_id, ttl_seconds FROM credits.reservations WHERE status = 'pending'"
                )
                for row in pending:
                    if row["ttl_seconds"] > 10:
                        r = await cluster.call(rng, "POST", f"/reservations/{row['reservation_id']}/release")
                        assert r.status_code == 200
                        if r.json()["changed"]:
                            model.reservations[str(row["reservation_id"])].changed_by.append(
                                ("released", None)
                            )
                deadline = time.monotonic() + 30
                while await conn.fetchval(
                    "SELECT count(*) FROM credits.reservations WHERE status = 'pending'"
                ):
                    assert time.monotonic() < deadline, "the reaper left due reservations pending"
                    await asyncio.sleep(0.2)
                await _check(conn, model)
            finally:
                await conn.close()
    except BaseException:
        print(
            f"credits simulation FAILED with seed {seed}: replay with ATELIER_SIM_SEED={seed}; logs in {logs}"
        )
        raise
    print(
        f"seed {seed}: {OPERATIONS} operations in {time.monotonic() - started:.1f} s, "
        f"{len(model.reservations)} reservations, {len(sent_ids)} outcome events, kills {kills}, {model.failovers} requests failed over; "
        f"{dict(model.statuses)}"
    )
    assert len(kills) >= 2, f"fewer kills than planned landed: {kills}"


async def _check(conn: Any, model: Model) -> None:
    from services.credits.repository import Reconciliation

    # stored balances = sums of entries; held = pending; every transfer balances; the ledger sums to 0
    pool_like = _SingleConnPool(conn)
    from services.credits.repository import reconcile

    result: Reconciliation = await reconcile(pool_like)  # type: ignore[arg-type]
    assert result.ok, result
    assert result.wallets == len(model.tenants)

    rows = await conn.fetch(
        "SELECT reservation_id, tenant_id, credits, status, settled_credits FROM credits.reservations"
    )
    db = {str(r["reservation_id"]): r for r in rows}
    assert set(db) == set(model.reservations), "reservations the driver never heard of, or lost ones"
    transfers = await conn.fetch(
        "SELECT reservation_id, kind, count(*) AS n FROM credits.transfers WHERE reservation_id IS NOT NULL"
        " GROUP BY reservation_id, kind"
    )
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    for t in transfers:
        kinds[str(t["reservation_id"])][t["kind"]] += t["n"]
    events = await conn.fetch("SELECT topic, body FROM credits.outbox")
    import json

    event_kinds: dict[str, Counter[str]] = defaultdict(Counter)
    granted_events = 0
    for e in events:
        payload = json.loads(e["body"])["payload"]
        if "reservation_id" in payload:
            event_kinds[payload["reservation_id"]][e["topic"]] += 1
        if e["topic"] == "credits.granted":
            granted_events += 1
    for rid, row in db.items():
        assert row["status"] != "pending", rid
        resolution = {"settled": "settlement", "released": "release", "expired": "expiry"}[row["status"]]
        assert kinds[rid] == Counter({"reservation": 1, resolution: 1}), (rid, kinds[rid])
        assert event_kinds[rid] == Counter({"credits.reserved": 1, f"credits.{row['status']}": 1}), (
            rid,
            event_kinds[rid],
        )
        known = model.reservations[rid]
        assert len(known.changed_by) <= 1, f"{rid} resolved twice by the API: {known.changed_by}"
        if known.changed_by:
            assert known.changed_by[0] == (row["status"], row["settled_credits"]), (
                rid,
                known.changed_by,
                dict(row),
            )
        else:
            # no answer claimed it: expired by the reaper, or resolved by a request whose replica died
            assert row["status"] in ("expired", "settled", "released")
        if row["status"] == "expired":
            assert known.ttl <= 10 or not known.changed_by

    # issued = starting grants + each grant key once + each purchase event once; owned + spent = issued
    issued_by_model: dict[uuid.UUID, int] = dict.fromkeys(model.tenants, STARTING_GRANT)
    for (tenant, _), credits in model.granted.items():
        issued_by_model[tenant] += credits
    for event_id, credits in model.purchased.items():
        issued_by_model[model.purchases[event_id][0]] += credits
    per_tenant = await conn.fetch(
        """
        SELECT w.tenant_id, w.available, w.held,
               (SELECT coalesce(-sum(amount), 0) FROM credits.entries e
                 WHERE e.tenant_id = w.tenant_id AND e.account = 'issuance') AS issued,
               (SELECT coalesce(sum(amount), 0) FROM credits.entries e
                 WHERE e.tenant_id = w.tenant_id AND e.account = 'spent') AS spent,
               (SELECT coalesce(sum(settled_credits), 0) FROM credits.reservations r
                 WHERE r.tenant_id = w.tenant_id AND r.status = 'settled') AS settled
        FROM credits.wallets w
        """
    )
    for row in per_tenant:
        t = row["tenant_id"]
        assert row["issued"] == issued_by_model[t], (t, row["issued"], issued_by_model[t])
        assert row["available"] + row["held"] + row["spent"] == row["issued"], dict(row)
        assert row["spent"] == row["settled"], dict(row)
        assert row["held"] == 0 and row["available"] >= 0
    assert granted_events == len(model.tenants) + len(model.granted) + len(model.purchased)
    assert await conn.fetchval("SELECT count(*) FROM credits.grants") == len(model.granted)
    assert await conn.fetchval("SELECT count(*) FROM credits.purchases") == len(model.purchased)


class _SingleConnPool:
    """Enough of a pool for `reconcile` over one connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def acquire(self) -> Any:
        conn = self.conn

        class _Ctx:
            async def __aenter__(self) -> Any:
                return conn

            async def __aexit__(self, *exc: object) -> None:
                return None

        return _Ctx()


async def test_a_killed_workers_reservation_is_released_by_the_reaper_after_its_ttl(
    own_infra: tuple[Any, dict[str, str], Path], replicas: list[Replica]
) -> None:
    """A worker reserves through replica A and dies (SIGKILL) before settling; replica A dies too.
    Replica B's reaper releases the reservation once its ttl has passed on the database's clock."""
    import asyncpg
    import httpx

    infra, _, _ = own_infra
    for r in replicas:
        if not r.alive:
            r.start()
        await r.wait_ready()
    a, b = replicas
    tenant = uuid.uuid4()
    headers = {"X-Atelier-Internal-Token": TOKEN}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        before = (await client.get(f"{b.url}/accounts/{tenant}")).json()
        # the worker: reserves, says so, then "works" for a minute; it is killed meanwhile
        script = (
            "import httpx, sys, time, uuid\n"
            f"r = httpx.post('{a.url}/reservations', headers={headers!r}, json={{'tenant_id': '{tenant}',"
            " 'credits': 70, 'idempotency_key': str(uuid.uuid4()), 'purpose': 'worker', 'ttl_seconds': 3})\n"
            "print(r.json()['reservation_id'], flush=True)\n"
            "time.sleep(60)\n"
        )
        worker = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE)  # noqa: ASYNC220
        assert worker.stdout is not None
        rid = (await asyncio.to_thread(worker.stdout.readline)).decode().strip()
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        a.kill()
        held = (await client.get(f"{b.url}/accounts/{tenant}")).json()
        assert held["reserved"] == 70 and held["available"] == before["available"] - 70
        conn = await asyncpg.connect(infra.database_url)
        try:
            deadline = time.monotonic() + 30
            while (await client.get(f"{b.url}/reservations/{rid}")).json()["status"] == "pending":
                assert time.monotonic() < deadline, "the reaper did not release the dead worker's reservation"
                await asyncio.sleep(0.1)
            row = await conn.fetchrow(
                "SELECT status, resolved_at >= expires_at AS after_ttl,"
                " resolved_at - expires_at AS late FROM credits.reservations WHERE reservation_id = $1",
                uuid.UUID(rid),
            )
            assert row["status"] == "expired" and row["after_ttl"], dict(row)
            expired_events = await conn.fetchval(
                "SELECT count(*) FROM credits.outbox WHERE topic = 'credits.expired'"
                " AND convert_from(body, 'UTF8')::jsonb -> 'payload' ->> 'reservation_id' = $1",
                rid,
            )
            assert expired_events == 1
        finally:
            await conn.close()
        after = (await client.get(f"{b.url}/accounts/{tenant}")).json()
        assert after == before
        a.start()
        await a.wait_ready()
