"""The gateway's reads of reflections (through the reflection service's views, scoped in
services/gateway/repository.py) and its idempotency records."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.gateway.auth import AuthSubject
from services.gateway.repository import readable_reflection_summaries, readable_reflections

REFLECTION_COLUMNS = (
    "r.reflection_id, r.session_id, r.status, r.model, r.curator, r.summary, r.summary_statements, "
    "r.style_patterns, r.evolution_notes, r.facts, r.credits_reserved, r.credits_charged, r.error, "
    "r.created_at, r.completed_at"
)


async def reflection(
    pool: asyncpg.Pool, subject: AuthSubject, reflection_id: uuid.UUID
) -> asyncpg.Record | None:
    q = readable_reflections(subject)
    q.where(f"r.reflection_id = {q.bind(reflection_id)}")
    return await pool.fetchrow(*q.select(REFLECTION_COLUMNS))


async def session_reflections(
    pool: asyncpg.Pool, subject: AuthSubject, session_id: uuid.UUID, limit: int = 20
) -> list[asyncpg.Record]:
    q = readable_reflections(subject)
    q.where(f"r.session_id = {q.bind(session_id)}")
    return await pool.fetch(
        *q.select(REFLECTION_COLUMNS, f"ORDER BY r.created_at DESC LIMIT {q.bind(limit)}")
    )


async def summaries(
    pool: asyncpg.Pool, subject: AuthSubject, session_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The latest completed reflection's summary of each of these sessions that has one. Empty while the
    reflection service has not yet made its schema (a gateway may start first)."""
    if not session_ids:
        return {}
    q = readable_reflection_summaries(subject)
    q.where(f"rs.session_id = ANY({q.bind(session_ids)}::uuid[])")
    try:
        rows = await pool.fetch(*q.select("rs.session_id, rs.summary"))
    except asyncpg.UndefinedTableError:
        return {}
    return {r["session_id"]: r["summary"] for r in rows if r["summary"]}


async def stored_answer(conn: Any, tenant_id: uuid.UUID, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT operation, request_digest, status_code, response FROM gateway.idempotency_keys "
        "WHERE tenant_id = $1 AND key = $2",
        tenant_id,
        key,
    )


async def store_answer(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    key: str,
    operation: str,
    digest: str,
    status: int,
    response: dict[str, Any],
) -> bool:
    """Keep the answer under the key; False when another request stored one first (it wins)."""
    stored = await conn.fetchval(
        "INSERT INTO gateway.idempotency_keys (tenant_id, key, operation, request_digest, status_code, response) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, key) DO NOTHING RETURNING true",
        tenant_id, key, operation, digest, status, response,
    )  # fmt: skip
    return bool(stored)
