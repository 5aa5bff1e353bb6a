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

The numbers live in PostgreSQL (migrations 005 and 006), so every gateway replica counts against the
same ones: a bucket is one row, refilled on read from the time it was last read, and locked for the
admission's few statements.

The same numbers choose an upload's lane (libs/common/events.py `upload_lane`): a workspace with
ATELIER_UPLOAD_BULK_AFTER_FILES files waiting, or staged in about the last minute, counting the
request's own, sends the rest to the bulk lane. Waiting alone was not enough: a large import that
ingest keeps up with has few files waiting at any time, so it stayed in the interactive lane and
everyone else's files queued behind its own (`make chaos`: 700 of 883 files in the interactive lane
while a 3,000-image import ran). `recent` counts the files staged, decaying by e every
ATELIER_UPLOAD_RECENT_SECONDS (60): a workspace staging r files a second holds about 60·r, one that
uploaded a batch a few minutes ago holds almost none.
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
    recent_seconds: float = 60.0  # how fast `recent` forgets: by e in this time


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


# Decay the workspace's recent files to now, with $2 the seconds to forget by e.
_RECENT = """
INSERT INTO gateway.upload_buckets AS b (tenant_id, bucket, tokens, refilled_at)
VALUES ($1, 'recent', 0, clock_timestamp())
ON CONFLICT (tenant_id, bucket) DO UPDATE SET
    tokens = b.tokens * exp(-GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - b.refilled_at))::float8 / $2),
    refilled_at = clock_timestamp()
RETURNING tokens
"""


@dataclass(frozen=True)
class Admission:
    """What an admitted request learns of its workspace: files waiting to be imported, and files
    staged in about the last minute (decaying)."""

    queued: int
    recent: float

    def busy(self, request_files: int, bulk_after: int | None) -> bool:
        """Whether the request's next files take the bulk lane: `request_files` are the request's own
        (staged so far, or known to be in it)."""
        # `recent` in whole files: its decay would keep 3 files staged a moment ago just under 3
        return bulk_after is not None and max(self.queued, round(self.recent)) + request_files >= bulk_after


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


async def admit_upload(pool: asyncpg.Pool, tenant_id: uuid.UUID, quota: UploadQuota) -> Admission:
    """Let an upload request in or raise `UploadThrottled`; returns what chooses its lane. Takes the
    request's token only when every limit lets it in."""
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
        recent: float = await conn.fetchval(_RECENT, tenant_id, quota.recent_seconds)
    return Admission(queued, recent)


def _throttled(limit: Limit, detail: str, retry_after: int) -> UploadThrottled:
    THROTTLED.labels(limit).inc()
    return UploadThrottled(limit, detail, retry_after)


async def record_queued(conn: asyncpg.Connection, tenant_id: uuid.UUID, asset_ids: list[uuid.UUID]) -> None:
    """In the transaction that queues their `asset.uploaded`: count the files as waiting and as recent,
    and take them from the workspace's file bucket (into debt if need be: see the module docstring)."""
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
    # nor here: the request's own files decay from its admission, a few seconds early at most
    await conn.execute(
        "UPDATE gateway.upload_buckets SET tokens = tokens + $2 WHERE tenant_id = $1 AND bucket = 'recent'",
        tenant_id,
        float(len(asset_ids)),
    )
