"""Per-workspace upload limits: requests and files per minute, and files waiting to be imported.

One workspace must not be able to make the others wait (README "Fair imports"). Three limits, each
answered 429 with `Retry-After` and a problem body naming it (`limit`), before a byte of the body is
read:
- `requests`: a token bucket of upload requests per minute (ATELIER_UPLOAD_REQUESTS_PER_MINUTE), one
  token per request, a minute's worth of burst;
- `files`: a token bucket of files per minute (ATELIER_UPLOAD_FILES_PER_MINUTE). A request's file count
  is known only once its body (a zip: its entries) is read, so a request is let in while the bucket
  holds a file's worth, and its staged files are taken after, possibly into debt: the next requests
  wait until the debt has refilled. Over time a workspace stages no more than the rate;
- `queued`: files staged and not yet imported or quarantined (ATELIER_UPLOAD_MAX_QUEUED_FILES). Checked
  when a request begins: one request may carry the workspace past it by its own files.

The numbers live in PostgreSQL (migration 005), so every gateway replica counts against the same ones:
a bucket is one row, refilled on read from the time it was last read, and locked for the admission's
few statements. The queue count also chooses an upload's lane: a workspace with more than
ATELIER_UPLOAD_BULK_AFTER_QUEUED_FILES files waiting sends the rest to the bulk lane
(libs/common/events.py `upload_lane`).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Literal

import asyncpg
from prometheus_client import Counter

THROTTLED = Counter(
    "atelier_gateway_throttled_total",
    "Upload requests refused with 429, by the workspace limit they hit",
    ["limit"],
)

Limit = Literal["requests", "files", "queued"]


@dataclass(frozen=True)
class UploadQuota:
    requests_per_minute: int
    files_per_minute: int
    max_queued_files: int
    queued_retry_seconds: int


class UploadThrottled(Exception):
    """A workspace limit refused the request: which one, why in words, and when to come back."""

    def __init__(self, limit: Limit, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.limit, self.detail, self.retry_after = limit, detail, max(1, retry_after)


# Refill a bucket to now and lock its row; a new workspace starts with a full bucket.
_REFILL = """
INSERT INTO gateway.upload_buckets AS b (tenant_id, bucket, tokens, refilled_at)
VALUES ($1, $2, $3, clock_timestamp())
ON CONFLICT (tenant_id, bucket) DO UPDATE SET
    tokens = LEAST($3, b.tokens + $3 / 60.0 * EXTRACT(EPOCH FROM clock_timestamp() - b.refilled_at)),
    refilled_at = clock_timestamp()
RETURNING tokens
"""

# Forget the files ingest has settled (imported or quarantined), then count the rest. The count is
# taken in the statement's snapshot, which does not see the DELETE: hence the subtraction.
_QUEUED = """
WITH settled AS (
    DELETE FROM gateway.queued_uploads q
    WHERE q.tenant_id = $1
      AND EXISTS (SELECT 1 FROM ingest.asset_status st WHERE st.tenant_id = $1 AND st.asset_id = q.asset_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM gateway.queued_uploads WHERE tenant_id = $1) - (SELECT count(*) FROM settled)
"""


async def _refill(conn: asyncpg.Connection, tenant_id: uuid.UUID, bucket: str, per_minute: int) -> float:
    tokens: float = await conn.fetchval(_REFILL, tenant_id, bucket, float(per_minute))
    return tokens


def _wait_seconds(missing: float, per_minute: int) -> int:
    """Whole seconds until `missing` tokens have refilled at `per_minute`."""
    return math.ceil(missing * 60.0 / per_minute)


async def queued_files(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> int:
    """The workspace's files staged and not yet settled by ingest (in the caller's transaction)."""
    try:
        async with conn.transaction():  # a savepoint: the fallback below runs in a usable transaction
            count: int = await conn.fetchval(_QUEUED, tenant_id)
    except asyncpg.UndefinedTableError:
        # ingest has not made its read contract yet (a fresh deployment whose gateway came up first):
        # nothing was settled, every row still waits
        count = await conn.fetchval(
            "SELECT count(*) FROM gateway.queued_uploads WHERE tenant_id = $1", tenant_id
        )
    return count


async def admit_upload(pool: asyncpg.Pool, tenant_id: uuid.UUID, quota: UploadQuota) -> int:
    """Let an upload request in or raise `UploadThrottled`; returns the workspace's files waiting to be
    imported. Takes the request's token only when every limit lets it in."""
    async with pool.acquire() as conn, conn.transaction():
        requests = await _refill(conn, tenant_id, "requests", quota.requests_per_minute)
        if requests < 1:
            raise _throttled(
                "requests",
                f"this workspace sent more than {quota.requests_per_minute} upload requests in a minute "
                "(ATELIER_UPLOAD_REQUESTS_PER_MINUTE)",
                _wait_seconds(1 - requests, quota.requests_per_minute),
            )
        files = await _refill(conn, tenant_id, "files", quota.files_per_minute)
        if files < 1:
            raise _throttled(
                "files",
                f"this workspace uploaded more than {quota.files_per_minute} files in a minute "
                "(ATELIER_UPLOAD_FILES_PER_MINUTE)",
                _wait_seconds(1 - files, quota.files_per_minute),
            )
        queued = await queued_files(conn, tenant_id)
        if queued >= quota.max_queued_files:
            raise _throttled(
                "queued",
                f"this workspace has {queued} files waiting to be imported; the limit is "
                f"{quota.max_queued_files} (ATELIER_UPLOAD_MAX_QUEUED_FILES): send more once they are imported",
                quota.queued_retry_seconds,
            )
        await conn.execute(
            "UPDATE gateway.upload_buckets SET tokens = tokens - 1 WHERE tenant_id = $1 AND bucket = 'requests'",
            tenant_id,
        )
    return queued


def _throttled(limit: Limit, detail: str, retry_after: int) -> UploadThrottled:
    THROTTLED.labels(limit).inc()
    return UploadThrottled(limit, detail, retry_after)


async def record_queued(conn: asyncpg.Connection, tenant_id: uuid.UUID, asset_ids: list[uuid.UUID]) -> None:
    """In the transaction that queues their `asset.uploaded`: count the files as waiting, and take them
    from the workspace's file bucket (into debt if need be: see the module docstring)."""
    if not asset_ids:
        return
    await conn.execute(
        "INSERT INTO gateway.queued_uploads (tenant_id, asset_id) SELECT $1, unnest($2::uuid[]) "
        "ON CONFLICT DO NOTHING",
        tenant_id,
        asset_ids,
    )
    # no refill here: the refill is computed from refilled_at, which taking tokens does not move
    await conn.execute(
        "UPDATE gateway.upload_buckets SET tokens = tokens - $2 WHERE tenant_id = $1 AND bucket = 'files'",
        tenant_id,
        float(len(asset_ids)),
    )
