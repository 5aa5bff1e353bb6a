"""A zip in an upload: expand it entry by entry (off the event loop) into a `BatchStager`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import tzinfo
from typing import BinaryIO

from prometheus_client import Counter

from libs.common.text import clean_text
from services.gateway.archives import ArchiveItem, RefusedEntry, ZipLimits, expand_zip
from services.gateway.settings import GatewaySettings
from services.gateway.spool import settled
from services.gateway.uploads import BatchStager, UploadResult

ARCHIVE_ENTRIES = Counter(
    "atelier_gateway_archive_entries_total",
    "Zip archive entries by what the gateway did with them (queued = staged and handed to the pipeline)",
    ["outcome"],
)


def zip_limits(settings: GatewaySettings) -> ZipLimits:
    return ZipLimits(
        max_entries=settings.zip_max_entries,
        max_entry_bytes=settings.zip_max_entry_bytes,
        max_total_bytes=settings.zip_max_total_bytes,
        max_ratio=settings.zip_max_ratio,
        ratio_floor_bytes=settings.zip_ratio_floor_bytes,
        max_sidecar_bytes=settings.zip_max_sidecar_bytes,
    )


async def stage_archive(
    stager: BatchStager,
    fileobj: BinaryIO,
    *,
    archive_name: str,
    zone: tzinfo,
    limits: ZipLimits,
    spool_dir: str | None = None,
) -> list[UploadResult]:
    """Stage every importable entry of the zip; refused entries become `rejected` results.

    Result filenames are `archive.zip/inner/path.png`, so the user can tell entries of
    different archives apart; a refusal of the whole archive is named after the archive.
    Each entry is spooled to a temporary file under `spool_dir` while it is decompressed.
    """
    entries: Iterator[ArchiveItem] = expand_zip(fileobj, zone=zone, limits=limits, spool_dir=spool_dir)
    results: list[UploadResult] = []
    try:
        # decompression is CPU work and the spool is on disk: one entry per thread hop, and a cancelled
        # request waits for the hop to end before the spool is closed under it
        while (item := await settled(asyncio.to_thread(next, entries, None))) is not None:
            if isinstance(item, RefusedEntry):
                name = f"{archive_name}/{item.name}" if item.name else archive_name
                results.append(stager.reject(clean_text(name), item.reason))
                continue
            inner_path = f"{item.folder}/{item.filename}" if item.folder else item.filename
            results.append(await stager.add(item, display_name=f"{archive_name}/{inner_path}"))
        await stager.flush()
    finally:
        close = getattr(entries, "close", None)
        if close is not None:
            close()  # lets go of the zip at once when staging stopped part-way (entries taken are the stager's)
    for result in results:
        ARCHIVE_ENTRIES.labels(outcome=result.status).inc()
    return results
