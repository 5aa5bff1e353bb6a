"""Consumes `asset.uploaded`: the CPU work of an import, then one transaction that writes
the asset (or its quarantine entry) and queues `asset.imported` / `asset.rejected`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from prometheus_client import Counter, Histogram

from libs.common.consumer import Delivery
from libs.common.events import AssetImported, AssetRejected, AssetUploaded, Event
from libs.common.outbox import add_to_outbox
from libs.common.storage import ObjectNotFound, ObjectStore, thumbnail_key
from services.ingest import repository
from services.ingest.importing import ImportedAsset, Rejection, import_bytes
from services.ingest.lanes import InteractiveFirst
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)

ASSETS = Counter("atelier_ingest_assets_total", "Uploaded files by outcome", ["outcome"])
STAGE_SECONDS = Histogram(
    "atelier_ingest_stage_seconds",
    "Time per file in each import stage",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
# originals being fetched beyond the one being analysed: enough that the next file's bytes are in
# when the analysis of this one ends (a fetch takes a fraction of an analysis)
FETCH_AHEAD = 2


class UploadedHandler:
    """One per lane. `turns` is shared by a replica's two handlers: the interactive one marks its batches,
    the bulk one waits its turn before each file (lanes.py)."""

    def __init__(
        self, settings: IngestSettings, store: ObjectStore, turns: InteractiveFirst, *, bulk: bool = False
    ) -> None:
        self.settings = settings
        self.store = store
        self.turns = turns
        self.bulk = bulk

    async def _fetch(self, uploaded: AssetUploaded) -> bytes | None:
        started = time.perf_counter()
        try:
            return await self.store.get(self.store.originals, uploaded.object_key)
        except ObjectNotFound:
            return None
        finally:
            STAGE_SECONDS.labels("fetch").observe(time.perf_counter() - started)

    async def _import(self, uploaded: AssetUploaded, data: bytes | None) -> ImportedAsset | Rejection:
        if data is None:
            return Rejection(uploaded, "original file missing from storage")
        started = time.perf_counter()
        try:
            return await asyncio.to_thread(import_bytes, data, uploaded, self.settings)
        except Exception as exc:  # a reader bug must not stop the batch: quarantine with the reason
            log.exception("import failed", extra={"asset_id": str(uploaded.asset_id)})
            return Rejection(uploaded, f"internal error while reading the file: {type(exc).__name__}")
        finally:
            STAGE_SECONDS.labels("analyse").observe(time.perf_counter() - started)

    async def __call__(self, conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        if self.bulk:
            await self._handle(conn, deliveries)
            return
        async with self.turns.interactive_batch():
            await self._handle(conn, deliveries)

    async def _handle(self, conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        uploads = [(d, d.payload) for d in deliveries if isinstance(d.payload, AssetUploaded)]
        known = await repository.known_assets(conn, [(d.tenant_id, u.sha256) for d, u in uploads])
        todo = [(d, u) for d, u in uploads if (d.tenant_id, u.sha256) not in known]
        ASSETS.labels("duplicate").inc(len(uploads) - len(todo))
        # Overlap I/O with the CPU work, so the batch's serial part is short: originals are fetched
        # a few files ahead of the analysis, in order; each file's thumbnails upload, and then its row
        # is written, while the next file is analysed. Not every fetch at once: they would all queue
        # in the default thread pool ahead of the first analysis and share the object store's CPU,
        # so the first file's bytes (and the CPU) would wait for the last file's.
        fetches: list[asyncio.Future[bytes | None]] = []

        def fetch_ahead(upto: int) -> None:
            for _, u in todo[len(fetches) : upto]:
                fetches.append(asyncio.ensure_future(self._fetch(u)))

        events: list[Event] = []
        analysis: asyncio.Future[ImportedAsset | Rejection] | None = None
        # the previous file, whose row is written while this one is analysed
        previous: tuple[Delivery, ImportedAsset | Rejection, asyncio.Future[dict[str, str]] | None] | None = (
            None
        )
        try:
            for i, (d, u) in enumerate(todo):
                fetch_ahead(i + 1 + FETCH_AHEAD)
                if self.bulk:
                    await self.turns.bulk_turn()
                analysis = asyncio.ensure_future(self._import(u, await fetches[i]))
                if previous is not None:
                    events += await self._record(conn, *previous)
                outcome = await analysis
                upload = asyncio.ensure_future(self._put_thumbnails(d, outcome)) \
                    if isinstance(outcome, ImportedAsset) else None  # fmt: skip
                previous = (d, outcome, upload)
            if previous is not None:
                events += await self._record(conn, *previous)
        except BaseException:
            pending: list[asyncio.Future[Any]] = [*fetches, *([analysis] if analysis else [])]
            if previous is not None and previous[2] is not None:
                pending.append(previous[2])
            for task in pending:
                task.cancel()
            raise
        await add_to_outbox(conn, repository.SCHEMA, events)
        await repository.fold_facet_counts(conn)

    async def set_aside(self, conn: asyncpg.Connection, d: Delivery, reason: str) -> None:
        """An upload whose import failed on every attempt (the consumer's poison hook): quarantined with
        the reason, so the person sees why, and the files behind it import."""
        if isinstance(d.payload, AssetUploaded):
            rejection = Rejection(d.payload, f"could not be imported ({reason})"[:1000])
            events = await self._record(conn, d, rejection, None)
            await add_to_outbox(conn, repository.SCHEMA, events)

    async def _record(
        self,
        conn: asyncpg.Connection,
        d: Delivery,
        outcome: ImportedAsset | Rejection,
        upload: asyncio.Future[dict[str, str]] | None,
    ) -> list[Event]:
        """Write one file's row (once its thumbnails are stored) and return the events it makes."""
        u = outcome.uploaded
        if isinstance(outcome, ImportedAsset):
            assert upload is not None
            return await self._store_asset(conn, d, outcome, await upload)
        if not await repository.insert_quarantine(conn, d.tenant_id, outcome):
            return []
        ASSETS.labels("quarantined").inc()
        return [
            Event.of(
                AssetRejected(asset_id=u.asset_id, filename=u.filename, reason=outcome.reason),
                tenant_id=d.tenant_id,
                correlation_id=d.event.correlation_id,
            )
        ]

    async def _put_thumbnails(self, d: Delivery, item: ImportedAsset) -> dict[str, str]:
        u = item.uploaded
        started = time.perf_counter()
        keys = {
            rendition.size: thumbnail_key(d.tenant_id, u.asset_id, rendition.size)
            for rendition in item.image.renditions
        }
        await asyncio.gather(*(
            self.store.put(self.store.thumbnails, keys[rendition.size], rendition.data, "image/webp")
            for rendition in item.image.renditions
        ))  # fmt: skip
        STAGE_SECONDS.labels("store_thumbnails").observe(time.perf_counter() - started)
        return keys

    async def _store_asset(
        self, conn: asyncpg.Connection, d: Delivery, item: ImportedAsset, keys: dict[str, str]
    ) -> list[Event]:
        u, r = item.uploaded, item.record
        if not await repository.insert_asset(conn, d.tenant_id, item, keys):
            ASSETS.labels("duplicate").inc()
            return []
        ASSETS.labels("imported").inc()
        return [Event.of(
            AssetImported(
                asset_id=u.asset_id, sha256=u.sha256, filename=u.filename, tool=r.tool,
                prompt=(r.prompt or None) and r.prompt[:500], model=r.model,
                width=item.image.width, height=item.image.height, generated_at=r.generated_at,
                timestamp_source=r.timestamp_source, timestamp_precision=r.timestamp_precision,
                thumbnail_key=keys.get("card"),
                dominant_color=item.image.dominant_colors[0] if item.image.dominant_colors else None,
                lineage=item.lineage,
            ),
            tenant_id=d.tenant_id, correlation_id=d.event.correlation_id,
        )]  # fmt: skip
