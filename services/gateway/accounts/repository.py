"""The SQL of accounts, browser sessions and API tokens (tables in the gateway's schema).

Token reads and deletes take the asking subject and filter on its tenant, like every read of
services/gateway/repository.py: there is no function here that lists or revokes another
workspace's token.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TypeAlias

import asyncpg

from services.gateway.auth import TOKEN_PREFIX_LENGTH, AuthSubject, token_digest

# a pool, or a connection inside a transaction
Executor: TypeAlias = "asyncpg.Pool | asyncpg.Connection"


async def insert_tenant(conn: Executor, tenant_id: uuid.UUID, name: str) -> None:
    await conn.execute("INSERT INTO gateway.tenants (tenant_id, name) VALUES ($1, $2)", tenant_id, name)


async def tenant(conn: Executor, tenant_id: uuid.UUID) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT name, time_zone FROM gateway.tenants WHERE tenant_id = $1", tenant_id)
    assert row is not None, "an account's workspace goes only with the account (ON DELETE CASCADE)"
    return row


async def insert_account(conn: Executor, account_id: uuid.UUID, tenant_id: uuid.UUID, email: str, name: str,
                         password_hash: str) -> None:  # fmt: skip
    await conn.execute(
        "INSERT INTO gateway.accounts (account_id, tenant_id, email, name, password_hash) VALUES ($1, $2, $3, $4, $5)",
        account_id, tenant_id, email, name, password_hash,
    )  # fmt: skip


async def account_by_email(conn: Executor, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT account_id, tenant_id, email, name, password_hash, disabled_at, created_at "
        "FROM gateway.accounts WHERE lower(email) = lower($1)",
        email,
    )


async def accounts(conn: Executor) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT a.account_id, a.email, a.name, a.tenant_id, t.name AS tenant, a.disabled_at, a.created_at "
        "FROM gateway.accounts a JOIN gateway.tenants t USING (tenant_id) ORDER BY a.created_at"
    )


async def set_password_hash(conn: Executor, account_id: uuid.UUID, password_hash: str) -> None:
    await conn.execute(
        "UPDATE gateway.accounts SET password_hash = $2 WHERE account_id = $1", account_id, password_hash
    )


async def disable(conn: Executor, account_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE gateway.accounts SET disabled_at = coalesce(disabled_at, now()) WHERE account_id = $1",
        account_id,
    )


async def insert_session(conn: Executor, session_id: str, tenant_id: uuid.UUID, account_id: uuid.UUID | None,
                         lifetime: timedelta) -> None:  # fmt: skip
    await conn.execute(
        "INSERT INTO gateway.browser_sessions (session_sha256, tenant_id, account_id, expires_at) "
        "VALUES ($1, $2, $3, now() + $4::interval)",
        token_digest(session_id), tenant_id, account_id, lifetime,
    )  # fmt: skip


async def delete_session(conn: Executor, session_id: str) -> None:
    await conn.execute(
        "DELETE FROM gateway.browser_sessions WHERE session_sha256 = $1", token_digest(session_id)
    )


async def delete_sessions_of(conn: Executor, account_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM gateway.browser_sessions WHERE account_id = $1", account_id)


async def prune_sessions(conn: Executor) -> None:
    """Expired sessions are refused anyway; this keeps the table from growing (a few rows at a time)."""
    await conn.execute(
        "DELETE FROM gateway.browser_sessions WHERE session_sha256 IN (SELECT session_sha256 "
        "FROM gateway.browser_sessions WHERE expires_at < now() LIMIT 100)"
    )


TOKEN_COLUMNS = "token_id, label, prefix, created_at, last_used_at"


async def insert_token(conn: Executor, subject: AuthSubject, token: str, label: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO gateway.api_tokens (token_sha256, tenant_id, account_id, label, prefix) "
        f"VALUES ($1, $2, $3, $4, $5) RETURNING {TOKEN_COLUMNS}",
        token_digest(token), subject.tenant_id, subject.account_id, label, token[:TOKEN_PREFIX_LENGTH],
    )  # fmt: skip
    assert row is not None
    return row


async def tokens(conn: Executor, subject: AuthSubject) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {TOKEN_COLUMNS} FROM gateway.api_tokens WHERE tenant_id = $1 ORDER BY created_at, token_id",
        subject.tenant_id,
    )


async def delete_token(conn: Executor, subject: AuthSubject, token_id: uuid.UUID) -> bool:
    deleted = await conn.fetchval(
        "DELETE FROM gateway.api_tokens WHERE tenant_id = $1 AND token_id = $2 RETURNING token_id",
        subject.tenant_id, token_id,
    )  # fmt: skip
    return deleted is not None
