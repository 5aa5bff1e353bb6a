"""The export's reads, each started from a `readable_*` statement of services/gateway/repository.py (so
scoped to the caller's workspace) and read a page at a time by a keyset: a library of any size is
never held in memory, and each page is one indexed query."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from services.gateway.auth import AuthSubject
from services.gateway.repository import (
    ASSET_COLUMNS,
    Statement,
    flag_column,
    readable_asset_flags,
    readable_assets,
    readable_lineage_links,
    readable_redirects,
    readable_reflections,
    readable_session_assets,
    readable_session_stacks,
    readable_sessions,
)

PAGE = 500


async def _pages(
    pool: asyncpg.Pool, make: Any, columns: str, keys: tuple[str, ...], names: tuple[str, ...]
) -> AsyncIterator[list[asyncpg.Record]]:
    """Every row of `make()` (a fresh scoped statement) in `keys` order, `PAGE` rows a query; `names`
    are the keys' names in the rows."""
    last: tuple[Any, ...] | None = None
    while True:
        q: Statement = make()
        if last is not None:
            bound = ", ".join(q.bind(v) for v in last)
            q.where(f"({', '.join(keys)}) > ({bound})")
        rows = await pool.fetch(*q.select(columns, f"ORDER BY {', '.join(keys)} LIMIT {q.bind(PAGE)}"))
        if rows:
            yield rows
        if len(rows) < PAGE:
            return
        last = tuple(rows[-1][n] for n in names)


def assets(pool: asyncpg.Pool, subject: AuthSubject) -> AsyncIterator[list[asyncpg.Record]]:
    """Every asset of the workspace (rejects included), with its session and flag; by sha256, which is
    unique in a workspace and indexed with it (ingest's UNIQUE (tenant_id, sha256))."""

    def make() -> Statement:
        return readable_assets(subject)

    columns = f"{ASSET_COLUMNS}, a.sha256, a.source, a.metadata, m.session_id"
    flagged = make()
    columns += f", {flag_column(flagged, subject)}"
    # flag_column binds nothing beyond the tenant ($1), so the column works in every page's statement
    assert len(flagged.args) == 1
    return _pages(pool, make, columns, ("a.sha256",), ("sha256",))


def sessions(pool: asyncpg.Pool, subject: AuthSubject) -> AsyncIterator[list[asyncpg.Record]]:
    """Every live session, in time order."""
    return _pages(
        pool,
        lambda: readable_sessions(subject),
        "s.session_id, s.start_at, s.end_at, s.asset_count, s.precision",
        ("s.start_at", "s.session_id"),
        ("start_at", "session_id"),
    )


async def session_members(
    pool: asyncpg.Pool, subject: AuthSubject, session_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """These sessions' assets, each in generation order."""
    q = readable_session_assets(subject)
    q.where(f"m.session_id = ANY({q.bind(session_ids)}::uuid[])")
    rows = await pool.fetch(*q.select("m.session_id, m.asset_id", "ORDER BY m.generated_at, m.asset_id"))
    members: dict[uuid.UUID, list[uuid.UUID]] = {s: [] for s in session_ids}
    for r in rows:
        members[r["session_id"]].append(r["asset_id"])
    return members


def reflections(pool: asyncpg.Pool, subject: AuthSubject) -> AsyncIterator[list[asyncpg.Record]]:
    """Completed reflections, oldest first."""

    def make() -> Statement:
        return readable_reflections(subject).where("r.status = 'completed'")

    columns = (
        "r.reflection_id, r.session_id, r.model, r.curator, r.summary, r.summary_statements, r.style_patterns, "
        "r.evolution_notes, r.facts, r.credits_reserved, r.credits_charged, r.prompt_tokens, "
        "r.completion_tokens, r.created_at, r.completed_at"
    )
    return _pages(pool, make, columns, ("r.created_at", "r.reflection_id"), ("created_at", "reflection_id"))


async def redirects(
    pool: asyncpg.Pool, subject: AuthSubject, session_ids: list[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Merged-away session ids among these, and the session each became."""
    q = readable_redirects(subject)
    q.where(f"r.session_id = ANY({q.bind(session_ids)}::uuid[])")
    return {
        r["session_id"]: r["merged_into"] for r in await pool.fetch(*q.select("r.session_id, r.merged_into"))
    }


def flags(pool: asyncpg.Pool, subject: AuthSubject) -> AsyncIterator[list[asyncpg.Record]]:
    return _pages(
        pool, lambda: readable_asset_flags(subject), "f.asset_id, f.flag", ("f.asset_id",), ("asset_id",)
    )


def stacks(pool: asyncpg.Pool, subject: AuthSubject) -> AsyncIterator[list[asyncpg.Record]]:
    return _pages(
        pool,
        lambda: readable_session_stacks(subject),
        "sk.session_id, sk.stack_id, sk.cover_asset_id, sk.asset_ids, sk.manual, sk.reason",
        ("sk.stack_id",),  # the stacks' key is (tenant_id, stack_id)
        ("stack_id",),
    )


def lineage(pool: asyncpg.Pool, subject: AuthSubject) -> AsyncIterator[list[asyncpg.Record]]:
    return _pages(
        pool,
        lambda: readable_lineage_links(subject),
        "ll.parent_id, ll.child_id, ll.relation, ll.rule, ll.evidence, ll.confidence, ll.explicit",
        ("ll.parent_id", "ll.child_id"),
        ("parent_id", "child_id"),
    )


async def view_exists(pool: asyncpg.Pool, name: str) -> bool:
    """Whether an owner's view is there (a server whose clustering predates curation has none)."""
    return bool(await pool.fetchval("SELECT to_regclass($1) IS NOT NULL", name))
