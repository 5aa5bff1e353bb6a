"""Staging uploads: the gateway's half of an import.

For each file (already spooled to local disk and hashed as it streamed in, see `spool.py`): refuse
what is clearly not an image (cheap checks on the first bytes), answer `duplicate` for bytes the
tenant already has, otherwise put the original in S3 under `<tenant>/<sha256>` and queue
`asset.uploaded` through the outbox. The asset id is derived from (tenant, sha256), so a retried
upload names the same asset. The CPU work happens in the ingest workers.

What a result's `status` says, and never more than has happened:
- `queued`: the original is in S3 and `asset.uploaded` is committed to the outbox; the pipeline
  has not said anything yet (every staged file with `wait=false`, and with `wait=true` a file the
  pipeline has not finished within `upload_wait_seconds`);
- `imported`: ingest has written the asset (only after waiting for it);
- `duplicate`: the tenant already had these bytes (staged or imported);
- `rejected`: with a `reason`, from the gateway's checks or the pipeline's quarantine.

Originals in S3 without an upload record: the original is put before the transaction that records
the upload and queues its event (an event never names bytes that are not in S3), so a failure between
the two (the database gone mid-request) leaves an object nothing references. It is harmless and is
not deleted: its key is the content's own hash under the tenant, so it holds exactly these bytes of
this tenant, is never listed or served without a record, and the retry of the upload puts the same
bytes under the same key and records it. Deleting it instead could race a concurrent upload of the
same bytes that has just recorded it.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from libs.common.assets import IMPORTABLE_FORMATS, asset_id_for, sniff_format
from libs.common.events import AssetUploaded, Event, ImportSource, upload_lane
from libs.common.outbox import add_to_outbox
from libs.common.runtime import ServiceRuntime
from libs.common.storage import original_key
from services.gateway import quotas, repository
from services.gateway.auth import AuthSubject
from services.gateway.quotas import Admission
from services.gateway.spool import SpooledBytes, settled

# shared with the folder watcher (libs/common/assets.py), so every import path names an asset the same way
IMPORTABLE = IMPORTABLE_FORMATS


# originals put to S3 at once by one batch: each holds about one 5 MiB part in memory (ObjectStore.put_file).
# bench/bench_upload.py, 1 GiB in one request: 2 puts at a time peaked at idle + 22-32 MB of RSS, 4 at
# idle + 37-61 MB, for the same throughput (the machine's 2 cores were the limit, not S3)
PUT_CONCURRENCY = 2


class StoreUnavailable(Exception):
    """An original could not be put in S3: the upload stops here (503), nothing more is staged."""


@dataclass
class IncomingFile:
    """A file to stage: its bytes wait on local disk (`body`), never in memory. Text fields are
    already cleaned (libs/common/text.py) by whoever made it."""

    filename: str
    body: SpooledBytes
    source: ImportSource = "upload"
    folder: str | None = None
    file_mtime: datetime | None = None
    # a small JSON document that travelled with the file (e.g. `name.png.json` next to it in a zip)
    sidecar: dict[str, Any] | None = None

    @property
    def size(self) -> int:
        return self.body.size

    @property
    def sha256(self) -> str:
        return self.body.sha256


@dataclass
class UploadResult:
    filename: str
    status: str  # queued | imported | duplicate | rejected (see the module docstring)
    asset_id: uuid.UUID | None = None
    reason: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "filename": self.filename,
            "status": self.status,
            "asset_id": str(self.asset_id) if self.asset_id else None,
        }
        if self.reason:
            doc["reason"] = self.reason
        return doc


def too_large(size: int | None, max_bytes: int) -> str:
    """The reason for a file over the per-file limit (`size` None: it was cut off while streaming)."""
    if size is None:
        return f"file too large (over {max_bytes:,} bytes, the limit per file; its bytes were not kept)"
    return f"file too large ({size:,} bytes; the limit is {max_bytes:,})"


def precheck(item: IncomingFile, max_bytes: int) -> str | None:
    """Why this file cannot be imported, judged from its size and first bytes; None if it may be."""
    if not item.size:
        return "empty file"
    if item.size > max_bytes:
        return too_large(item.size, max_bytes)
    fmt = sniff_format(item.body.head[:64])
    if fmt is None:
        return "not an image (unrecognised file content)"
    if fmt not in IMPORTABLE:
        return f"unsupported image format {fmt}"
    return None


async def stage_files(
    runtime: ServiceRuntime,
    subject: AuthSubject,
    items: list[IncomingFile],
    max_bytes: int,
    *,
    busy: bool = False,
) -> list[UploadResult]:
    """Stage a batch; one result per file, in order. Nothing here raises for a bad file. `busy`: the
    workspace has many files waiting, so these take the bulk lane (README "Fair imports")."""
    assert runtime.store is not None
    results: list[UploadResult] = []
    to_stage: list[tuple[int, IncomingFile, str]] = []
    for item in items:
        reason = precheck(item, max_bytes)
        if reason:
            results.append(UploadResult(item.filename, "rejected", reason=reason))
            continue
        digest = item.sha256
        results.append(UploadResult(item.filename, "queued", asset_id_for(subject.tenant_id, digest)))
        to_stage.append((len(results) - 1, item, digest))
    if not to_stage:
        return results

    async with runtime.pool.acquire() as conn:
        known = await repository.staged(conn, subject, [d for _, _, d in to_stage])
    fresh: list[tuple[int, IncomingFile, str]] = []
    seen: set[str] = set()
    for index, item, digest in to_stage:
        if digest in known or digest in seen:
            results[index].status = "duplicate"
        else:
            seen.add(digest)
            fresh.append((index, item, digest))

    # originals first: an event never names bytes that are not in S3
    await put_originals(runtime, subject, [(item, digest) for _, item, digest in fresh])
    async with runtime.pool.acquire() as conn, conn.transaction():
        events: list[Event] = []
        for index, item, digest in fresh:
            asset_id = asset_id_for(subject.tenant_id, digest)
            if not await repository.record_upload(conn, subject, asset_id, digest, item.filename):
                results[index].status = "duplicate"
                continue
            uploaded = AssetUploaded(
                asset_id=asset_id, sha256=digest, object_key=original_key(subject.tenant_id, digest),
                filename=item.filename, size=item.size, source=item.source, folder=item.folder,
                file_mtime=item.file_mtime, tenant_tz=subject.time_zone, sidecar=item.sidecar,
            )  # fmt: skip
            events.append(
                Event.of(uploaded, tenant_id=subject.tenant_id, topic=upload_lane(uploaded, busy=busy))
            )
        await add_to_outbox(conn, "gateway", events)
        await quotas.record_queued(
            conn, subject.tenant_id, [uuid.UUID(e.payload["asset_id"]) for e in events]
        )
    return results


async def put_originals(
    runtime: ServiceRuntime, subject: AuthSubject, items: list[tuple[IncomingFile, str]]
) -> None:
    """Put each file's bytes in S3 from its spool, a few at a time; raises StoreUnavailable if any put
    fails. Returns only once every put has ended, so no thread still reads a spool its caller closes."""
    store = runtime.store
    assert store is not None
    gate = asyncio.Semaphore(PUT_CONCURRENCY)
    failed: list[BaseException] = []

    async def put(item: IncomingFile, digest: str) -> None:
        async with gate:
            if failed:  # the store is failing: do not make the client wait for every other put to fail too
                return
            key = original_key(subject.tenant_id, digest)
            try:
                await settled(store.put_file(store.originals, key, item.body.reader(), item.size))
            except Exception as exc:
                failed.append(exc)

    await asyncio.gather(*(put(item, digest) for item, digest in items))
    if failed:
        raise StoreUnavailable(f"{type(failed[0]).__name__}: {failed[0]}"[:300]) from failed[0]


async def wait_for_pipeline(
    runtime: ServiceRuntime, subject: AuthSubject, results: list[UploadResult], timeout: float
) -> None:
    """Turn `queued` into the pipeline's verdict as it lands: `imported` once ingest has written the
    asset, `rejected` with the reason if it was quarantined. What it has not finished by the deadline
    stays `queued`."""
    pending = {r.asset_id: r for r in results if r.status == "queued" and r.asset_id}
    deadline = asyncio.get_running_loop().time() + timeout
    delay = 0.05
    while pending:
        for asset_id, row in (await repository.statuses(runtime.pool, subject, list(pending))).items():
            result = pending.pop(asset_id)
            if row["status"] == "quarantined":
                result.status, result.reason = "rejected", row["reason"]
            else:
                result.status = "imported"
        if not pending or asyncio.get_running_loop().time() >= deadline:
            break
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)


class BatchStager:
    """Stages files in bounded batches while keeping one result per file, in the order they came.

    An upload may carry thousands of files (a zip expands into its entries). Their bytes wait on
    local disk, not in memory; a batch is staged as soon as it reaches `batch_files` files or
    `batch_bytes` bytes, which bounds the open spool files and the disk a request holds. A file's
    own spool (a zip entry's) is closed once its batch is staged; `close()` closes what never was.
    """

    def __init__(
        self,
        runtime: ServiceRuntime,
        subject: AuthSubject,
        *,
        max_bytes: int,
        batch_files: int = 64,
        batch_bytes: int = 256 * 1024 * 1024,
        admission: Admission | None = None,
        bulk_after: int | None = None,
    ) -> None:
        self.runtime, self.subject, self.max_bytes = runtime, subject, max_bytes
        self.batch_files, self.batch_bytes = batch_files, batch_bytes
        # the workspace's files waiting and recently staged when the request began (gateway/quotas.py),
        # and from how many on its uploads take the bulk lane (None: never for being busy)
        self.admission, self.bulk_after = admission or Admission(0, 0.0), bulk_after
        self.results: list[UploadResult] = []
        self.staged = 0  # files put in S3 and queued for the pipeline so far
        self.expected = 0  # files the request is known to hold (`expect`)
        self._pending: list[tuple[UploadResult, IncomingFile]] = []
        self._pending_bytes = 0

    def expect(self, files: int) -> None:
        """The request holds at least this many files: they count towards the bulk lane from the first, so
        a request of hundreds goes there whole, not after its first batch."""
        self.expected = max(self.expected, files)

    def reject(self, display_name: str, reason: str) -> UploadResult:
        result = UploadResult(display_name, "rejected", reason=reason)
        self.results.append(result)
        return result

    async def add(self, item: IncomingFile, display_name: str | None = None) -> UploadResult:
        """Queue a file; its result is filled in when its batch is staged (at the latest on `flush`)."""
        result = UploadResult(display_name or item.filename, "pending")  # until its batch is staged
        self.results.append(result)
        self._pending.append((result, item))
        self._pending_bytes += item.size
        if len(self._pending) >= self.batch_files or self._pending_bytes >= self.batch_bytes:
            await self.flush()
        return result

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending, self._pending_bytes = self._pending, [], 0
        try:
            busy = self.admission.busy(max(self.staged, self.expected), self.bulk_after)
            staged = await stage_files(
                self.runtime, self.subject, [item for _, item in batch], self.max_bytes, busy=busy
            )
        finally:
            for _, item in batch:
                item.body.close()
        for (result, _), outcome in zip(batch, staged, strict=True):
            result.status, result.asset_id, result.reason = outcome.status, outcome.asset_id, outcome.reason
            self.staged += outcome.status == "queued"

    def close(self) -> None:
        """Close the spools of files added but not staged (the request failed part-way)."""
        for _, item in self._pending:
            item.body.close()
        self._pending, self._pending_bytes = [], 0
