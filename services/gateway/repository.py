"""Every read the gateway makes, each scoped to the `AuthSubject` asking.

Reads go through the owners' read contracts (views in `ingest` and `clustering`),
never their tables, and every statement filters on the subject's tenant: there is
no function here that can return another tenant's row.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.gateway.auth import AuthSubject


async def statuses(
    pool: asyncpg.Pool, subject: AuthSubject, asset_ids: list[uuid.UUID]
) -> dict[uuid.UUID, asyncpg.Record]:
    rows = await pool.fetch(
        "SELECT asset_id, status, reason FROM ingest.asset_status WHERE tenant_id = $1 AND asset_id = ANY($2::uuid[])",
        subject.tenant_id, asset_ids,
    )  # fmt: skip
    return {r["asset_id"]: r for r in rows}


async def staged(conn: asyncpg.Connection, subject: AuthSubject, sha256s: list[str]) -> dict[str, uuid.UUID]:
    rows = await conn.fetch(
        "SELECT sha256, asset_id FROM gateway.uploads WHERE tenant_id = $1 AND sha256 = ANY($2::text[])",
        subject.tenant_id, sha256s,
    )  # fmt: skip
    return {r["sha256"]: r["asset_id"] for r in rows}


async def known_sha256s(pool: asyncpg.Pool, subject: AuthSubject, sha256s: list[str]) -> set[str]:
    """The subset of `sha256s` the tenant already has: staged here, or imported by ingest another way
    (a connected folder does not pass through gateway.uploads)."""
    rows = await pool.fetch(
        "SELECT sha256 FROM gateway.uploads WHERE tenant_id = $1 AND sha256 = ANY($2::text[]) "
        "UNION SELECT sha256 FROM ingest.asset_status WHERE tenant_id = $1 AND sha256 = ANY($2::text[])",
        subject.tenant_id, sha256s,
    )  # fmt: skip
    return {r["sha256"] for r in rows}


async def record_upload(
    conn: asyncpg.Connection, subject: AuthSubject, asset_id: uuid.UUID, sha256: str, filename: str
) -> bool:
    """False when the tenant already staged these bytes (a concurrent upload won)."""
    row = await conn.fetchrow(
        "INSERT INTO gateway.uploads (asset_id, tenant_id, sha256, filename) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING RETURNING asset_id",
        asset_id, subject.tenant_id, sha256, filename,
    )  # fmt: skip
    return row is not None


# what a session card shows, from clustering's read contract
SESSION_CARD_COLUMNS = (
    "session_id, start_at, end_at, asset_count, precision, cover_asset_ids, updated_at, reflection_summary"
)


async def sessions(
    pool: asyncpg.Pool, subject: AuthSubject, *, limit: int, before: Any = None
) -> list[asyncpg.Record]:
    return await pool.fetch(
        f"SELECT {SESSION_CARD_COLUMNS} "
        "FROM clustering.session_cards WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR start_at < $2) "
        "ORDER BY start_at DESC LIMIT $3",
        subject.tenant_id, before, limit,
    )  # fmt: skip


async def session(
    pool: asyncpg.Pool, subject: AuthSubject, session_id: uuid.UUID
) -> tuple[asyncpg.Record | None, uuid.UUID]:
    """The session, following a merge redirect; returns (row, the id it resolved to)."""
    target = await pool.fetchval(
        "SELECT merged_into FROM clustering.session_redirects WHERE tenant_id = $1 AND session_id = $2",
        subject.tenant_id, session_id,
    )  # fmt: skip
    resolved = target or session_id
    row = await pool.fetchrow(
        f"SELECT {SESSION_CARD_COLUMNS} "
        "FROM clustering.session_cards WHERE tenant_id = $1 AND session_id = $2",
        subject.tenant_id, resolved,
    )  # fmt: skip
    return row, resolved


async def sessions_by_id(
    pool: asyncpg.Pool, subject: AuthSubject, session_ids: list[uuid.UUID]
) -> list[asyncpg.Record]:
    """These live sessions' cards, in time order (ids merged away or of other tenants are left out)."""
    return await pool.fetch(
        f"SELECT {SESSION_CARD_COLUMNS} FROM clustering.session_cards "
        "WHERE tenant_id = $1 AND session_id = ANY($2::uuid[]) ORDER BY start_at, session_id",
        subject.tenant_id, session_ids,
    )  # fmt: skip


async def session_gap_minutes(pool: asyncpg.Pool, subject: AuthSubject) -> int | None:
    """The tenant's own session gap; None when it uses the default rule (or never set anything)."""
    return await pool.fetchval(
        "SELECT gap_minutes FROM clustering.session_settings WHERE tenant_id = $1", subject.tenant_id
    )


ASSET_COLUMNS = (
    "a.asset_id, a.filename, a.format, a.tool, a.prompt, a.negative_prompt, a.seed, a.model, a.sampler, a.steps, "
    "a.cfg, a.width, a.height, a.generated_at, a.timestamp_source, a.timestamp_precision, a.dominant_colors, "
    "a.imported_at, a.metadata_error"
)


async def session_assets(
    pool: asyncpg.Pool, subject: AuthSubject, session_id: uuid.UUID
) -> list[asyncpg.Record]:
    return await pool.fetch(
        f"SELECT {ASSET_COLUMNS} FROM clustering.session_members m "
        "JOIN ingest.asset_cards a ON a.asset_id = m.asset_id AND a.tenant_id = m.tenant_id "
        "WHERE m.tenant_id = $1 AND m.session_id = $2 ORDER BY m.generated_at, m.asset_id",
        subject.tenant_id, session_id,
    )  # fmt: skip


async def assets(
    pool: asyncpg.Pool, subject: AuthSubject, *, limit: int, offset: int, without_time: bool = False
) -> list[asyncpg.Record]:
    return await pool.fetch(
        f"SELECT {ASSET_COLUMNS}, m.session_id FROM ingest.asset_cards a "
        "LEFT JOIN clustering.session_members m ON m.asset_id = a.asset_id AND m.tenant_id = a.tenant_id "
        "WHERE a.tenant_id = $1 AND (NOT $4 OR a.generated_at IS NULL) "
        "ORDER BY a.generated_at DESC NULLS LAST, a.imported_at DESC LIMIT $2 OFFSET $3",
        subject.tenant_id, limit, offset, without_time,
    )  # fmt: skip


async def set_time_zone(pool: asyncpg.Pool, subject: AuthSubject, time_zone: str) -> None:
    await pool.execute(
        "UPDATE gateway.tenants SET time_zone = $2 WHERE tenant_id = $1", subject.tenant_id, time_zone
    )


async def asset(pool: asyncpg.Pool, subject: AuthSubject, asset_id: uuid.UUID) -> asyncpg.Record | None:
    return await pool.fetchrow(
        f"SELECT {ASSET_COLUMNS}, a.metadata, a.card_key, a.detail_key, a.sha256, m.session_id "
        "FROM ingest.asset_cards a "
        "LEFT JOIN clustering.session_members m ON m.asset_id = a.asset_id AND m.tenant_id = a.tenant_id "
        "WHERE a.tenant_id = $1 AND a.asset_id = $2",
        subject.tenant_id, asset_id,
    )  # fmt: skip


async def quarantined(pool: asyncpg.Pool, subject: AuthSubject, *, limit: int) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT asset_id, filename, reason, at FROM ingest.asset_status WHERE tenant_id = $1 AND status = 'quarantined' "
        "ORDER BY at DESC LIMIT $2",
        subject.tenant_id, limit,
    )  # fmt: skip
