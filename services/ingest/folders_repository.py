"""SQL for connected folders (`ingest.folders`, `ingest.folder_files`). Registration calls name
their tenant; the watcher works by folder id, for folders it holds the advisory lock of."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

# watchers LISTEN here: a folder was registered or deleted, look now instead of at the next refresh
FOLDERS_CHANGED = "ingest_folders_changed"

FOLDER_COLUMNS = "folder_id, tenant_id, path, time_zone, created_at, last_scan_at, status, error"


@dataclass(frozen=True)
class Folder:
    folder_id: uuid.UUID
    tenant_id: uuid.UUID
    path: str
    time_zone: str


class FolderAlreadyConnected(Exception):
    pass


async def insert_folder(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, path: str, time_zone: str
) -> asyncpg.Record:
    async with conn.transaction():
        row = await conn.fetchrow(
            f"INSERT INTO ingest.folders (folder_id, tenant_id, path, time_zone) VALUES ($1, $2, $3, $4) "
            f"ON CONFLICT (tenant_id, path) DO NOTHING RETURNING {FOLDER_COLUMNS}, 0::bigint AS file_count",
            uuid.uuid4(), tenant_id, path, time_zone,
        )  # fmt: skip
        if row is None:
            raise FolderAlreadyConnected(path)
        await conn.execute("SELECT pg_notify($1, '')", FOLDERS_CHANGED)
    return row


async def tenant_folders(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {FOLDER_COLUMNS}, (SELECT count(*) FROM ingest.folder_files ff WHERE ff.folder_id = f.folder_id) "
        "AS file_count FROM ingest.folders f WHERE tenant_id = $1 ORDER BY created_at",
        tenant_id,
    )


async def delete_folder(conn: asyncpg.Connection, tenant_id: uuid.UUID, folder_id: uuid.UUID) -> bool:
    """Forget the folder and its file list (the assets stay); False when the tenant has no such folder."""
    async with conn.transaction():
        deleted = await conn.fetchval(
            "DELETE FROM ingest.folders WHERE tenant_id = $1 AND folder_id = $2 RETURNING folder_id",
            tenant_id, folder_id,
        )  # fmt: skip
        if deleted is not None:
            await conn.execute("SELECT pg_notify($1, '')", FOLDERS_CHANGED)
    return deleted is not None


async def all_folders(conn: asyncpg.Connection) -> list[Folder]:
    rows = await conn.fetch("SELECT folder_id, tenant_id, path, time_zone FROM ingest.folders")
    return [Folder(r["folder_id"], r["tenant_id"], r["path"], r["time_zone"]) for r in rows]


async def set_status(
    pool: asyncpg.Pool,
    folder_id: uuid.UUID,
    status: str,
    error: str | None = None,
    scanned_at: datetime | None = None,
) -> None:
    await pool.execute(
        "UPDATE ingest.folders SET status = $2, error = $3, last_scan_at = coalesce($4, last_scan_at) "
        "WHERE folder_id = $1",
        folder_id, status, error, scanned_at,
    )  # fmt: skip


async def known_files(pool: asyncpg.Pool, folder_id: uuid.UUID) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime_ns) of every file already staged from this folder."""
    rows = await pool.fetch(
        "SELECT relative_path, size, mtime_ns FROM ingest.folder_files WHERE folder_id = $1", folder_id
    )
    return {r["relative_path"]: (r["size"], r["mtime_ns"]) for r in rows}


async def staged_sha256(conn: asyncpg.Connection, folder_id: uuid.UUID, relative_path: str) -> str | None:
    return await conn.fetchval(
        "SELECT sha256 FROM ingest.folder_files WHERE folder_id = $1 AND relative_path = $2",
        folder_id, relative_path,
    )  # fmt: skip


async def tenant_has_content(conn: asyncpg.Connection, tenant_id: uuid.UUID, sha256: str) -> bool:
    """These bytes are already an asset of the tenant, or already staged from one of its folders."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM ingest.assets WHERE tenant_id = $1 AND sha256 = $2) "
        "OR EXISTS (SELECT 1 FROM ingest.folder_files ff JOIN ingest.folders f USING (folder_id) "
        "           WHERE f.tenant_id = $1 AND ff.sha256 = $2)",
        tenant_id, sha256,
    ))  # fmt: skip


async def record_file(
    conn: asyncpg.Connection,
    folder_id: uuid.UUID,
    relative_path: str,
    size: int,
    mtime_ns: int,
    sha256: str,
    asset_id: uuid.UUID,
) -> None:
    await conn.execute(
        """
        INSERT INTO ingest.folder_files (folder_id, relative_path, size, mtime_ns, sha256, asset_id)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (folder_id, relative_path) DO UPDATE SET size = EXCLUDED.size, mtime_ns = EXCLUDED.mtime_ns,
            sha256 = EXCLUDED.sha256, asset_id = EXCLUDED.asset_id, seen_at = now()
        """,
        folder_id, relative_path, size, mtime_ns, sha256, asset_id,
    )  # fmt: skip
