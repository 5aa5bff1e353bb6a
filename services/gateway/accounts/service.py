"""The rules of accounts: signing up, signing in (with its slow-down), sessions, tokens, and the
operator's commands (`atelier admin`). Routes (endpoints.py) and the admin command call these;
neither writes SQL of its own.

Choices where the issue is silent:
- An account owns one workspace, made with it and named after its email (emails are unique, so
  workspace names are too); the demo tenant and tenants made by tests have tokens and no account.
- A browser session lasts `ATELIER_SESSION_DAYS` (30) from sign-in, fixed: no write per request,
  and a stolen cookie stops working at a known time.
- Resetting a password signs the account out of every browser (whoever knew the old password is
  out) and keeps its API tokens (scripts keep running; revoke them by hand, or disable the account).
- Disabling an account ends its sessions and stops its tokens at once (the lookups join the account).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from services.gateway.accounts import passwords, repository, slowdown
from services.gateway.auth import AuthSubject, new_session_id, new_token


class EmailTaken(Exception):
    """The email already has an account (the caller says no more than that)."""


class WeakPassword(ValueError):
    pass


class BadCredentials(Exception):
    pass


class SlowDown(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Account:
    account_id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    name: str


def normalise_email(email: str) -> str:
    """Kept as typed (trimmed); compared without case, by the unique index on lower(email)."""
    return email.strip()


async def create_account(pool: asyncpg.Pool, email: str, name: str, password: str) -> Account:
    email = normalise_email(email)
    problem = passwords.weakness(password, email)
    if problem is not None:
        raise WeakPassword(f"password {problem}")
    password_hash = await asyncio.to_thread(passwords.hash_password, password)
    account = Account(uuid.uuid4(), uuid.uuid4(), email, name.strip())
    try:
        async with pool.acquire() as conn, conn.transaction():
            await repository.insert_tenant(conn, account.tenant_id, email.lower())
            await repository.insert_account(conn, account.account_id, account.tenant_id, email, account.name,
                                            password_hash)  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise EmailTaken from None
    return account


async def check_password(pool: asyncpg.Pool, email: str, password: str, address: str,
                         policy: slowdown.Policy) -> Account:  # fmt: skip
    """The account these credentials open, or `BadCredentials`; `SlowDown` before even looking
    while this email or address must wait (see slowdown.py)."""
    email = normalise_email(email)
    wait, stamp = await slowdown.begin_attempt(pool, email, address, policy)
    if stamp is None:
        raise SlowDown(wait)
    row = await repository.account_by_email(pool, email)
    # an unknown email costs the same hashing as a wrong password: the time does not say which
    stored = row["password_hash"] if row is not None else passwords.DUMMY_HASH
    ok = await asyncio.to_thread(passwords.verify_password, stored, password)
    if row is None or not ok or row["disabled_at"] is not None:
        raise BadCredentials  # the attempt stays counted as a failure
    await slowdown.succeeded(pool, email, address, stamp)
    return Account(row["account_id"], row["tenant_id"], row["email"], row["name"])


async def subject_of(pool: asyncpg.Pool, account: Account) -> AuthSubject:
    """The subject a browser session of this account will be (its workspace's name and time zone)."""
    tenant = await repository.tenant(pool, account.tenant_id)
    return AuthSubject(account.tenant_id, tenant["name"], tenant["time_zone"], account.account_id, account.email,
                       account.name, "session")  # fmt: skip


async def start_session(pool: asyncpg.Pool, tenant_id: uuid.UUID, account_id: uuid.UUID | None,
                        lifetime: timedelta) -> str:  # fmt: skip
    """A new browser session; returns its id, which only the cookie will hold."""
    session_id = new_session_id()
    await repository.insert_session(pool, session_id, tenant_id, account_id, lifetime)
    await repository.prune_sessions(pool)
    return session_id


async def end_session(pool: asyncpg.Pool, session_id: str) -> None:
    await repository.delete_session(pool, session_id)


async def create_token(pool: asyncpg.Pool, subject: AuthSubject, label: str) -> tuple[str, asyncpg.Record]:
    token = new_token()
    return token, await repository.insert_token(pool, subject, token, label)


async def list_tokens(pool: asyncpg.Pool, subject: AuthSubject) -> list[asyncpg.Record]:
    return await repository.tokens(pool, subject)


async def revoke_token(pool: asyncpg.Pool, subject: AuthSubject, token_id: uuid.UUID) -> bool:
    return await repository.delete_token(pool, subject, token_id)


# the operator's side (`atelier admin`)


class NoSuchAccount(LookupError):
    pass


async def list_accounts(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await repository.accounts(pool)


async def reset_password(pool: asyncpg.Pool, email: str, password: str | None = None) -> str:
    """Set a new password (a random one when none is given) and end the account's browser sessions;
    returns the password set."""
    row = await repository.account_by_email(pool, email)
    if row is None:
        raise NoSuchAccount(email)
    if password is None:
        password = secrets.token_urlsafe(15)
    problem = passwords.weakness(password, row["email"])
    if problem is not None:
        raise WeakPassword(f"password {problem}")
    password_hash = await asyncio.to_thread(passwords.hash_password, password)
    async with pool.acquire() as conn, conn.transaction():
        await repository.set_password_hash(conn, row["account_id"], password_hash)
        await repository.delete_sessions_of(conn, row["account_id"])
    await slowdown.clear(pool, email)
    return password


async def workspace_of(pool: asyncpg.Pool, email: str) -> uuid.UUID:
    """The workspace (tenant) of the account with this email (any case)."""
    row = await repository.account_by_email(pool, email)
    if row is None:
        raise NoSuchAccount(email)
    return uuid.UUID(str(row["tenant_id"]))


async def disable_account(pool: asyncpg.Pool, email: str) -> None:
    row = await repository.account_by_email(pool, email)
    if row is None:
        raise NoSuchAccount(email)
    async with pool.acquire() as conn, conn.transaction():
        await repository.disable(conn, row["account_id"])
        await repository.delete_sessions_of(conn, row["account_id"])
