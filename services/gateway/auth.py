"""Who is asking. Every `/api/v1` route depends on `authenticate`, which returns the
`AuthSubject` that every read and write is then scoped to.

A request proves itself one of two ways, and each credential works only its own way:
- `Authorization: Bearer <API token>`: scripts, `atelier sync`. Tokens are random, shown once, and
  stored as SHA-256 digests, so a database leak does not leak them.
- the `atelier_session` cookie the web page gets from signing in (services/gateway/accounts): an
  opaque random id, also stored as a digest, with a fixed expiry. An API token sent as the cookie
  is not a session, and a session id sent as a Bearer token is not a token: both are refused.
A cookie-authenticated request that changes something must come from our own pages (see
services/gateway/accounts/csrf.py), else 403. The API token of a disabled account stops working at
once, like its sessions: both lookups join the account.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Literal

import asyncpg
from fastapi import HTTPException, Request, status

from services.gateway.accounts import csrf

COOKIE = "atelier_session"
# set beside it, readable by the page: says "a session may be open" (no secret), see accounts/endpoints.py
SIGNED_IN_COOKIE = "atelier_signed_in"
# an API token's first characters, kept in clear to recognise it in a list (`atl_` + 8 of its 43)
TOKEN_PREFIX_LENGTH = 12


@dataclass(frozen=True)
class AuthSubject:
    tenant_id: uuid.UUID
    tenant_name: str
    time_zone: str
    # the person signed in; None for a tenant that only has tokens (the demo tenant, test tenants)
    account_id: uuid.UUID | None = None
    email: str | None = None
    name: str | None = None
    via: Literal["token", "session"] = "token"


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return "atl_" + secrets.token_urlsafe(32)


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


_SUBJECT_COLUMNS = "t.tenant_id, t.name, t.time_zone, a.account_id, a.email, a.name AS account_name"


def _subject(row: asyncpg.Record, via: Literal["token", "session"]) -> AuthSubject:
    return AuthSubject(row["tenant_id"], row["name"], row["time_zone"], row["account_id"], row["email"],
                       row["account_name"], via)  # fmt: skip


async def subject_for_token(pool: asyncpg.Pool, token: str) -> AuthSubject | None:
    """The subject of an API token; notes its use at most once a minute (not a write per request)."""
    row = await pool.fetchrow(
        f"WITH hit AS (SELECT {_SUBJECT_COLUMNS} FROM gateway.api_tokens k "
        "  JOIN gateway.tenants t USING (tenant_id) "
        "  LEFT JOIN gateway.accounts a ON a.account_id = k.account_id "
        "  WHERE k.token_sha256 = $1 AND a.disabled_at IS NULL), "
        "touch AS (UPDATE gateway.api_tokens SET last_used_at = now() WHERE token_sha256 = $1 "
        "  AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute') "
        "  AND EXISTS (SELECT 1 FROM hit)) "
        "SELECT * FROM hit",
        token_digest(token),
    )  # fmt: skip
    return _subject(row, "token") if row else None


async def subject_for_session(pool: asyncpg.Pool, session_id: str) -> AuthSubject | None:
    row = await pool.fetchrow(
        f"SELECT {_SUBJECT_COLUMNS} FROM gateway.browser_sessions s "
        "JOIN gateway.tenants t USING (tenant_id) "
        "LEFT JOIN gateway.accounts a ON a.account_id = s.account_id "
        "WHERE s.session_sha256 = $1 AND s.expires_at > now() AND a.disabled_at IS NULL",
        token_digest(session_id),
    )  # fmt: skip
    return _subject(row, "session") if row else None


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def site_origin(request: Request) -> str:
    """Our own origin as the browser sees it: `ATELIER_PUBLIC_ORIGIN` behind a proxy, else the request's."""
    public = getattr(request.app.state.runtime.settings, "public_origin", None)
    return public or f"{request.url.scheme}://{request.url.netloc}"


def csrf_refusal(request: Request) -> str | None:
    return csrf.refusal(
        request.method, request.headers.get("origin"), request.headers.get("referer"), site_origin(request)
    )


async def authenticate(request: Request) -> AuthSubject:
    runtime = request.app.state.runtime  # its pool only once there is a credential to look up
    token = bearer_token(request)
    if token is not None:
        subject = await subject_for_token(runtime.pool, token)
        if subject is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "invalid API token", headers={"WWW-Authenticate": "Bearer"}
            )
        return subject
    session_id = request.cookies.get(COOKIE)
    subject = await subject_for_session(runtime.pool, session_id) if session_id else None
    if subject is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid API token" if session_id is None else "session expired or signed out",
            headers={"WWW-Authenticate": "Bearer"},
        )
    refusal = csrf_refusal(request)
    if refusal is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, refusal)
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
            "INSERT INTO gateway.api_tokens (token_sha256, tenant_id, label, prefix) VALUES ($1, $2, 'demo', $3) "
            "ON CONFLICT (token_sha256) DO NOTHING",
            token_digest(token), tenant_id, token[:TOKEN_PREFIX_LENGTH],
        )  # fmt: skip
    return tenant_id
