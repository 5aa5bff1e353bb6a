"""Delivered outbox rows and handled event ids are pruned once old, never before."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from libs.common.outbox import prune_delivered

pytestmark = pytest.mark.integration


async def test_only_old_delivered_rows_and_old_inbox_ids_go(stack) -> None:
    pool = stack["ingest"].pool
    now = datetime.now(UTC)
    marker = uuid.uuid4().hex.encode()
    rows = {  # name -> (published_at, created_at)
        "old published": (now - timedelta(days=2), now - timedelta(days=2)),
        "fresh published": (now - timedelta(hours=1), now - timedelta(hours=1)),
        "old unpublished": (None, now - timedelta(days=3)),
    }
    for name, (published_at, created_at) in rows.items():
        await pool.execute(
            "INSERT INTO ingest.outbox (event_id, topic, key, body, created_at, published_at) "
            "VALUES ($1, 'test.prune', $2, $3, $4, $5)",
            uuid.uuid4(), marker, name.encode(), created_at, published_at,
        )  # fmt: skip
    old_id, fresh_id = uuid.uuid4(), uuid.uuid4()
    await pool.execute(
        "INSERT INTO ingest.inbox (event_id, handled_at) VALUES ($1, $2), ($3, $4)",
        old_id, now - timedelta(days=15), fresh_id, now - timedelta(days=13),
    )  # fmt: skip

    await prune_delivered(pool, "ingest", now=now)

    left = {
        r["body"].decode() for r in await pool.fetch("SELECT body FROM ingest.outbox WHERE key = $1", marker)
    }
    assert left == {"fresh published", "old unpublished"}  # an unpublished row is never dropped
    kept = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM ingest.inbox WHERE event_id = ANY($1::uuid[])",
                                                      [old_id, fresh_id])}  # fmt: skip
    assert kept == {fresh_id}
