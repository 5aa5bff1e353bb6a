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
    return f"address:{address}"


async def retry_after(pool: asyncpg.Pool, email: str, address: str, policy: Policy) -> int:
    """Seconds this sign-in must still wait (0: it may be tried)."""
    rows = await pool.fetch(
        "SELECT subject, count(*) AS failures, max(failed_at) AS last, now() AS now "
        "FROM gateway.sign_in_failures WHERE subject = ANY($1::text[]) AND failed_at > now() - $2::interval "
        "GROUP BY subject",
        [email_key(email), address_key(address)], policy.window,
    )  # fmt: skip
    waits = [0]
    for row in rows:
        threshold = policy.per_email if row["subject"].startswith("email:") else policy.per_address
        waits.append(
            wait_seconds(row["failures"], row["last"], row["now"], threshold=threshold, policy=policy)
        )
    return max(waits)


async def record_failure(pool: asyncpg.Pool, email: str, address: str, policy: Policy) -> None:
    keys = [email_key(email), address_key(address)]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "DELETE FROM gateway.sign_in_failures WHERE subject = ANY($1::text[]) AND failed_at <= now() - $2::interval",
            keys, policy.window,
        )  # fmt: skip
        await conn.execute("INSERT INTO gateway.sign_in_failures (subject) SELECT unnest($1::text[])", keys)


async def clear(pool: asyncpg.Pool, email: str) -> None:
    await pool.execute("DELETE FROM gateway.sign_in_failures WHERE subject = $1", email_key(email))
