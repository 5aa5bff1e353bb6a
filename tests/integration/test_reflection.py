"""The reflection service over the real broker and PostgreSQL: quotes through its internal API (60 images
priced, 49 refused with the reason, an unknown session 404), and the worker: a `reflection.requested`
for a 60-image session delivered twice (and the same reflection requested again under a new event id)
writes one completed reflection and publishes one `reflection.completed`; a failing model with no
fallback publishes `reflection.failed`.

The session's data is written straight into ingest's and clustering's tables (their migrations applied
here), so the test needs neither service running: the reflection service reads them through their views.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

TOKEN = "test-internal-token"
REPO = Path(__file__).resolve().parents[2]
BASE = "a lighthouse on a cliff, dramatic sky, oil painting"


@pytest.fixture(scope="module")
async def reflection(stack: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """The test stack's own reflection runtime (one consumer of `reflection.requested` per broker: a
    second runtime here would share its consumer group and take some of these tests' events)."""
    import httpx

    runtime = stack["reflection"]
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.app),
        base_url="http://reflection/internal/v1",
        headers={"X-Atelier-Internal-Token": TOKEN},
        timeout=60,
    )
    try:
        yield {"runtime": runtime, "pool": runtime.pool, "client": client, "settings": runtime.settings}
    finally:
        await client.aclose()


def _thumbnail(color: tuple[int, int, int], seed: int) -> bytes:
    import io
    import random

    from PIL import Image, ImageDraw

    rnd = random.Random(seed)
    im = Image.new("RGB", (256, 256), color)
    d = ImageDraw.Draw(im)
    for _ in range(5):
        x, y = rnd.randrange(200), rnd.randrange(200)
        c = tuple(max(0, min(255, v + rnd.randrange(-40, 40))) for v in color)
        d.rectangle([x, y, x + rnd.randrange(10, 56), y + rnd.randrange(10, 56)], fill=c)  # type: ignore[arg-type]
    out = io.BytesIO()
    im.save(out, "WEBP")
    return out.getvalue()


async def _make_session(
    pool: Any, tenant: uuid.UUID, n: int, *, start: datetime, varied: bool = True, store: Any = None
) -> uuid.UUID:
    """A session of `n` images as make_reflection_session.py makes them (for n = 60: CFG 5 -> 7 and
    ', golden hour' at image 31, juggernautXL_v9 -> dreamshaperXL_turbo at image 41, blue then orange)."""
    session = uuid.uuid4()
    rows = []
    for i in range(n):
        late = varied and i >= 30
        rows.append((
            uuid.uuid4(), tenant, uuid.uuid4().hex + uuid.uuid4().hex, f"s_{i:03d}.png", "upload", 1000, "PNG", "a1111",
            BASE + (", golden hour" if late else "") if varied else "a red fox in snow, watercolor",
            "blurry, lowres", 1000 + i, "dreamshaperXL_turbo" if varied and i >= 40 else "juggernautXL_v9",
            "DPM++ 2M Karras", 30, 7.0 if late else 5.0, 256, 256, start + timedelta(seconds=40 * i),
            ["#e6781e", "#f08a30"] if late else ["#1e3cc8", "#2a48d0"],
        ))  # fmt: skip
    if store is not None:  # card thumbnails, as ingest stores them
        for i, r in enumerate(rows):
            key = f"{tenant}/{r[0]}/card.webp"
            color = (230, 120, 30) if varied and i >= 30 else (30, 60, 200)
            await store.put(store.thumbnails, key, _thumbnail(color, i), "image/webp")
            rows[i] = (*r, key)
    else:
        rows = [(*r, None) for r in rows]
    async with pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            """INSERT INTO ingest.assets (asset_id, tenant_id, sha256, filename, source, size_bytes, format, tool,
                   prompt, negative_prompt, seed, model, sampler, steps, cfg, width, height, generated_at,
                   dominant_colors, card_key)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)""",
            rows,
        )
        await conn.execute(
            """INSERT INTO clustering.sessions (session_id, tenant_id, start_at, end_at, asset_count)
               VALUES ($1, $2, $3, $4, $5)""",
            session,
            tenant,
            rows[0][17],
            rows[-1][17],
            n,
        )
        await conn.executemany(
            """INSERT INTO clustering.members (asset_id, tenant_id, session_id, generated_at, precision)
               VALUES ($1, $2, $3, $4, 'second')""",
            [(r[0], tenant, session, r[17]) for r in rows],
        )
    return session


async def _publish(settings: Any, *events: Any) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(event.topic, event.to_bytes(), key=event.key)
    finally:
        await producer.stop()


async def _outcomes(
    settings: Any, reflection_id: uuid.UUID, settle_seconds: float = 3.0
) -> list[dict[str, Any]]:
    """Every reflection.completed / reflection.failed on the broker naming this reflection, read from the
    start until nothing new came for `settle_seconds`."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        "reflection.completed",
        "reflection.failed",
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        quiet_since = time.monotonic()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            new = [
                json.loads(m.value)
                for records in batch.values()
                for m in records
                if json.loads(m.value)["payload"].get("reflection_id") == str(reflection_id)
            ]
            found += new
            if new:
                quiet_since = time.monotonic()
            elif found and time.monotonic() - quiet_since > settle_seconds:
                break
    finally:
        await consumer.stop()
    return found


async def _wait_status(
    client: Any, tenant: uuid.UUID, reflection_id: uuid.UUID, statuses: set[str]
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = await client.get(f"/tenants/{tenant}/reflections/{reflection_id}")
        if r.status_code == 200 and r.json()["status"] in statuses:
            return r.json()  # type: ignore[no-any-return]
        await asyncio.sleep(0.2)
    raise AssertionError(f"reflection {reflection_id} never reached {statuses}")


async def test_quotes(reflection: dict[str, Any]) -> None:
    from libs.reflection import pricing

    client, pool = reflection["client"], reflection["pool"]
    tenant = uuid.uuid4()
    s60 = await _make_session(pool, tenant, 60, start=datetime(2026, 11, 1, 10, tzinfo=UTC))
    s49 = await _make_session(pool, tenant, 49, start=datetime(2026, 11, 2, 10, tzinfo=UTC), varied=False)
    r = await client.post(f"/tenants/{tenant}/sessions/{s60}/quote")
    assert r.status_code == 200, r.text
    q = r.json()
    assert q["credits"] == pricing.BUILTIN_CREDITS and q["model"] == pricing.BUILTIN_MODEL
    assert q["asset_count"] == 60 and not q["expired"]
    expires = datetime.fromisoformat(q["expires_at"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)
    assert (await client.get(f"/tenants/{tenant}/quotes/{q['quote_id']}")).json()["credits"] == q["credits"]
    assert (await client.get(f"/tenants/{uuid.uuid4()}/quotes/{q['quote_id']}")).status_code == 404
    r = await client.post(f"/tenants/{tenant}/sessions/{s49}/quote")
    assert r.status_code == 422 and "at least 50 images" in r.json()["detail"] and "49" in r.json()["detail"]
    assert (await client.post(f"/tenants/{tenant}/sessions/{uuid.uuid4()}/quote")).status_code == 404
    # another workspace cannot quote this one's session
    assert (await client.post(f"/tenants/{uuid.uuid4()}/sessions/{s60}/quote")).status_code == 404
    r = await client.post(
        f"/tenants/{tenant}/sessions/{s60}/quote", headers={"X-Atelier-Internal-Token": "wrong"}
    )
    assert r.status_code == 401


async def test_requested_twice_completes_once(reflection: dict[str, Any]) -> None:
    from libs.common.events import Event, ReflectionRequested

    client, pool, settings = reflection["client"], reflection["pool"], reflection["settings"]
    tenant = uuid.uuid4()
    await _make_session(pool, tenant, 20, start=datetime(2026, 10, 1, 10, tzinfo=UTC), varied=False)
    store = reflection["runtime"].store
    session = await _make_session(pool, tenant, 60, start=datetime(2026, 11, 1, 10, tzinfo=UTC), store=store)
    quote = (await client.post(f"/tenants/{tenant}/sessions/{session}/quote")).json()
    rid, reservation = uuid.uuid4(), uuid.uuid4()
    # the gateway makes the row on confirm: pending; the same call again changes nothing
    body = {"quote_id": quote["quote_id"], "reflection_id": str(rid)}
    r = await client.post(f"/tenants/{tenant}/reflections", json=body)
    assert r.status_code == 201 and r.json() == {"reflection_id": str(rid), "status": "pending"}
    assert (await client.post(f"/tenants/{tenant}/reflections", json=body)).status_code == 200
    payload = ReflectionRequested(
        reflection_id=rid, session_id=session, quote_id=uuid.UUID(quote["quote_id"]),
        reservation_id=reservation, credits=quote["credits"],
    )  # fmt: skip
    event = Event.of(payload, tenant_id=tenant)
    again = Event.of(payload, tenant_id=tenant)  # the gateway publishing it twice: another event id
    await _publish(settings, event, event, again)
    done = await _wait_status(client, tenant, rid, {"completed", "failed"})
    assert done["status"] == "completed", done
    # delivered again after it completed (the same event, and once more under a new id): nothing changes
    await _publish(settings, event, Event.of(payload, tenant_id=tenant))
    await asyncio.sleep(2)
    assert (await _wait_status(client, tenant, rid, {"completed"}))["updated_at"] == done["updated_at"]
    outcomes = await _outcomes(settings, rid)
    assert [o["type"] for o in outcomes] == ["reflection.completed"]
    (completed,) = outcomes
    assert completed["payload"] == {
        "reflection_id": str(rid), "reservation_id": str(reservation), "credits": done["credits_charged"], "tokens": 0,
    }  # fmt: skip
    assert 0 < done["credits_charged"] <= quote["credits"]
    assert done["model"] == "builtin" and done["reservation_id"] == str(reservation)
    count = await pool.fetchval(
        "SELECT count(*) FROM reflection.outbox WHERE convert_from(body, 'UTF8') LIKE $1", f"%{rid}%"
    )
    assert count == 1
    # what the acceptance check reads: the subject, the added phrase, the new model and the CFG change
    text = json.dumps(done).lower()
    for word in ("lighthouse", "golden hour", "dreamshaperxl_turbo"):
        assert word in text
    assert re.search(r"cfg\D{0,60}5(?:\.0+)?\D{1,30}7(?:\.0+)?", text)
    assert (
        done["summary"] and done["summary_statements"] and done["style_patterns"] and done["evolution_notes"]
    )
    kinds = {f["kind"] for f in done["facts"]}
    # every image's thumbnail was measured (perceptual hash, sharpness, exposure)
    assert done["facts"][0]["data"] == {"count": 60, "measured_pixels": 60}
    assert {"subject", "cfg_change", "model_switch", "phrase_added", "palette_shift", "phase"} <= kinds
    # the gateway's view of it, and the card's summary
    card = await pool.fetchrow(
        "SELECT status, summary, credits_charged FROM reflection.reflection_cards WHERE reflection_id = $1",
        rid,
    )
    assert card["status"] == "completed" and "lighthouse" in card["summary"]
    latest = await pool.fetchval(
        "SELECT summary FROM reflection.session_reflection_summaries WHERE tenant_id = $1 AND session_id = $2",
        tenant,
        session,
    )
    assert latest == card["summary"]
    listed = (await client.get(f"/tenants/{tenant}/sessions/{session}/reflections")).json()["items"]
    assert [x["reflection_id"] for x in listed] == [str(rid)]


async def test_failing_model_publishes_failed(reflection: dict[str, Any]) -> None:
    from libs.common.events import Event, ReflectionRequested
    from services.reflection.curators import ModelCurator

    client, pool, settings = reflection["client"], reflection["pool"], reflection["settings"]
    service = reflection["runtime"].app.state.reflection
    tenant = uuid.uuid4()
    session = await _make_session(pool, tenant, 60, start=datetime(2026, 11, 1, 10, tzinfo=UTC))
    builtin = service.curator
    service.curator = ModelCurator(
        "openai/broken-model", timeout=5, retries=0, options={"mock_response": Exception("the model is down")}
    )
    try:
        r = await client.post(f"/tenants/{tenant}/sessions/{session}/quote")
        assert r.status_code == 200, r.text
        quote = r.json()
        assert quote["model"] == "openai/broken-model" and quote["credits"] >= 1
        rid, reservation = uuid.uuid4(), uuid.uuid4()
        event = Event.of(
            ReflectionRequested(
                reflection_id=rid, session_id=session, quote_id=uuid.UUID(quote["quote_id"]),
                reservation_id=reservation, credits=quote["credits"],
            ),
            tenant_id=tenant,
        )  # fmt: skip
        await _publish(settings, event)  # no pending row first: the worker makes it
        done = await _wait_status(client, tenant, rid, {"completed", "failed"})
    finally:
        service.curator = builtin
    assert done["status"] == "failed" and "the model is down" in done["error"], done
    assert done["credits_charged"] == 0
    outcomes = await _outcomes(settings, rid, settle_seconds=1.0)
    assert [o["type"] for o in outcomes] == ["reflection.failed"]
    assert outcomes[0]["payload"]["reservation_id"] == str(reservation)
    assert "the model is down" in outcomes[0]["payload"]["reason"]
