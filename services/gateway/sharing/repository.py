"""The SQL of saved searches and share links (tables in the gateway's schema).

As in services/gateway/repository.py, every read or delete of these tables starts from ONE function
per table that opens a statement already scoped to the asking subject's tenant
(`readable_saved_searches`, `readable_share_links`). The one lookup that is not scoped to a subject is
`share_by_token`: the token is the credential, as an API token is in services/gateway/auth.py, and what
it finds says which tenant (and which single session) its reads are then scoped to.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, TypeAlias

import asyncpg

from services.gateway import repository as gateway_repository
from services.gateway.auth import AuthSubject, token_digest
from services.gateway.repository import Statement

# a pool, or a connection inside a transaction
Executor: TypeAlias = "asyncpg.Pool | asyncpg.Connection"


def readable_saved_searches(subject: AuthSubject) -> Statement:
    """gateway.saved_searches as `ss`."""
    return Statement("gateway.saved_searches ss", [subject.tenant_id], ["ss.tenant_id = $1"])


def readable_share_links(subject: AuthSubject) -> Statement:
    """gateway.share_links as `sl`."""
    return Statement("gateway.share_links sl", [subject.tenant_id], ["sl.tenant_id = $1"])


SEARCH_COLUMNS = "ss.search_id, ss.name, ss.query, ss.created_at"


async def saved_searches(conn: Executor, subject: AuthSubject) -> list[asyncpg.Record]:
    q = readable_saved_searches(subject)
    return await conn.fetch(*q.select(SEARCH_COLUMNS, "ORDER BY ss.created_at, ss.search_id"))


async def count_saved_searches(conn: Executor, subject: AuthSubject) -> int:
    return await conn.fetchval(*readable_saved_searches(subject).select("count(*)"))


async def lock_saved_searches(conn: asyncpg.Connection, subject: AuthSubject) -> None:
    """Held to the end of the transaction: two creations at once cannot both pass the cap."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 11))", f"searches:{subject.tenant_id}"
    )


async def insert_saved_search(
    conn: Executor, subject: AuthSubject, name: str, query: dict[str, Any]
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO gateway.saved_searches AS ss (search_id, tenant_id, name, query) VALUES ($1, $2, $3, $4) "
        f"RETURNING {SEARCH_COLUMNS}",
        uuid.uuid4(), subject.tenant_id, name, query,
    )  # fmt: skip
    assert row is not None
    return row


async def delete_saved_search(conn: Executor, subject: AuthSubject, search_id: uuid.UUID) -> bool:
    q = readable_saved_searches(subject)
    q.where(f"ss.search_id = {q.bind(search_id)}")
    sql, *args = q.select("ss.search_id")
    deleted = await conn.fetchval(
        f"DELETE FROM gateway.saved_searches WHERE search_id IN ({sql}) RETURNING search_id", *args
    )
    return deleted is not None


SHARE_COLUMNS = (
    "sl.share_id, sl.tenant_id, sl.session_id, sl.prefix, sl.show_prompts, sl.created_at, sl.expires_at"
)


async def insert_share(conn: Executor, subject: AuthSubject, session_id: uuid.UUID, token: str, prefix: str,
                       show_prompts: bool, lifetime: timedelta) -> asyncpg.Record:  # fmt: skip
    row = await conn.fetchrow(
        "INSERT INTO gateway.share_links AS sl (share_id, tenant_id, session_id, token_sha256, prefix, show_prompts, "
        f"expires_at) VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval) RETURNING {SHARE_COLUMNS}",
        uuid.uuid4(), subject.tenant_id, session_id, token_digest(token), prefix, show_prompts, lifetime,
    )  # fmt: skip
    assert row is not None
    return row


async def shares_of(
    conn: Executor, subject: AuthSubject, session_ids: list[uuid.UUID]
) -> list[asyncpg.Record]:
    """The links made for any of these session ids (a session and those merged into it), expired ones too."""
    q = readable_share_links(subject)
    q.where(f"sl.session_id = ANY({q.bind(session_ids)}::uuid[])")
    return await conn.fetch(*q.select(SHARE_COLUMNS, "ORDER BY sl.created_at, sl.share_id"))


async def delete_share(conn: Executor, subject: AuthSubject, share_id: uuid.UUID) -> bool:
    q = readable_share_links(subject)
    q.where(f"sl.share_id = {q.bind(share_id)}")
    sql, *args = q.select("sl.share_id")
    deleted = await conn.fetchval(
        f"DELETE FROM gateway.share_links WHERE share_id IN ({sql}) RETURNING share_id", *args
    )
    return deleted is not None


async def share_by_token(conn: Executor, token: str) -> asyncpg.Record | None:
    """The live link this token opens: None when there is none, or it expired (or was revoked: deleted)."""
    return await conn.fetchrow(
        f"SELECT {SHARE_COLUMNS}, t.name AS tenant_name, t.time_zone FROM gateway.share_links sl "
        "JOIN gateway.tenants t USING (tenant_id) WHERE sl.token_sha256 = $1 AND sl.expires_at > now()",
        token_digest(token),
    )  # fmt: skip


async def merged_into(conn: Executor, subject: AuthSubject, session_id: uuid.UUID) -> list[uuid.UUID]:
    """The session ids that were merged away into this one (their links now show it)."""
    q = gateway_repository.readable_redirects(subject)
    q.where(f"r.merged_into = {q.bind(session_id)}")
    return [r["session_id"] for r in await conn.fetch(*q.select("r.session_id"))]
