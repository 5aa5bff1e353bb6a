"""Fair imports over the real stack (README "Fair imports"): while one workspace has a large import
queued, another workspace's small upload is imported in about the time its own files take, not after
the backlog.

The whale's files go where the gateway puts a large import (the bulk lane `asset.uploaded.bulk`, keyed by
asset); the minnow uploads 64 files through the HTTP API (the interactive lane). A second minnow's
files are put behind the whale in the same lane, as every upload was before the lanes: that is the
latency the lanes save, and it must be far longer, or this test would show nothing.

On the one ingest worker the two lanes share, the bulk lane yields to the interactive one
(services/ingest/lanes.py): while the minnow's files are imported, the whale's barely move."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
import uuid
from typing import Any

import pytest
from PIL import Image

from libs.common.assets import asset_id_for
from libs.common.events import AssetUploaded, Event, Topics, upload_lane
from libs.common.storage import original_key
from tests.polling import until

pytestmark = pytest.mark.integration

WHALE_FILES = 1000
MINNOW_FILES = 64  # eight interactive batches (ingest_batch_size 8)
# the minnow's files through the whole pipeline, on a shared 2-core machine; the whale's backlog
# takes several times this to drain (asserted below, so the bound says something)
MINNOW_WITHIN_SECONDS = 15.0
# whale files committed while the minnow's were imported: the bulk batch in hand when the minnow's
# began, if it was on its last file (8), and one more should a file slip in between two interactive
# batches on a slow poll. Side by side without yielding, the whale kept pace with the minnow (32 of
# its 64, measured)
WHALE_WHILE_MINNOW_AT_MOST = 16


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (seed % 256, seed // 256 % 256, seed // 65536 % 256)).save(out, "PNG")
    return out.getvalue()


async def _stage_directly(stack: dict[str, Any], tenant: uuid.UUID, prefix: str, seeds: range) -> list[Event]:
    """Originals in S3 and their `asset.uploaded` events, as the gateway makes them for a large import."""
    ingest = stack["ingest"]
    store = ingest.store
    gate = asyncio.Semaphore(16)
    events: list[Event] = []

    async def put(seed: int) -> None:
        data = _png(seed)
        sha = hashlib.sha256(data).hexdigest()
        async with gate:
            await store.put(store.originals, original_key(tenant, sha), data, "image/png")
        uploaded = AssetUploaded(
            asset_id=asset_id_for(tenant, sha), sha256=sha, object_key=original_key(tenant, sha),
            filename=f"{prefix}-{seed}.png", size=len(data), source="zip",
        )  # fmt: skip
        # a workspace with this many files waiting is busy (tests/integration/test_upload_quotas.py)
        events.append(Event.of(uploaded, tenant_id=tenant, topic=upload_lane(uploaded, busy=True)))

    await asyncio.gather(*(put(seed) for seed in seeds))
    return events


async def _publish(stack: dict[str, Any], events: list[Event]) -> None:
    producer = stack["ingest"].producer
    sent = [await producer.send(e.topic, e.to_bytes(), key=e.key) for e in events]
    await asyncio.gather(*sent)


async def _imported(stack: dict[str, Any], tenant: uuid.UUID | str) -> int:
    count: int = await stack["ingest"].pool.fetchval(
        "SELECT count(*) FROM ingest.assets WHERE tenant_id = $1", uuid.UUID(str(tenant))
    )
    return count


async def test_a_small_import_does_not_wait_for_a_large_one(stack, new_tenant) -> None:
    whale, late_minnow = uuid.uuid4(), uuid.uuid4()
    whale_events = await _stage_directly(stack, whale, "whale", range(1, WHALE_FILES + 1))
    late_events = await _stage_directly(
        stack, late_minnow, "late", range(2_000_001, 2_000_001 + MINNOW_FILES)
    )
    assert {e.topic for e in whale_events + late_events} == {Topics.ASSET_UPLOADED_BULK}
    assert len({e.key for e in whale_events}) == WHALE_FILES  # spread over every partition
    _, minnow = await new_tenant()
    minnow_tenant = (await minnow.get("/api/v1/me")).json()["tenant_id"]
    files = [("files", (f"minnow-{i}.png", _png(1_000_001 + i), "image/png")) for i in range(MINNOW_FILES)]

    await _publish(stack, whale_events)
    await _publish(stack, late_events)  # behind the whale, in the whale's lane

    async def whale_started() -> bool:
        return await _imported(stack, whale) > 0

    assert await until(whale_started, within=30.0)
    started = time.monotonic()
    # a minute apart, dated by the browser's lastModified: one session
    dates = [str(1_760_000_000_000 + i * 60_000) for i in range(MINNOW_FILES)]
    response = await minnow.post(
        "/api/v1/assets", params={"wait": "false"}, files=files, data={"last_modified": dates}
    )
    assert response.status_code == 200 and {r["status"] for r in response.json()} == {"queued"}

    async def minnow_began() -> bool:
        return await _imported(stack, minnow_tenant) > 0

    assert await until(minnow_began, within=MINNOW_WITHIN_SECONDS, every=0.02)
    whale_when_minnow_began = await _imported(stack, whale)

    async def minnow_imported() -> bool:
        return await _imported(stack, minnow_tenant) == MINNOW_FILES

    assert await until(minnow_imported, within=MINNOW_WITHIN_SECONDS, every=0.02), (
        f"the minnow's {MINNOW_FILES} files were not imported within {MINNOW_WITHIN_SECONDS} s "
        f"({await _imported(stack, minnow_tenant)} were; the whale had {await _imported(stack, whale)})"
    )
    minnow_seconds = time.monotonic() - started
    whale_now = await _imported(stack, whale)
    whale_left = WHALE_FILES - whale_now
    assert whale_now - whale_when_minnow_began <= WHALE_WHILE_MINNOW_AT_MOST, (
        f"{whale_now - whale_when_minnow_began} whale files were imported beside the minnow's: the bulk lane did not yield"
    )

    # ... and in sessions: clustering keeps each workspace's order, and the whale's imports reach it no
    # faster than ingest makes them, so the minnow's wait there stays short too
    async def minnow_in_sessions() -> bool:
        sessions = (await minnow.get("/api/v1/sessions")).json()
        return sum(s["asset_count"] for s in sessions) == MINNOW_FILES

    assert await until(minnow_in_sessions, within=MINNOW_WITHIN_SECONDS, every=0.05)
    session_seconds = time.monotonic() - started

    # the same files queued behind the whale wait for (about) all of it
    async def late_imported() -> bool:
        return await _imported(stack, late_minnow) == MINNOW_FILES

    assert await until(late_imported, within=120.0, every=0.1)
    late_seconds = time.monotonic() - started
    print(
        f"\nminnow (interactive lane): imported {minnow_seconds:.2f} s, in sessions {session_seconds:.2f} s "
        f"(whale files imported meanwhile: {whale_now - whale_when_minnow_began}); the whale still had {whale_left} of {WHALE_FILES} "
        f"files queued then; the same upload behind the whale: {late_seconds:.2f} s"
    )
    assert whale_left >= WHALE_FILES // 3, "the whale's backlog was mostly gone: the test showed nothing"
    assert minnow_seconds * 3 < late_seconds

    async def whale_done() -> bool:  # leave the pipeline empty for the tests after this one
        return await _imported(stack, whale) == WHALE_FILES

    assert await until(whale_done, within=120.0, every=0.25)
