"""How long a sign-in that keeps failing must wait: the pure rule, and its counts in PostgreSQL.

Failures are counted per account (its email) and per client address over a window (15 minutes).
Up to a threshold (5 for an email, 20 for an address, which many people may share behind one
NAT) nothing changes; from there each further failure doubles the wait before the next attempt,
counted from the last failure and capped at the window: 30 s, 60 s, 120 s, ... 900 s. During
the wait every attempt is answered 429 with `Retry-After`, a right password included (otherwise
the wait would tell a guesser when it found the password), and that attempt is not verified at
all, so a guesser gets no answer and costs us no hashing. A successful sign-in clears its email's
count (not its address's: one account a guesser owns must not reset the count for the others).

The counts live in PostgreSQL (`gateway.sign_in_failures`), so every gateway replica agrees;
rows older than the window are deleted as new failures are written.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg


@dataclass(frozen=True)
class Policy:
    window: timedelta = timedelta(minutes=15)
    per_email: int = 5
    per_address: int = 20
    first_wait_seconds: float = 30.0


def wait_seconds(failures: int, last_failure: datetime | None, now: datetime, *, threshold: int,
                 policy: Policy) -> int:  # fmt: skip
    """Seconds still to wait before the next attempt (0: go ahead), after `failures` failures in
    the window, the last at `last_failure`."""
    if failures < threshold or last_failure is None:
        return 0
    cap = policy.window.total_seconds()
    wait = min(cap, policy.first_wait_seconds * 2 ** min(failures - threshold, 32))
    left = wait - (now - last_failure).total_seconds()
    return max(0, math.ceil(left))


def email_key(email: str) -> str:
    return f"email:{email.strip().lower()}"


def address_key(address: str) -> str:
    """An IPv4 address counts alone; an IPv6 one by its /64, the block a single subscriber usually
    gets (counting each of its 2^64 addresses apart would let one guesser never be slowed)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"address:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:203.0.113.9 is 203.0.113.9
            return f"address:{ip.ipv4_mapped}"
        return f"address:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"address:{ip}"


async def _retry_after(conn: asyncpg.Connection, keys: list[str], policy: Policy) -> int:
    rows = await conn.fetch(
        "SELECT subject, count(*) AS failures, max(failed_at) AS last, clock_timestamp() AS now "
        "FROM gateway.sign_in_failures WHERE subject = ANY($1::text[]) AND failed_at > now() - $2::interval "
        "GROUP BY subject",
        keys, policy.window,
    )  # fmt: skip
    waits = [0]
    for row in rows:
        threshold = policy.per_email if row["subject"].startswith("email:") else policy.per_address
        waits.append(
            wait_seconds(row["failures"], row["last"], row["now"], threshold=threshold, policy=policy)
        )
    return max(waits)


async def begin_attempt(
    pool: asyncpg.Pool, email: str, address: str, policy: Policy
) -> tuple[int, datetime | None]:
    """Claim one sign-in attempt: `(seconds to wait, None)` when it must wait, else `(0, stamp)`.

    The attempt is written down as a failure *before* the password is checked (and taken back by
    `succeeded`), under a lock on its email and address held only for this short transaction: so
    parallel attempts see each other, and a burst of a thousand requests sent the moment a wait ends
    gets no more guesses than one request at a time would. Checking first and recording after the
    (slow) password check would let all of them through."""
    keys = sorted([email_key(email), address_key(address)])
    async with pool.acquire() as conn, conn.transaction():
        for key in keys:  # always in the same order: two attempts never wait on each other's second lock
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", key)
        wait = await _retry_after(conn, keys, policy)
        if wait > 0:
            return wait, None
        # rows past the window count for nothing: drop a few each time, whoever they belong to
        await conn.execute(
            "DELETE FROM gateway.sign_in_failures WHERE ctid = ANY(ARRAY(SELECT ctid FROM gateway.sign_in_failures "
            "WHERE failed_at <= now() - $1::interval LIMIT 100))",
            policy.window,
        )  # fmt: skip
        stamp: datetime = await conn.fetchval(
            "INSERT INTO gateway.sign_in_failures (subject, failed_at) "
            "SELECT unnest($1::text[]), clock_timestamp() RETURNING failed_at",
            keys,
        )
    return 0, stamp


async def succeeded(pool: asyncpg.Pool, email: str, address: str, stamp: datetime) -> None:
    """The attempt was right: its email starts afresh; its address keeps its other failures."""
    await pool.execute(
        "DELETE FROM gateway.sign_in_failures WHERE subject = $1 OR (subject = $2 AND failed_at = $3)",
        email_key(email), address_key(address), stamp,
    )  # fmt: skip


async def clear(pool: asyncpg.Pool, email: str) -> None:
    await pool.execute("DELETE FROM gateway.sign_in_failures WHERE subject = $1", email_key(email))
