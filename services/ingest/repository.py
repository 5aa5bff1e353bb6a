"""SQL for the ingest schema. Plain asyncpg; every statement names its tenant."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import asyncpg

from libs.metadata import GenerationRecord
from services.ingest.importing import ImportedAsset, Rejection

SCHEMA = "ingest"

ASSET_COLUMNS = (
    "asset_id", "tenant_id", "sha256", "filename", "source", "folder", "size_bytes", "format",
    "tool", "prompt", "negative_prompt", "seed", "model", "sampler", "steps", "cfg", "width", "height",
    "generated_at", "timestamp_source", "timestamp_precision", "file_mtime", "card_key", "detail_key",
    "dominant_colors", "metadata", "metadata_error",
)  # fmt: skip
QUARANTINE_COLUMNS = ("asset_id", "tenant_id", "sha256", "filename", "object_key", "reason")
INT4_RANGE = range(-(2**31), 2**31)
SEED_LIMIT = 10**20  # numeric(20, 0)


def _insert(table: str, columns: tuple[str, ...], conflict: str) -> str:
    values = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return (
        f"INSERT INTO ingest.{table} ({', '.join(columns)}) VALUES ({values}) "
        f"ON CONFLICT ({conflict}) DO NOTHING RETURNING asset_id"
    )


# an earlier quarantine entry of the same file goes in the same statement: a dead letter replayed after
# a fix (`atelier admin replay-dlq`) imports what was set aside, and it should no longer show as refused
INSERT_ASSET = (
    f"WITH inserted AS ({_insert('assets', ASSET_COLUMNS, 'tenant_id, sha256')}), "
    "unquarantined AS (DELETE FROM ingest.quarantine q USING inserted WHERE q.asset_id = inserted.asset_id) "
    "SELECT asset_id FROM inserted"
)
INSERT_QUARANTINE = _insert("quarantine", QUARANTINE_COLUMNS, "asset_id")


def metadata_json(record: GenerationRecord) -> dict[str, Any]:
    """The `metadata` jsonb: the record's JSON contract (plain JSON: no NaN, no bytes; its text
    cleaned by the reader). Numbers too large for their columns are kept here."""
    return record.to_json()


def _int4(value: int | None) -> int | None:
    return value if isinstance(value, int) and value in INT4_RANGE else None


def asset_row(tenant_id: uuid.UUID, item: ImportedAsset, keys: dict[str, str]) -> tuple[Any, ...]:
    """The `ingest.assets` values of `item`, in `ASSET_COLUMNS` order. A number its column cannot
    hold (Steps: 99999999999, a 30-digit seed: files say such things) is NULL there, and stays
    in `metadata`: one file must not fail the insert of its batch."""
    u, r, img = item.uploaded, item.record, item.image
    seed = Decimal(r.seed) if isinstance(r.seed, int) and abs(r.seed) < SEED_LIMIT else None
    return (
        u.asset_id, tenant_id, u.sha256, u.filename, u.source, u.folder, u.size, img.format,
        r.tool, r.prompt, r.negative_prompt, seed, r.model, r.sampler, _int4(r.steps), r.cfg,
        img.width, img.height, r.generated_at, r.timestamp_source, r.timestamp_precision, u.file_mtime,
        keys.get("card"), keys.get("detail"), img.dominant_colors, metadata_json(r), r.error,
    )  # fmt: skip


def quarantine_row(tenant_id: uuid.UUID, item: Rejection) -> tuple[Any, ...]:
    u = item.uploaded
    return (u.asset_id, tenant_id, u.sha256, u.filename, u.object_key, item.reason)


async def insert_asset(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, item: ImportedAsset, keys: dict[str, str]
) -> bool:
    """Insert the asset; False when this tenant already has these bytes (a duplicate)."""
    return await conn.fetchrow(INSERT_ASSET, *asset_row(tenant_id, item, keys)) is not None


async def fold_facet_counts(conn: asyncpg.Connection) -> None:
    """Fold the facet counts' pending changes into their totals (migration 006): at the end of a
    batch, so the advisory lock it takes is held only until the commit. A replica that finds it held
    skips: the holder or the next batch folds."""
    await conn.execute("SELECT ingest.fold_facet_changes()")


async def insert_quarantine(conn: asyncpg.Connection, tenant_id: uuid.UUID, item: Rejection) -> bool:
    return await conn.fetchrow(INSERT_QUARANTINE, *quarantine_row(tenant_id, item)) is not None


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
