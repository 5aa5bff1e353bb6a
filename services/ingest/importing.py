"""What importing one file means, without any I/O: bytes in, an `ImportedAsset` or a
`Rejection` out. The handler does the reading and writing around it.

Text ingest writes must be text PostgreSQL accepts (no NUL, nothing that is not UTF-8), or one
upload fails its whole import batch on every retry. What comes out of the file is cleaned by
the metadata reader, where it builds its record; the upload's own text fields (file name, folder,
sidecar: from a form, a folder on disk or any other producer of `asset.uploaded`) are cleaned
here, by both outcome types, so every outcome, wherever it was made (the handler makes
rejections of its own), carries a clean upload.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from libs.common.events import AssetUploaded
from libs.common.text import clean_json, clean_optional, clean_text
from libs.lineage.evidence import lineage_facts
from libs.lineage.facts import LineageFacts
from libs.metadata import GenerationRecord, read_generation
from services.ingest.imaging import DecodedImage, ImageRejected, decode_image
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)


def clean_uploaded(uploaded: AssetUploaded) -> AssetUploaded:
    """`uploaded` with its text fields cleaned (libs/common/text.py); the same object when they were clean."""
    changes: dict[str, Any] = {}
    for name in ("filename", "object_key", "folder", "tenant_tz"):
        value = getattr(uploaded, name)
        cleaned = clean_optional(value)
        if cleaned != value:
            changes[name] = cleaned
    if uploaded.sidecar is not None:
        sidecar = clean_json(uploaded.sidecar)
        if sidecar != uploaded.sidecar:
            changes["sidecar"] = sidecar
    return uploaded.model_copy(update=changes) if changes else uploaded


@dataclass(frozen=True)
class ImportedAsset:
    uploaded: AssetUploaded
    image: DecodedImage
    record: GenerationRecord
    # what lineage rests on (carried on asset.imported); None if reading it failed
    lineage: LineageFacts | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "uploaded", clean_uploaded(self.uploaded))


@dataclass(frozen=True)
class Rejection:
    uploaded: AssetUploaded
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "uploaded", clean_uploaded(self.uploaded))
        object.__setattr__(self, "reason", clean_text(self.reason))


def _zone(name: str) -> Any:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def import_bytes(data: bytes, uploaded: AssetUploaded, settings: IngestSettings) -> ImportedAsset | Rejection:
    """Decode, read metadata and time, and check the bytes are what the upload said."""
    uploaded = clean_uploaded(uploaded)
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
            max_text_chunk=settings.max_png_text_chunk_bytes,
            max_text_memory=settings.max_png_text_total_bytes,
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
    for problem in image.problems:
        record.note_error(problem)
    return ImportedAsset(uploaded, image, record, _lineage(record, digest, uploaded.filename, image))


def _lineage(
    record: GenerationRecord, sha256: str, filename: str, image: DecodedImage
) -> LineageFacts | None:
    """The file's lineage facts; a failure here costs the asset its links, never its import."""
    try:
        return lineage_facts(
            record, sha256=sha256, filename=filename, phash=image.phash, pixels_md5=image.pixels_md5
        )
    except Exception:
        log.exception("lineage facts could not be read", extra={"filename": filename})
        return None
