"""SQL for the ingest schema. Plain asyncpg; every statement names its tenant."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import asyncpg

from services.ingest.importing import ImportedAsset, Rejection

SCHEMA = "ingest"


def _json_safe(value: Any) -> Any:
    # metadata JSON must survive a round trip through jsonb: no NaN, no bytes
    return json.loads(json.dumps(value, default=str, allow_nan=False)) if value is not None else None


async def insert_asset(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, item: ImportedAsset, keys: dict[str, str]
) -> bool:
    """Insert the asset; False when this tenant already has these bytes (a duplicate)."""
    u, r, img = item.uploaded, item.record, item.image
    row = await conn.fetchrow(
        """
        INSERT INTO ingest.assets (asset_id, tenant_id, sha256, filename, source, folder, size_bytes, format,
            tool, prompt, negative_prompt, seed, model, sampler, steps, cfg, width, height, generated_at,
            timestamp_source, timestamp_precision, file_mtime, card_key, detail_key, dominant_colors,
            metadata, metadata_error)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
            $22, $23, $24, $25, $26, $27)
        ON CONFLICT (tenant_id, sha256) DO NOTHING
        RETURNING asset_id
        """,
        u.asset_id, tenant_id, u.sha256, u.filename, u.source, u.folder, u.size, img.format,
        r.tool, r.prompt, r.negative_prompt, Decimal(r.seed) if isinstance(r.seed, int) else None,
        r.model, r.sampler, r.steps, r.cfg, img.width, img.height, r.generated_at,
        r.timestamp_source, r.timestamp_precision, u.file_mtime, keys.get("card"), keys.get("detail"),
        img.dominant_colors, _json_safe(r.to_json() | {"extra": r.extra, "raw": r.raw}), r.error,
    )  # fmt: skip
    return row is not None


async def insert_quarantine(conn: asyncpg.Connection, tenant_id: uuid.UUID, item: Rejection) -> bool:
    u = item.uploaded
    row = await conn.fetchrow(
        """
        INSERT INTO ingest.quarantine (asset_id, tenant_id, sha256, filename, object_key, reason)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (asset_id) DO NOTHING
        RETURNING asset_id
        """,
        u.asset_id, tenant_id, u.sha256, u.filename, u.object_key, item.reason,
    )  # fmt: skip
    return row is not None


async def known_assets(
    conn: asyncpg.Connection, pairs: list[tuple[uuid.UUID, str]]
) -> set[tuple[uuid.UUID, str]]:
    """Which (tenant, sha256) pairs already are assets: one round trip for a whole batch, whatever
    its number of tenants (the batch's first fetch waits for this)."""
    rows = await conn.fetch(
        """
        SELECT a.tenant_id, a.sha256
        FROM ingest.assets a
        JOIN unnest($1::uuid[], $2::text[]) AS p(tenant_id, sha256) USING (tenant_id, sha256)
        """,
        [tenant for tenant, _ in pairs],
        [sha for _, sha in pairs],
    )
    return {(r["tenant_id"], r["sha256"]) for r in rows}
