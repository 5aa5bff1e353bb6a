"""The reflection schema (quotes, reflections) and the read contracts it reads: ingest's `asset_cards`
and clustering's `session_cards` / `session_members` views (never their tables, never a write)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from libs.reflection.analysis import AssetInfo

SCHEMA = "reflection"

REFLECTION_COLUMNS = (
    "reflection_id, tenant_id, session_id, status, quote_id, reservation_id, model, curator, credits_reserved, "
    "credits_charged, prompt_tokens, completion_tokens, summary, summary_statements, style_patterns, "
    "evolution_notes, facts, error, created_at, started_at, completed_at, updated_at"
)


async def session_exists(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: uuid.UUID, session_id: uuid.UUID
) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM clustering.session_cards WHERE tenant_id = $1 AND session_id = $2",
            tenant_id,
            session_id,
        )
    )


def _asset(row: asyncpg.Record) -> AssetInfo:
    seed = row["seed"]
    return AssetInfo(
        asset_id=str(row["asset_id"]),
        prompt=row["prompt"],
        negative_prompt=row["negative_prompt"],
        tool=row["tool"],
        model=row["model"],
        loras=tuple(row["loras"] or ()),
        sampler=row["sampler"],
        cfg=row["cfg"],
        steps=row["steps"],
        seed=int(seed) if seed is not None else None,
        width=row["width"],
        height=row["height"],
        generated_at=row["generated_at"] or row["member_at"],
        dominant_colors=tuple(row["dominant_colors"] or ()),
    )


async def session_assets(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: uuid.UUID, session_id: uuid.UUID, limit: int
) -> tuple[int, list[AssetInfo], dict[str, str]]:
    """How many images the session has, (an even sample of at most `limit` of) them in time order, and
    their card thumbnails' keys."""
    rows = await conn.fetch(
        """SELECT a.asset_id, a.card_key, a.prompt, a.negative_prompt, a.tool, a.model, a.loras, a.sampler, a.cfg, a.steps,
                  a.seed, a.width, a.height, a.generated_at, a.dominant_colors, m.generated_at AS member_at
           FROM clustering.session_members m
           JOIN ingest.asset_cards a ON a.asset_id = m.asset_id AND a.tenant_id = m.tenant_id
           WHERE m.tenant_id = $1 AND m.session_id = $2
           ORDER BY m.generated_at, a.asset_id""",
        tenant_id,
        session_id,
    )
    n = len(rows)
    if n > limit:
        rows = [rows[round(i * (n - 1) / (limit - 1))] for i in range(limit)]
    keys = {str(r["asset_id"]): r["card_key"] for r in rows if r["card_key"]}
    return n, [_asset(r) for r in rows], keys


async def other_sessions_prompts(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: uuid.UUID, session_id: uuid.UUID, limit: int = 20000
) -> list[list[str]]:
    """The distinct prompts of each of the workspace's other sessions (the TF-IDF background)."""
    rows = await conn.fetch(
        """SELECT DISTINCT m.session_id, a.prompt
           FROM clustering.session_members m
           JOIN ingest.asset_cards a ON a.asset_id = m.asset_id AND a.tenant_id = m.tenant_id
           WHERE m.tenant_id = $1 AND m.session_id <> $2 AND a.prompt IS NOT NULL
           LIMIT $3""",
        tenant_id,
        session_id,
        limit,
    )
    by_session: dict[uuid.UUID, list[str]] = {}
    for r in rows:
        by_session.setdefault(r["session_id"], []).append(r["prompt"])
    return list(by_session.values())


# -- quotes ---------------------------------------------------------------------------------------
async def insert_quote(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    tenant_id: uuid.UUID,
    session_id: uuid.UUID,
    model: str,
    credits: int,
    prompt_tokens: int,
    answer_tokens: int,
    asset_count: int,
    ttl_seconds: int,
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO reflection.quotes
               (quote_id, tenant_id, session_id, model, credits, prompt_tokens, answer_tokens, asset_count, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))
           RETURNING quote_id, tenant_id, session_id, model, credits, prompt_tokens, answer_tokens, asset_count,
                     created_at, expires_at, expires_at <= now() AS expired""",
        uuid.uuid4(),
        tenant_id,
        session_id,
        model,
        credits,
        prompt_tokens,
        answer_tokens,
        asset_count,
        float(ttl_seconds),
    )


async def find_quote(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: uuid.UUID, quote_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT quote_id, tenant_id, session_id, model, credits, prompt_tokens, answer_tokens, asset_count,
                  created_at, expires_at, expires_at <= now() AS expired
           FROM reflection.quotes WHERE tenant_id = $1 AND quote_id = $2""",
        tenant_id,
        quote_id,
    )


# -- reflections ----------------------------------------------------------------------------------
async def create_pending(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    reflection_id: uuid.UUID,
    tenant_id: uuid.UUID,
    session_id: uuid.UUID,
    quote_id: uuid.UUID,
    model: str,
    status: str = "pending",
) -> bool:
    """Insert the reflection's row unless it exists; True when this call made it."""
    made = await conn.fetchval(
        """INSERT INTO reflection.reflections (reflection_id, tenant_id, session_id, quote_id, model, status, started_at)
           VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6 = 'running' THEN now() END)
           ON CONFLICT (reflection_id) DO NOTHING RETURNING true""",
        reflection_id,
        tenant_id,
        session_id,
        quote_id,
        model,
        status,
    )
    return bool(made)


async def mark_running(
    pool: asyncpg.Pool, reflection_id: uuid.UUID, tenant_id: uuid.UUID, reservation_id: uuid.UUID
) -> None:
    """Committed at once (its own connection), so pages see the work started."""
    await pool.execute(
        """UPDATE reflection.reflections
           SET status = 'running', started_at = COALESCE(started_at, now()), reservation_id = $3, updated_at = now()
           WHERE reflection_id = $1 AND tenant_id = $2 AND status IN ('pending', 'running')""",
        reflection_id,
        tenant_id,
        reservation_id,
    )


async def lock_reflection(conn: asyncpg.Connection, reflection_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT reflection_id, tenant_id, session_id, status, quote_id FROM reflection.reflections "
        "WHERE reflection_id = $1 FOR UPDATE",
        reflection_id,
    )


async def complete(
    conn: asyncpg.Connection,
    reflection_id: uuid.UUID,
    *,
    reservation_id: uuid.UUID,
    credits_reserved: int,
    credits_charged: int,
    model: str,
    curator: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: float,
    summary: str,
    sections: dict[str, Any],
    facts: list[dict[str, Any]],
    dropped: list[dict[str, Any]],
) -> None:
    await conn.execute(
        """UPDATE reflection.reflections
           SET status = 'completed', reservation_id = $2, credits_reserved = $3, credits_charged = $4, model = $5,
               curator = $6, prompt_tokens = $7, completion_tokens = $8, cost_usd = $9, summary = $10,
               sections = $11, facts = $12, dropped = $13, error = NULL, started_at = COALESCE(started_at, now()),
               completed_at = now(), updated_at = now()
           WHERE reflection_id = $1""",
        reflection_id,
        reservation_id,
        credits_reserved,
        credits_charged,
        model,
        curator,
        prompt_tokens,
        completion_tokens,
        cost_usd,
        summary,
        sections,
        facts,
        dropped,
    )


async def fail(
    conn: asyncpg.Connection,
    reflection_id: uuid.UUID,
    *,
    reservation_id: uuid.UUID,
    credits_reserved: int,
    reason: str,
) -> None:
    await conn.execute(
        """UPDATE reflection.reflections
           SET status = 'failed', reservation_id = $2, credits_reserved = $3, credits_charged = 0, error = $4,
               completed_at = now(), updated_at = now()
           WHERE reflection_id = $1""",
        reflection_id,
        reservation_id,
        credits_reserved,
        reason,
    )


def reflection_json(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    for k, v in out.items():
        if isinstance(v, uuid.UUID):
            out[k] = str(v)
        elif isinstance(v, datetime):
            out[k] = v.isoformat()
    return out


async def get_reflection(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: uuid.UUID, reflection_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {REFLECTION_COLUMNS} FROM reflection.reflection_cards WHERE tenant_id = $1 AND reflection_id = $2",
        tenant_id,
        reflection_id,
    )


async def session_reflections(
    conn: asyncpg.Connection | asyncpg.Pool, tenant_id: uuid.UUID, session_id: uuid.UUID, limit: int = 50
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {REFLECTION_COLUMNS} FROM reflection.reflection_cards WHERE tenant_id = $1 AND session_id = $2 "
        "ORDER BY created_at DESC LIMIT $3",
        tenant_id,
        session_id,
        limit,
    )
