"""Staging uploads: the gateway's half of an import.

For each file: refuse what is clearly not an image (cheap checks on the first
bytes), hash it, answer `duplicate` for bytes the tenant already has, otherwise put
the original in S3 under `<tenant>/<sha256>` and queue `asset.uploaded` through the
outbox. The asset id is derived from (tenant, sha256), so a retried upload names
the same asset. The CPU work happens in the ingest workers.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from libs.common.assets import IMPORTABLE_FORMATS, asset_id_for
from libs.common.events import AssetUploaded, Event, ImportSource
from libs.common.outbox import add_to_outbox
from libs.common.runtime import ServiceRuntime
from libs.common.storage import original_key
from services.gateway import repository
from services.gateway.auth import AuthSubject
from services.ingest.metadata.containers import sniff_format

# shared with the folder watcher (libs/common/assets.py), so every import path names an asset the same way
IMPORTABLE = IMPORTABLE_FORMATS


@dataclass
class IncomingFile:
    filename: str
    data: bytes
    source: ImportSource = "upload"
    folder: str | None = None
    file_mtime: datetime | None = None
    # a small JSON document that travelled with the file (e.g. `name.png.json` next to it in a zip)
    sidecar: dict[str, Any] | None = None


@dataclass
class UploadResult:
    filename: str
    status: str  # imported | duplicate | rejected
    asset_id: uuid.UUID | None = None
    reason: str | None = None
    state: str | None = None  # "processing" while the pipeline has not finished the file
    extra: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "filename": self.filename,
            "status": self.status,
            "asset_id": str(self.asset_id) if self.asset_id else None,
        }
        if self.reason:
            doc["reason"] = self.reason
        if self.state:
            doc["state"] = self.state
        return doc


def precheck(item: IncomingFile, max_bytes: int) -> str | None:
    """Why this file cannot be imported, judged from its size and first bytes; None if it may be."""
    if not item.data:
        return "empty file"
    if len(item.data) > max_bytes:
        return f"file too large ({len(item.data):,} bytes; the limit is {max_bytes:,})"
    fmt = sniff_format(item.data[:64])
    if fmt is None:
        return "not an image (unrecognised file content)"
    if fmt not in IMPORTABLE:
        return f"unsupported image format {fmt}"
    return None


async def stage_files(
    runtime: ServiceRuntime, subject: AuthSubject, items: list[IncomingFile], max_bytes: int
) -> list[UploadResult]:
    """Stage a batch; one result per file, in order. Nothing here raises for a bad file."""
    assert runtime.store is not None
    results: list[UploadResult] = []
    to_stage: list[tuple[int, IncomingFile, str]] = []
    for item in items:
        reason = precheck(item, max_bytes)
        if reason:
            results.append(UploadResult(item.filename, "rejected", reason=reason))
            continue
        digest = hashlib.sha256(item.data).hexdigest()
        results.append(UploadResult(item.filename, "imported", asset_id_for(subject.tenant_id, digest)))
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
    store = runtime.store
    await asyncio.gather(*(
        store.put(store.originals, original_key(subject.tenant_id, digest), item.data)
        for _, item, digest in fresh
    ))  # fmt: skip
    async with runtime.pool.acquire() as conn, conn.transaction():
        events = []
        for index, item, digest in fresh:
            asset_id = asset_id_for(subject.tenant_id, digest)
            if not await repository.record_upload(conn, subject, asset_id, digest, item.filename):
                results[index].status = "duplicate"
                continue
            events.append(Event.of(
                AssetUploaded(asset_id=asset_id, sha256=digest, object_key=original_key(subject.tenant_id, digest),
                              filename=item.filename, size=len(item.data), source=item.source, folder=item.folder,
                              file_mtime=item.file_mtime, tenant_tz=subject.time_zone, sidecar=item.sidecar),
                tenant_id=subject.tenant_id,
            ))  # fmt: skip
        await add_to_outbox(conn, "gateway", events)
    return results


async def wait_for_pipeline(
    runtime: ServiceRuntime, subject: AuthSubject, results: list[UploadResult], timeout: float
) -> None:
    """Turn `imported` into the pipeline's verdict (imported or rejected with the reason) as it lands."""
    pending = {r.asset_id: r for r in results if r.status == "imported" and r.asset_id}
    deadline = asyncio.get_running_loop().time() + timeout
    delay = 0.05
    while pending:
        for asset_id, row in (await repository.statuses(runtime.pool, subject, list(pending))).items():
            result = pending.pop(asset_id)
            if row["status"] == "quarantined":
                result.status, result.reason = "rejected", row["reason"]
        if not pending or asyncio.get_running_loop().time() >= deadline:
            break
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    for result in pending.values():
        result.state = "processing"


class BatchStager:
    """Stages files in bounded batches while keeping one result per file, in the order they came.

    An upload may carry thousands of files (a zip expands into its entries); holding all their
    bytes until one `stage_files` call would make memory grow with the request. Instead a batch
    is staged as soon as it reaches `batch_files` files or `batch_bytes` bytes.
    """

    def __init__(
        self,
        runtime: ServiceRuntime,
        subject: AuthSubject,
        *,
        max_bytes: int,
        batch_files: int = 64,
        batch_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.runtime, self.subject, self.max_bytes = runtime, subject, max_bytes
        self.batch_files, self.batch_bytes = batch_files, batch_bytes
        self.results: list[UploadResult] = []
        self._pending: list[tuple[UploadResult, IncomingFile]] = []
        self._pending_bytes = 0

    def reject(self, display_name: str, reason: str) -> UploadResult:
        result = UploadResult(display_name, "rejected", reason=reason)
        self.results.append(result)
        return result

    async def add(self, item: IncomingFile, display_name: str | None = None) -> UploadResult:
        """Queue a file; its result is filled in when its batch is staged (at the latest on `flush`)."""
        result = UploadResult(display_name or item.filename, "imported")
        self.results.append(result)
        self._pending.append((result, item))
        self._pending_bytes += len(item.data)
        if len(self._pending) >= self.batch_files or self._pending_bytes >= self.batch_bytes:
            await self.flush()
        return result

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending, self._pending_bytes = self._pending, [], 0
        staged = await stage_files(self.runtime, self.subject, [item for _, item in batch], self.max_bytes)
        for (result, _), outcome in zip(batch, staged, strict=True):
            result.status, result.asset_id, result.reason = outcome.status, outcome.asset_id, outcome.reason
