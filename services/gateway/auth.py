"""Who is asking. Every `/api/v1` route depends on `authenticate`, which returns the
`AuthSubject` that every read and write is then scoped to.

A request proves itself with `Authorization: Bearer <token>` (API clients, `atelier
sync`) or with the `atelier_token` cookie the web page gets from `POST /api/v1/login`.
Tokens are stored as SHA-256 digests, so a database leak does not leak tokens.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

import asyncpg
from fastapi import HTTPException, Request, status

COOKIE = "atelier_token"


@dataclass(frozen=True)
class AuthSubject:
    tenant_id: uuid.UUID
    tenant_name: str
    time_zone: str


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return "atl_" + secrets.token_urlsafe(24)


async def subject_for_token(pool: asyncpg.Pool, token: str) -> AuthSubject | None:
    row = await pool.fetchrow(
        "SELECT t.tenant_id, t.name, t.time_zone FROM gateway.api_tokens k "
        "JOIN gateway.tenants t USING (tenant_id) WHERE k.token_sha256 = $1",
        token_digest(token),
    )
    return AuthSubject(row["tenant_id"], row["name"], row["time_zone"]) if row else None


def _presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE)


async def authenticate(request: Request) -> AuthSubject:
    token = _presented_token(request)
    subject = await subject_for_token(request.app.state.runtime.pool, token) if token else None
    if subject is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or invalid API token" if token is None else "invalid API token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return subject


async def ensure_tenant(pool: asyncpg.Pool, name: str, token: str, time_zone: str = "UTC") -> uuid.UUID:
    """Create the tenant if missing and make `token` one of its tokens (idempotent)."""
    async with pool.acquire() as conn, conn.transaction():
        tenant_id = await conn.fetchval(
            "INSERT INTO gateway.tenants (tenant_id, name, time_zone) VALUES ($1, $2, $3) "
            "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING tenant_id",
            uuid.uuid4(), name, time_zone,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO gateway.api_tokens (token_sha256, tenant_id, label) VALUES ($1, $2, 'demo') "
            "ON CONFLICT (token_sha256) DO NOTHING",
            token_digest(token), tenant_id,
        )  # fmt: skip
    return tenant_id
