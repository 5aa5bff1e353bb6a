"""What every import path agrees on about an asset, whichever door the bytes came through
(upload, zip archive, connected folder, desktop sync): its id, and what its first bytes say it is."""

from __future__ import annotations

import uuid

ASSET_NAMESPACE = uuid.UUID("6f1c7a52-2d0e-4f1e-9a51-3c3c0a7e2b10")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# formats the ingest workers can decode (as named by `sniff_format`)
IMPORTABLE_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "AVIF", "BMP"})


def asset_id_for(tenant_id: uuid.UUID, sha256: str) -> uuid.UUID:
    """The asset's id, derived from (tenant, content): a retried or repeated import names the same asset."""
    return uuid.uuid5(ASSET_NAMESPACE, f"{tenant_id}:{sha256}")


def sniff_format(data: bytes) -> str | None:
    """Format from magic bytes; the file extension is not trusted."""
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if data[:2] == b"BM":
        return "BMP"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
            return "HEIC"
    return None
