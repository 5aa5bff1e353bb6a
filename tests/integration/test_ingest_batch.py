"""One ingest batch through `UploadedHandler`, over the real database and object store: files of
several tenants, a duplicate, a corrupt file and a missing original in one batch. The handler
fetches ahead and writes each row while the next file is analysed; this checks the rows, the
thumbnails and the events come out complete and in the batch's order all the same.

The batch's transaction is rolled back at the end, so nothing is left for the session's own
ingest consumer or outbox relay."""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _png(seed: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (200, 120), (seed % 256, 40, 200 - seed % 200)).save(out, "PNG")
    return out.getvalue()


async def test_a_mixed_batch_is_written_in_order(infra: object) -> None:
    from libs.common.consumer import Delivery
    from libs.common.db import create_pool, migrate
    from libs.common.events import AssetUploaded, Event
    from libs.common.storage import ObjectStore, original_key
    from services.ingest.handlers import UploadedHandler
    from services.ingest.lanes import InteractiveFirst
    from services.ingest.settings import IngestSettings

    settings = IngestSettings()
    assert settings.database_url == os.environ["ATELIER_DATABASE_URL"]
    store = ObjectStore(settings)
    await store.ensure_buckets()
    pool = await create_pool(settings.database_url)
    await migrate(pool, "ingest", REPO / "services/ingest/migrations")
    alice, bob = uuid.uuid4(), uuid.uuid4()

    async def upload(tenant: uuid.UUID, name: str, data: bytes, *, stored: bool = True) -> Delivery:
        digest = hashlib.sha256(data).hexdigest()
        key = original_key(tenant, digest)
        if stored:
            await store.put(store.originals, key, data)
        payload = AssetUploaded(
            asset_id=uuid.uuid4(), sha256=digest, object_key=key, filename=name, size=len(data)
        )
        return Delivery(Event.of(payload, tenant_id=tenant), payload)

    same = _png(1)
    batch = [
        await upload(alice, "a1.png", same),
        await upload(bob, "b1.png", same),  # the same bytes are Bob's own asset
        await upload(alice, "broken.png", b"\x89PNG\r\n\x1a\n not really"),
        await upload(bob, "b2.png", _png(2)),
        await upload(alice, "gone.png", _png(3), stored=False),
        await upload(alice, "a1-again.png", same),  # a duplicate of the first, in the same batch
        await upload(bob, "b3.png", _png(4)),
    ]
    handler = UploadedHandler(settings, store, InteractiveFirst())
    try:
        async with pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                await handler(conn, batch)
                assets = await conn.fetch(
                    "SELECT tenant_id, filename, card_key, detail_key FROM ingest.assets"
                    " WHERE tenant_id = ANY($1::uuid[]) ORDER BY filename",
                    [alice, bob],
                )
                quarantined = await conn.fetch(
                    "SELECT filename, reason FROM ingest.quarantine WHERE tenant_id = ANY($1::uuid[])",
                    [alice, bob],
                )
                outbox = await conn.fetch("SELECT * FROM ingest.outbox ORDER BY id")
            finally:
                await transaction.rollback()
    finally:
        await pool.close()

    assert [(r["tenant_id"], r["filename"]) for r in assets] == [
        (alice, "a1.png"),
        (bob, "b1.png"),
        (bob, "b2.png"),
        (bob, "b3.png"),
    ]
    for row in assets:
        for key in (row["card_key"], row["detail_key"]):
            assert (await store.get(store.thumbnails, key))[:4] == b"RIFF"
    reasons = {r["filename"]: r["reason"] for r in quarantined}
    assert set(reasons) == {"broken.png", "gone.png"}
    assert "missing" in reasons["gone.png"]
    # the events follow the batch's order (the duplicate makes none)
    bodies = [json.loads(r["body"]) for r in outbox]
    names = [body["payload"]["filename"] for body in bodies if body["tenant_id"] in (str(alice), str(bob))]
    assert names == ["a1.png", "b1.png", "broken.png", "b2.png", "gone.png", "b3.png"]
