"""The credits service through its internal API, over real PostgreSQL and the real broker: holds under
concurrency (20 x 75 on 500 grants exactly 6; 500 random reservations never overdraw), idempotency
keys, settle / release / expiry resolving once, grants, the signed webhook, the ledger's pages, the
reflection outcome consumers, and reconciliation of every balance against its entries afterwards."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytestmark = pytest.mark.integration

TOKEN = "test-internal-token"


@pytest.fixture(scope="module")
async def credits(infra: object) -> AsyncIterator[dict[str, Any]]:
    """The credits service in this process, served over real HTTP on a free port."""
    import uvicorn

    from services.credits.app import build
    from services.credits.settings import CreditsSettings

    settings = CreditsSettings(internal_token=TOKEN, reaper_interval_seconds=0.2, database_pool_size=20)
    runtime = build(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/internal/v1"
    await runtime.start()
    server = uvicorn.Server(uvicorn.Config(runtime.app, lifespan="off", log_config=None, backlog=1024))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield {"url": url, "runtime": runtime, "settings": settings}
    finally:
        server.should_exit = True
        await task
        sock.close()
        await runtime.stop()


@pytest.fixture
async def client(credits: dict[str, Any]) -> AsyncIterator[Any]:
    import httpx

    limits = httpx.Limits(max_connections=600, max_keepalive_connections=100)
    async with httpx.AsyncClient(
        base_url=credits["url"], headers={"X-Atelier-Internal-Token": TOKEN}, timeout=60, limits=limits
    ) as c:
        yield c


async def _account(client: Any, tenant: uuid.UUID) -> dict[str, int]:
    r = await client.get(f"/accounts/{tenant}")
    assert r.status_code == 200, r.text
    return r.json()


async def _set_available(client: Any, tenant: uuid.UUID, target: int) -> None:
    a = await _account(client, tenant)
    need = target - a["available"]
    if need:
        r = await client.post(
            f"/accounts/{tenant}/grants",
            json={"credits": need, "reason": "test", "idempotency_key": str(uuid.uuid4())},
        )
        assert r.status_code == 201, r.text
    assert (await _account(client, tenant))["available"] == target


def _reserve(
    tenant: uuid.UUID, credits: int, key: str | None = None, ttl: int = 600, purpose: str = "test"
) -> dict:
    return {
        "tenant_id": str(tenant),
        "credits": credits,
        "idempotency_key": key or str(uuid.uuid4()),
        "purpose": purpose,
        "ttl_seconds": ttl,
    }


async def _reconciled(credits: dict[str, Any]) -> None:
    from services.credits.repository import reconcile

    result = await reconcile(credits["runtime"].pool)
    assert result.ok, result


async def test_internal_routes_need_the_service_token(credits: dict[str, Any]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=credits["url"]) as anonymous:
        r = await anonymous.get(f"/accounts/{uuid.uuid4()}")
    assert r.status_code == 401


async def test_account_opens_once_with_the_starting_grant(client: Any, credits: dict[str, Any]) -> None:
    tenant = uuid.uuid4()
    answers = await asyncio.gather(*(client.get(f"/accounts/{tenant}") for _ in range(20)))
    assert {r.status_code for r in answers} == {200}
    start = credits["settings"].starting_grant_credits
    assert all(r.json() == {"balance": start, "reserved": 0, "available": start} for r in answers)
    ledger = (await client.get(f"/accounts/{tenant}/ledger")).json()
    assert [(e["kind"], e["credits"], e["reason"]) for e in ledger["entries"]] == [
        ("grant", start, "starting grant")
    ]


async def test_20_concurrent_reservations_of_75_on_500_grant_exactly_6(
    client: Any, credits: dict[str, Any]
) -> None:
    tenant = uuid.uuid4()
    await _set_available(client, tenant, 500)
    answers = await asyncio.gather(
        *(client.post("/reservations", json=_reserve(tenant, 75)) for _ in range(20))
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] * 6 + [402] * 14, codes
    refused = next(r.json() for r in answers if r.status_code == 402)
    assert refused["type"] == "insufficient_credits" and refused["requested"] == 75
    assert refused["available"] == 50 and refused["balance"] == 500
    assert await _account(client, tenant) == {"balance": 500, "reserved": 450, "available": 50}
    await _reconciled(credits)


async def test_500_concurrent_random_reservations_never_overdraw(
    client: Any, credits: dict[str, Any]
) -> None:
    seed = int(os.environ.get("ATELIER_SIM_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    tenant = uuid.uuid4()
    await _set_available(client, tenant, 5000)
    sizes = [rng.randint(1, 120) for _ in range(500)]
    answers = await asyncio.gather(*(client.post("/reservations", json=_reserve(tenant, n)) for n in sizes))
    granted = [n for n, r in zip(sizes, answers, strict=True) if r.status_code == 201]
    assert {r.status_code for r in answers} <= {201, 402}, f"seed {seed}"
    account = await _account(client, tenant)
    assert account["available"] >= 0 and account["reserved"] == sum(granted), f"seed {seed}: {account}"
    assert account["available"] == 5000 - sum(granted), f"seed {seed}"
    # a refusal happened only when what was left could not cover it: the smallest refused is above the rest
    refused = [n for n, r in zip(sizes, answers, strict=True) if r.status_code == 402]
    if refused:
        assert account["available"] < max(refused), f"seed {seed}"
    await _reconciled(credits)


async def test_same_key_same_reservation_other_parameters_409(client: Any) -> None:
    tenant = uuid.uuid4()
    body = _reserve(tenant, 30)
    answers = await asyncio.gather(*(client.post("/reservations", json=body) for _ in range(10)))
    assert sorted(r.status_code for r in answers) == [200] * 9 + [201]
    assert len({r.json()["reservation_id"] for r in answers}) == 1
    assert (await _account(client, tenant))["reserved"] == 30
    for change in ({"credits": 31}, {"purpose": "other"}, {"ttl_seconds": 601}):
        r = await client.post("/reservations", json={**body, **change})
        assert r.status_code == 409, (change, r.text)
    # a refused request leaves its key unused: after a grant it can succeed
    big = _reserve(tenant, 1000)
    assert (await client.post("/reservations", json=big)).status_code == 402
    await client.post(
        f"/accounts/{tenant}/grants", json={"credits": 1000, "reason": "t", "idempotency_key": "g1"}
    )
    assert (await client.post("/reservations", json=big)).status_code == 201


async def test_settle_release_resolve_once(client: Any, credits: dict[str, Any]) -> None:
    tenant = uuid.uuid4()
    await _set_available(client, tenant, 500)
    ids = []
    for _ in range(3):
        r = await client.post("/reservations", json=_reserve(tenant, 75))
        assert r.status_code == 201 and r.json()["status"] == "pending"
        ids.append(r.json()["reservation_id"])
    r = await client.post(f"/reservations/{ids[0]}/settle", json={"credits": 76})
    assert r.status_code == 422
    r = await client.post(f"/reservations/{ids[0]}/settle", json={"credits": 50})
    assert r.status_code == 200 and r.json()["status"] == "settled" and r.json()["changed"] is True
    assert r.json()["settled_credits"] == 50 and r.json()["released_credits"] == 25
    r = await client.post(f"/reservations/{ids[1]}/release")
    assert r.status_code == 200 and r.json()["status"] == "released" and r.json()["changed"] is True
    # second resolutions change nothing and say what happened
    again = await client.post(f"/reservations/{ids[0]}/release")
    assert (
        again.status_code == 200 and again.json()["status"] == "settled" and again.json()["changed"] is False
    )
    again = await client.post(f"/reservations/{ids[1]}/settle", json={"credits": 10})
    assert again.json()["status"] == "released" and again.json()["changed"] is False
    assert await _account(client, tenant) == {"balance": 450, "reserved": 75, "available": 375}
    # a settle racing a release: exactly one wins
    answers = await asyncio.gather(
        client.post(f"/reservations/{ids[2]}/settle", json={"credits": 75}),
        client.post(f"/reservations/{ids[2]}/release"),
        client.post(f"/reservations/{ids[2]}/settle", json={"credits": 10}),
    )
    assert sum(r.json()["changed"] for r in answers) == 1
    assert (await client.post(f"/reservations/{uuid.uuid4()}/release")).status_code == 404
    await _reconciled(credits)


async def test_reaper_expires_due_reservations_on_the_database_clock(
    client: Any, credits: dict[str, Any]
) -> None:
    tenant = uuid.uuid4()
    await _set_available(client, tenant, 100)
    r = await client.post("/reservations", json=_reserve(tenant, 60, ttl=1))
    rid = r.json()["reservation_id"]
    deadline = time.monotonic() + 15
    while (await _account(client, tenant))["available"] != 100:
        assert time.monotonic() < deadline, "not expired"
        await asyncio.sleep(0.1)
    got = (await client.get(f"/reservations/{rid}")).json()
    assert got["status"] == "expired"
    late = await client.post(f"/reservations/{rid}/settle", json={"credits": 60})
    assert late.json()["status"] == "expired" and late.json()["changed"] is False
    await _reconciled(credits)


async def test_ledger_pages_by_keyset(client: Any) -> None:
    tenant = uuid.uuid4()
    await _account(client, tenant)
    for i in range(7):
        await client.post(
            f"/accounts/{tenant}/grants",
            json={"credits": i + 1, "reason": f"g{i}", "idempotency_key": f"k{i}"},
        )
    seen, cursor = [], None
    while True:
        page = (
            await client.get(
                f"/accounts/{tenant}/ledger", params={"limit": 3, **({"cursor": cursor} if cursor else {})}
            )
        ).json()
        seen += page["entries"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [e["reason"] for e in seen] == [f"g{i}" for i in reversed(range(7))] + ["starting grant"]
    assert len({e["entry_id"] for e in seen}) == 8
    # a cursor it did not give out is a 422, "²" too (a digit to str.isdigit() that int() refuses)
    for bad in ("nope", "²"):
        response = await client.get(f"/accounts/{tenant}/ledger", params={"cursor": bad})
        assert response.status_code == 422, (bad, response.text)


async def test_grants_are_idempotent_and_adjustments_never_overdraw(client: Any) -> None:
    tenant = uuid.uuid4()
    start = (await _account(client, tenant))["available"]
    body = {"credits": 40, "reason": "support", "idempotency_key": "support-1"}
    answers = await asyncio.gather(*(client.post(f"/accounts/{tenant}/grants", json=body) for _ in range(8)))
    assert sorted(r.status_code for r in answers) == [200] * 7 + [201]
    assert (await _account(client, tenant))["available"] == start + 40
    assert (await client.post(f"/accounts/{tenant}/grants", json={**body, "credits": 41})).status_code == 409
    take = await client.post(
        f"/accounts/{tenant}/grants", json={"credits": -(start + 41), "reason": "x", "idempotency_key": "adj"}
    )
    assert take.status_code == 402
    take = await client.post(
        f"/accounts/{tenant}/grants", json={"credits": -40, "reason": "x", "idempotency_key": "adj"}
    )
    assert take.status_code == 201
    assert (await _account(client, tenant))["available"] == start


async def test_webhook_credits_once_refuses_bad_and_stale_signatures(
    client: Any, credits: dict[str, Any]
) -> None:
    from services.credits.billing import StripeLikeProvider, checkout_event

    settings = credits["settings"]
    provider = StripeLikeProvider(settings.billing_webhook_secret)
    packs = (await client.get("/packs")).json()["packs"]
    assert {p["id"] for p in packs} >= {"starter", "studio", "pro"}
    studio = next(p for p in settings.credit_packs if p.id == "studio")
    tenant = uuid.uuid4()
    start = (await _account(client, tenant))["available"]
    body = checkout_event(tenant, studio)

    def post(raw: bytes, signature: str) -> Any:
        return client.post("/billing/webhook", content=raw, headers={"Stripe-Signature": signature})

    now = int(time.time())
    first = await post(body, provider.signature(body, now))
    assert first.status_code == 200 and first.json()["outcome"] == "credited", first.text
    # the same event again (a provider retry, or a replay): 200, nothing changes
    replays = await asyncio.gather(*(post(body, provider.signature(body, now)) for _ in range(5)))
    assert all(r.status_code == 200 and r.json()["outcome"] == "duplicate" for r in replays)
    assert (await _account(client, tenant))["available"] == start + studio.credits
    # a wrong secret, a tampered body, a stale timestamp, no signature: 400
    other = StripeLikeProvider("whsec_wrong")
    fresh = checkout_event(tenant, studio)
    assert (await post(fresh, other.signature(fresh, now))).status_code == 400
    tampered = fresh.replace(b'"studio"', b'"pro"')
    assert (await post(tampered, provider.signature(fresh, now))).status_code == 400
    stale = await post(fresh, provider.signature(fresh, now - 301))
    assert stale.status_code == 400 and "stale" in stale.json()["detail"]
    assert (await client.post("/billing/webhook", content=fresh)).status_code == 400
    assert (await _account(client, tenant))["available"] == start + studio.credits
    # an event we do not act on is acknowledged
    ignored = json.dumps({"id": "evt_x", "type": "invoice.paid", "data": {"object": {}}}).encode()
    r = await post(ignored, provider.signature(ignored, now))
    assert r.status_code == 200 and r.json()["outcome"] == "ignored"
    await _reconciled(credits)


async def test_reflection_outcomes_settle_and_release_once(client: Any, credits: dict[str, Any]) -> None:
    from aiokafka import AIOKafkaProducer

    from libs.common.events import Event, ReflectionCompleted, ReflectionFailed

    tenant = uuid.uuid4()
    await _set_available(client, tenant, 300)
    a = (await client.post("/reservations", json=_reserve(tenant, 100))).json()["reservation_id"]
    b = (await client.post("/reservations", json=_reserve(tenant, 100))).json()["reservation_id"]
    c = (await client.post("/reservations", json=_reserve(tenant, 50))).json()["reservation_id"]
    completed = Event.of(
        ReflectionCompleted(reflection_id=uuid.uuid4(), reservation_id=uuid.UUID(a), credits=70, tokens=1234),
        tenant_id=tenant,
    )
    failed = Event.of(
        ReflectionFailed(reflection_id=uuid.uuid4(), reservation_id=uuid.UUID(b), reason="model away"),
        tenant_id=tenant,
    )
    # asks for more than reserved: settled at the reservation
    greedy = Event.of(
        ReflectionCompleted(reflection_id=uuid.uuid4(), reservation_id=uuid.UUID(c), credits=999, tokens=1),
        tenant_id=tenant,
    )
    producer = AIOKafkaProducer(bootstrap_servers=credits["settings"].kafka_bootstrap)
    await producer.start()
    try:
        for event in (completed, failed, greedy, completed, failed):  # redeliveries included
            await producer.send_and_wait(event.topic, event.to_bytes(), key=event.key)
    finally:
        await producer.stop()
    deadline = time.monotonic() + 30
    while True:
        account = await _account(client, tenant)
        if account["reserved"] == 0:
            break
        assert time.monotonic() < deadline, account
        await asyncio.sleep(0.2)
    assert account == {"balance": 300 - 70 - 50, "reserved": 0, "available": 180}
    states = [(await client.get(f"/reservations/{i}")).json() for i in (a, b, c)]
    assert [(s["status"], s["settled_credits"]) for s in states] == [
        ("settled", 70),
        ("released", None),
        ("settled", 50),
    ]
    await _reconciled(credits)


async def test_the_database_refuses_overdraft_unbalanced_transfers_and_edits(credits: dict[str, Any]) -> None:
    """The last line of defence, below the code: CHECK constraints, the deferred balance trigger, and
    append-only entries."""
    import asyncpg

    pool = credits["runtime"].pool
    tenant = uuid.uuid4()
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO credits.wallets (tenant_id, available) VALUES ($1, 0)", tenant)
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE credits.wallets SET available = -1 WHERE tenant_id = $1", tenant)
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE credits.wallets SET held = held - 1 WHERE tenant_id = $1", tenant)
        with pytest.raises(asyncpg.RaiseError, match="does not balance"):
            async with conn.transaction():
                transfer = await conn.fetchval(
                    "INSERT INTO credits.transfers (tenant_id, kind, credits) VALUES ($1, 'grant', 5)"
                    " RETURNING transfer_id",
                    tenant,
                )
                await conn.execute(
                    "INSERT INTO credits.entries (transfer_id, tenant_id, account, amount)"
                    " VALUES ($1, $2, 'available', 5)",
                    transfer,
                    tenant,
                )
        entry = await conn.fetchval("SELECT min(entry_id) FROM credits.entries")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE credits.entries SET amount = amount + 1 WHERE entry_id = $1", entry)
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM credits.entries WHERE entry_id = $1", entry)
        await conn.execute("DELETE FROM credits.wallets WHERE tenant_id = $1", tenant)


async def test_reconciliation_finds_a_stored_balance_that_differs_from_its_entries(
    client: Any, credits: dict[str, Any]
) -> None:
    from prometheus_client import REGISTRY

    service = credits["runtime"].app.state.credits
    tenant = uuid.uuid4()
    await _account(client, tenant)
    assert (await service.reconcile()).ok
    assert REGISTRY.get_sample_value("atelier_credits_reconciliation_ok") == 1
    pool = credits["runtime"].pool
    await pool.execute("UPDATE credits.wallets SET available = available + 7 WHERE tenant_id = $1", tenant)
    try:
        result = await service.reconcile()
        assert not result.ok
        assert [m["tenant_id"] for m in result.mismatched] == [str(tenant)]
        assert result.mismatched[0]["available"] == result.mismatched[0]["ledger_available"] + 7
        assert REGISTRY.get_sample_value("atelier_credits_reconciliation_ok") == 0
    finally:
        await pool.execute(
            "UPDATE credits.wallets SET available = available - 7 WHERE tenant_id = $1", tenant
        )
    assert (await service.reconcile()).ok


async def test_metrics_count_reservations_by_outcome_and_expiries(client: Any) -> None:
    import httpx

    base = str(client.base_url).removesuffix("/internal/v1").removesuffix("/internal/v1/")
    async with httpx.AsyncClient() as plain:
        text = (await plain.get(f"{base}/metrics")).text
    for name in (
        'atelier_credits_reservations_total{outcome="created"}',
        'atelier_credits_reservations_total{outcome="insufficient"}',
        'atelier_credits_reservations_total{outcome="replayed"}',
        'atelier_credits_reservations_total{outcome="conflict"}',
        "atelier_credits_settled_credits_total",
        'atelier_credits_released_credits_total{how="expiry"}',
        "atelier_credits_expiries_total",
        "atelier_credits_reaper_lag_seconds",
        "atelier_credits_reconciliation_ok",
        'route="/internal/v1/reservations/{reservation_id}/settle"',
    ):
        assert name in text, name


async def test_a_settle_after_the_ttl_never_spends(client: Any, credits: dict[str, Any]) -> None:
    """Past `expires_at` (the database's clock) a reservation can only expire: a settle that comes
    before the reaper expires it itself and says so; the credits go back, none are spent."""
    tenant = uuid.uuid4()
    await _set_available(client, tenant, 100)
    pool = credits["runtime"].pool
    for _ in range(5):
        rid = (await client.post("/reservations", json=_reserve(tenant, 40))).json()["reservation_id"]
        await pool.execute(
            "UPDATE credits.reservations SET expires_at = now() - interval '1 second' WHERE reservation_id = $1",
            uuid.UUID(rid),
        )
        late = await client.post(f"/reservations/{rid}/settle", json={"credits": 40})
        assert late.status_code == 200
        assert (late.json()["status"], late.json()["changed"]) == ("expired", False), late.json()
    assert await _account(client, tenant) == {"balance": 100, "reserved": 0, "available": 100}
    await _reconciled(credits)
