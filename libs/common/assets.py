"""What every import path agrees on about an asset, whichever door the bytes came through
(upload, zip archive, connected folder, desktop sync)."""

from __future__ import annotations

import uuid

ASSET_NAMESPACE = uuid.UUID("6f1c7a52-2d0e-4f1e-9a51-3c3c0a7e2b10")

# formats the ingest workers can decode (as named by `sniff_format`)
IMPORTABLE_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "AVIF", "BMP"})


def asset_id_for(tenant_id: uuid.UUID, sha256: str) -> uuid.UUID:
    """The asset's id, derived from (tenant, content): a retried or repeated import names the same asset."""
    return uuid.uuid5(ASSET_NAMESPACE, f"{tenant_id}:{sha256}")
