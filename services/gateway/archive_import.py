"""A zip in an upload: expand it entry by entry (off the event loop) into a `BatchStager`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import tzinfo
from typing import BinaryIO

from prometheus_client import Counter

from services.gateway.archives import ArchiveItem, RefusedEntry, ZipLimits, expand_zip
from services.gateway.settings import GatewaySettings
from services.gateway.uploads import BatchStager, UploadResult

ARCHIVE_ENTRIES = Counter(
    "atelier_gateway_archive_entries_total",
    "Zip archive entries by what the gateway did with them (imported = handed to the pipeline)",
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
    stager: BatchStager, fileobj: BinaryIO, *, archive_name: str, zone: tzinfo, limits: ZipLimits
) -> list[UploadResult]:
    """Stage every importable entry of the zip; refused entries become `rejected` results.

    Result filenames are `archive.zip/inner/path.png`, so the user can tell entries of
    different archives apart; a refusal of the whole archive is named after the archive.
    """
    entries: Iterator[ArchiveItem] = expand_zip(fileobj, zone=zone, limits=limits)
    results: list[UploadResult] = []
    # decompression is CPU work and the spooled upload may be on disk: one entry per thread hop
    while (item := await asyncio.to_thread(next, entries, None)) is not None:
        if isinstance(item, RefusedEntry):
            name = f"{archive_name}/{item.name}" if item.name else archive_name
            results.append(stager.reject(name, item.reason))
            continue
        inner_path = f"{item.folder}/{item.filename}" if item.folder else item.filename
        results.append(await stager.add(item, display_name=f"{archive_name}/{inner_path}"))
    await stager.flush()
    for result in results:
        ARCHIVE_ENTRIES.labels(outcome=result.status).inc()
    return results
