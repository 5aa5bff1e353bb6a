"""What importing one file means, without any I/O: bytes in, an `ImportedAsset` or a
`Rejection` out. The handler does the reading and writing around it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from libs.common.events import AssetUploaded
from services.ingest.imaging import DecodedImage, ImageRejected, decode_image
from services.ingest.metadata import GenerationRecord, read_generation
from services.ingest.settings import IngestSettings


@dataclass(frozen=True)
class ImportedAsset:
    uploaded: AssetUploaded
    image: DecodedImage
    record: GenerationRecord


@dataclass(frozen=True)
class Rejection:
    uploaded: AssetUploaded
    reason: str


def _zone(name: str) -> Any:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def import_bytes(data: bytes, uploaded: AssetUploaded, settings: IngestSettings) -> ImportedAsset | Rejection:
    """Decode, read metadata and time, and check the bytes are what the upload said."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != uploaded.sha256:
        return Rejection(
            uploaded, f"content changed in storage (sha256 {digest[:12]}… != {uploaded.sha256[:12]}…)"
        )
    try:
        image = decode_image(
            data,
            card_size=settings.card_size,
            detail_size=settings.detail_size,
            max_pixels=settings.max_image_pixels,
        )
    except ImageRejected as exc:
        return Rejection(uploaded, str(exc))
    record = read_generation(
        data,
        filename=uploaded.filename,
        folder=uploaded.folder,
        file_mtime=uploaded.file_mtime,
        tenant_tz=_zone(uploaded.tenant_tz),
        sidecar=uploaded.sidecar,
    )
    return ImportedAsset(uploaded, image, record)
