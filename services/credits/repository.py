"""SQL for the credits schema. Every function runs inside the caller's transaction (`conn`), so a state
change, its ledger entries and its events (the outbox) commit together or not at all.

Concurrency, in short: a tenant's balances live in one `wallets` row; every change to them is one
conditional UPDATE of that row (`available >= n` in the WHERE for anything that spends), so
concurrent requests queue on the row lock and each sees the balance the previous one left. A
reservation resolves by one `UPDATE ... WHERE status = 'pending'`: the row count says who won, so a
settle racing a release, or two reapers, resolve it once. Locks are always taken reservation first,
wallet second, and several wallets in tenant order, so two transactions never wait on each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from libs.common.events import (
    CreditsExpired,
    CreditsGranted,
    CreditsReleased,
    CreditsReserved,
    CreditsSettled,
    Event,
    Payload,
)
from libs.common.outbox import add_to_outbox
from services.credits import domain
from services.credits.domain import Balances, Entry, Kind, ReservationRequest, Status

SCHEMA = "credits"


class Insufficient(Exception):
    """Not enough available credits; raised so the caller's transaction rolls back whatever it began
    (an idempotency key claimed, an account opened): a refusal stores nothing."""

    def __init__(self, balances: Balances) -> None:
        super().__init__(f"available {balances.available}")
        self.balances = balances


class KeyRaced(Exception):
    """Another transaction claimed the same idempotency key between our look and our insert: the caller
    rolls back and runs the request again, which then finds the winner's answer."""


@dataclass(frozen=True)
class Reservation:
    reservation_id: uuid.UUID
    tenant_id: uuid.UUID
    idempotency_key: str
    credits: int
    purpose: str
    ttl_seconds: int
    status: Status
    settled_credits: int | None
    created_at: datetime
    expires_at: datetime
    resolved_at: datetime | None

    @classmethod
    def of(cls, row: asyncpg.Record) -> Reservation:
        return cls(
            reservation_id=row["reservation_id"],
            tenant_id=row["tenant_id"],
            idempotency_key=row["idempotency_key"],
            credits=row["credits"],
            purpose=row["purpose"],
            ttl_seconds=row["ttl_seconds"],
            status=Status(row["status"]),
            settled_credits=row["settled_credits"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            resolved_at=row["resolved_at"],
        )

    @property
    def request(self) -> ReservationRequest:
        return ReservationRequest(self.credits, self.purpose, self.ttl_seconds)

    def as_json(self) -> dict[str, Any]:
        return {
            "reservation_id": str(self.reservation_id),
            "tenant_id": str(self.tenant_id),
            "status": self.status.value,
            "credits": self.credits,
            "settled_credits": self.settled_credits,
            "purpose": self.purpose,
            "expires_at": self.expires_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
        }


_RESERVATION_COLUMNS = (
    "reservation_id, tenant_id, idempotency_key, credits, purpose, ttl_seconds, status, settled_credits,"
    " created_at, expires_at, resolved_at"
)


async def _emit(conn: asyncpg.Connection, tenant_id: uuid.UUID, payload: Payload) -> None:
    await add_to_outbox(conn, SCHEMA, [Event.of(payload, tenant_id=tenant_id)])


async def write_transfer(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    kind: Kind,
    credits: int,
    entries: Sequence[Entry],
    *,
    reservation_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> int:
    """One transfer and its entries, in one round trip; returns the transfer id. The entries are
    checked to balance here (domain.balanced) and again by the database when the transaction commits."""
    entries = domain.balanced(entries)
    return await conn.fetchval(
        """
        WITH t AS (
            INSERT INTO credits.transfers (tenant_id, kind, credits, reservation_id, reason)
            VALUES ($1, $2, $3, $4, $5) RETURNING transfer_id
        ), e AS (
            INSERT INTO credits.entries (transfer_id, tenant_id, account, amount)
            SELECT t.transfer_id, $1, u.account, u.amount
            FROM t, unnest($6::text[], $7::bigint[]) AS u(account, amount)
        )
        SELECT transfer_id FROM t
        """,
        tenant_id,
        kind.value,
        abs(credits),
        reservation_id,
        reason,
        [e.account.value for e in entries],
        [e.amount for e in entries],
    )


# -- accounts ------------------------------------------------------------------------------------
async def read_balances(conn: asyncpg.Connection, tenant_id: uuid.UUID) -> Balances | None:
    row = await conn.fetchrow("SELECT available, held FROM credits.wallets WHERE tenant_id = $1", tenant_id)
    return Balances(row["available"], row["held"]) if row else None


async def _move_or_refuse(conn: asyncpg.Connection, tenant_id: uuid.UUID, entries: list[Any]) -> Balances:
    """After a conditional move found too little: lock the wallet and decide again under the lock, so a
    refusal reports the very balances it was refused on. (Between the failed UPDATE and a plain read, a
    release or an expiry elsewhere could commit: the 402 would then say "available 180" to a request
    for 102.) Enough now: the move, which the lock lets through; still too little: `Insufficient`."""
    row = await conn.fetchrow(
        "SELECT available, held FROM credits.wallets WHERE tenant_id = $1 FOR UPDATE", tenant_id
    )
    assert row is not None
    moved = await _move(conn, tenant_id, entries)
    if moved is None:
        raise Insufficient(Balances(row["available"], row["held"]))
    return moved


async def open_account(conn: asyncpg.Connection, tenant_id: uuid.UUID, starting_grant: int) -> bool:
    """Open the tenant's account with the starting grant, once whatever the races: the INSERT's
    ON CONFLICT makes a second opener wait for the first and then do nothing. True if we opened it."""
    row = await conn.fetchrow(
        "INSERT INTO credits.wallets (tenant_id, available) VALUES ($1, $2)"
        " ON CONFLICT (tenant_id) DO NOTHING RETURNING available, held",
        tenant_id,
        starting_grant,
    )
    if row is None:
        return False
    if starting_grant > 0:
        await write_transfer(
            conn, tenant_id, Kind.GRANT, starting_grant, domain.issue(starting_grant), reason="starting grant"
        )
        await _emit(
            conn,
            tenant_id,
            CreditsGranted(
                credits=starting_grant,
                source="starting_grant",
                reason="starting grant",
                available=row["available"],
                reserved=row["held"],
            ),
        )
    return True


async def account(conn: asyncpg.Connection, tenant_id: uuid.UUID, starting_grant: int) -> Balances:
    """The tenant's balances, opening the account on first use."""
    balances = await read_balances(conn, tenant_id)
    if balances is None:
        await open_account(conn, tenant_id, starting_grant)
        balances = await read_balances(conn, tenant_id)
    assert balances is not None
    return balances


async def _move(conn: asyncpg.Connection, tenant_id: uuid.UUID, entries: Sequence[Entry]) -> Balances | None:
    """Apply entries to the wallet row in one conditional UPDATE; None when it would go below zero
    (nothing changed then). The row lock it takes is what serializes a tenant's changes."""
    d_available = sum(e.amount for e in entries if e.account is domain.Account.AVAILABLE)
    d_held = sum(e.amount for e in entries if e.account is domain.Account.HELD)
    row = await conn.fetchrow(
        "UPDATE credits.wallets SET available = available + $2, held = held + $3, updated_at = now()"
        " WHERE tenant_id = $1 AND available + $2 >= 0 AND held + $3 >= 0 RETURNING available, held",
        tenant_id,
        d_available,
        d_held,
    )
    return Balances(row["available"], row["held"]) if row else None


# -- reservations --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reserved:
    reservation: Reservation  # the new one, or the key's earlier one
    outcome: str  # "created", "replayed" (same key, same request) or "conflict" (same key, other request)


async def find_reservation(conn: asyncpg.Connection, reservation_id: uuid.UUID) -> Reservation | None:
    row = await conn.fetchrow(
        f"SELECT {_RESERVATION_COLUMNS} FROM credits.reservations WHERE reservation_id = $1", reservation_id
    )
    return Reservation.of(row) if row else None


async def reserve(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    key: str,
    req: ReservationRequest,
    starting_grant: int,
) -> Reserved:
    """Hold `req.credits` for `req.ttl_seconds`, or raise `Insufficient`. A refusal stores nothing
    under the key (TigerBeetle does not persist an `exceeds_credits` result either): after a purchase
    the same request can succeed. A key seen before answers with its reservation ("replayed") or, when
    the parameters differ, "conflict"."""
    row = await conn.fetchrow(
        f"SELECT {_RESERVATION_COLUMNS} FROM credits.reservations WHERE tenant_id = $1 AND idempotency_key = $2",
        tenant_id,
        key,
    )
    if row is not None:
        earlier = Reservation.of(row)
        return Reserved(earlier, "replayed" if domain.same_request(earlier.request, req) else "conflict")
    entries = domain.balanced(domain.reserve(req.credits))
    # the reservation, its transfer and entries in one round trip, before the wallet's row lock is
    # taken: the lock is then held only for the UPDATE, the outbox row and the commit, which is what
    # bounds the reservations per second of one hot account. A racing request with the same key waits
    # on the unique index here and then finds ours.
    row = await conn.fetchrow(
        f"""
        WITH r AS (
            INSERT INTO credits.reservations
                (reservation_id, tenant_id, idempotency_key, credits, purpose, ttl_seconds, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6::integer, now() + make_interval(secs => $6::integer))
            ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
            RETURNING {_RESERVATION_COLUMNS}
        ), t AS (
            INSERT INTO credits.transfers (tenant_id, kind, credits, reservation_id, reason)
            SELECT tenant_id, 'reservation', credits, reservation_id, purpose FROM r
            RETURNING transfer_id
        ), e AS (
            INSERT INTO credits.entries (transfer_id, tenant_id, account, amount)
            SELECT t.transfer_id, $2, u.account, u.amount
            FROM t, unnest($7::text[], $8::bigint[]) AS u(account, amount)
        )
        SELECT * FROM r
        """,
        uuid.uuid4(),
        tenant_id,
        key,
        req.credits,
        req.purpose,
        req.ttl_seconds,
        [e.account.value for e in entries],
        [e.amount for e in entries],
    )
    if row is None:
        raise KeyRaced(key)
    reservation = Reservation.of(row)
    balances = await _move(conn, tenant_id, entries)
    if balances is None:
        # no account yet, or not enough: open it (a no-op if it exists, or if a racing request
        # opened it: we waited for that one) and try once more; a refusal rolls all of it back
        await open_account(conn, tenant_id, starting_grant)
        balances = await _move_or_refuse(conn, tenant_id, entries)
    await _emit(
        conn,
        tenant_id,
        CreditsReserved(
            reservation_id=reservation.reservation_id,
            credits=req.credits,
            purpose=req.purpose,
            expires_at=reservation.expires_at,
            available=balances.available,
            reserved=balances.held,
        ),
    )
    return Reserved(reservation, "created")


@dataclass(frozen=True)
class Resolved:
    reservation: Reservation
    changed: bool  # False: it was resolved before (its status says how), nothing changed now
    settlement: domain.Settlement | None = None
    balances: Balances | None = None


class NotFound(Exception):
    pass


async def _resolve(
    conn: asyncpg.Connection, reservation_id: uuid.UUID, status: Status, settled: int | None
) -> Reservation | None:
    """The one conditional UPDATE that decides a reservation's fate: only a pending reservation that is
    not yet due, and (to settle) holds at least `settled`, changes; None otherwise."""
    row = await conn.fetchrow(
        f"""
        UPDATE credits.reservations SET status = $2, settled_credits = $3, resolved_at = now()
        WHERE reservation_id = $1 AND status = 'pending' AND expires_at > now()
          AND ($3::bigint IS NULL OR credits >= $3)
        RETURNING {_RESERVATION_COLUMNS}
        """,
        reservation_id,
        status.value,
        settled,
    )
    return Reservation.of(row) if row else None


async def _already(
    conn: asyncpg.Connection, reservation_id: uuid.UUID, settle_credits: int | None
) -> Resolved:
    """Why the conditional UPDATE changed nothing: unknown, resolved before, due (expire it now: the
    database's clock says its time is up, whatever the reaper has done so far), or a settle above the
    reservation (refused)."""
    row = await conn.fetchrow(
        f"SELECT {_RESERVATION_COLUMNS}, expires_at <= now() AS due FROM credits.reservations"
        " WHERE reservation_id = $1 FOR UPDATE",
        reservation_id,
    )
    if row is None:
        raise NotFound(str(reservation_id))
    reservation = Reservation.of(row)
    if reservation.status is Status.PENDING:
        if row["due"]:
            expired = await expire_one(conn, reservation_id)
            return Resolved(expired or reservation, changed=False)
        if settle_credits is not None:
            domain.settle(reservation.credits, settle_credits)  # raises SettleRefused
        # a pending row the UPDATE skipped that is neither due nor over-settled: cannot happen
        raise AssertionError(f"reservation {reservation_id} pending but not resolvable")
    return Resolved(reservation, changed=False)


async def settle(conn: asyncpg.Connection, reservation_id: uuid.UUID, credits: int) -> Resolved:
    """Settle `credits` (at most the reserved amount); the rest goes back to `available` at once."""
    if credits < 0:
        raise domain.SettleRefused(f"cannot settle a negative amount ({credits})")
    reservation = await _resolve(conn, reservation_id, Status.SETTLED, credits)
    if reservation is None:
        return await _already(conn, reservation_id, credits)
    settlement = domain.settle(reservation.credits, credits)
    await write_transfer(
        conn,
        reservation.tenant_id,
        Kind.SETTLEMENT,
        credits,
        settlement.entries,
        reservation_id=reservation_id,
    )
    balances = await _move(conn, reservation.tenant_id, settlement.entries)
    assert balances is not None, "held credits are always there to settle"
    await _emit(
        conn,
        reservation.tenant_id,
        CreditsSettled(
            reservation_id=reservation_id,
            reserved_credits=settlement.reserved,
            settled_credits=settlement.settled,
            released_credits=settlement.freed,
            available=balances.available,
            reserved=balances.held,
        ),
    )
    return Resolved(reservation, changed=True, settlement=settlement, balances=balances)


async def release(conn: asyncpg.Connection, reservation_id: uuid.UUID, reason: str | None = None) -> Resolved:
    reservation = await _resolve(conn, reservation_id, Status.RELEASED, None)
    if reservation is None:
        return await _already(conn, reservation_id, None)
    entries = domain.release(reservation.credits)
    await write_transfer(
        conn,
        reservation.tenant_id,
        Kind.RELEASE,
        reservation.credits,
        entries,
        reservation_id=reservation_id,
        reason=reason,
    )
    balances = await _move(conn, reservation.tenant_id, entries)
    assert balances is not None
    await _emit(
        conn,
        reservation.tenant_id,
        CreditsReleased(
            reservation_id=reservation_id,
            credits=reservation.credits,
            reason=reason,
            available=balances.available,
            reserved=balances.held,
        ),
    )
    return Resolved(reservation, changed=True, balances=balances)


async def _expire_rows(conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> list[Reservation]:
    """Ledger, wallets and events for reservations just marked expired; wallets in tenant order."""
    expired = sorted((Reservation.of(r) for r in rows), key=lambda r: (str(r.tenant_id), r.reservation_id))
    for reservation in expired:
        entries = domain.release(reservation.credits)
        await write_transfer(
            conn,
            reservation.tenant_id,
            Kind.EXPIRY,
            reservation.credits,
            entries,
            reservation_id=reservation.reservation_id,
        )
        balances = await _move(conn, reservation.tenant_id, entries)
        assert balances is not None
        await _emit(
            conn,
            reservation.tenant_id,
            CreditsExpired(
                reservation_id=reservation.reservation_id,
                credits=reservation.credits,
                expires_at=reservation.expires_at,
                available=balances.available,
                reserved=balances.held,
            ),
        )
    return expired


async def expire_one(conn: asyncpg.Connection, reservation_id: uuid.UUID) -> Reservation | None:
    rows = await conn.fetch(
        f"""
        UPDATE credits.reservations SET status = 'expired', resolved_at = now()
        WHERE reservation_id = $1 AND status = 'pending' AND expires_at <= now()
        RETURNING {_RESERVATION_COLUMNS}
        """,
        reservation_id,
    )
    expired = await _expire_rows(conn, rows)
    return expired[0] if expired else None


async def expire_due(conn: asyncpg.Connection, limit: int) -> tuple[list[Reservation], list[float]]:
    """The reaper's step: expire up to `limit` pending reservations past `expires_at` by the database's
    clock. SKIP LOCKED lets replicas share the work; the `status = 'pending'` in the UPDATE means a
    reservation settled meanwhile is left alone. Returns them and how late each was expired (seconds)."""
    rows = await conn.fetch(
        f"""
        WITH due AS (
            SELECT reservation_id FROM credits.reservations
            WHERE status = 'pending' AND expires_at <= now()
            ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        UPDATE credits.reservations r SET status = 'expired', resolved_at = now()
        FROM due WHERE r.reservation_id = due.reservation_id AND r.status = 'pending'
        RETURNING {", ".join("r." + c.strip() for c in _RESERVATION_COLUMNS.split(","))},
                  extract(epoch FROM now() - r.expires_at)::float8 AS lag
        """,
        limit,
    )
    lags = [r["lag"] for r in rows]
    return await _expire_rows(conn, rows), lags


async def overdue_seconds(conn: asyncpg.Connection) -> float:
    """How far behind the reaper is: the age of the oldest pending reservation past its time (0 if none)."""
    value = await conn.fetchval(
        "SELECT extract(epoch FROM now() - min(expires_at))::float8 FROM credits.reservations"
        " WHERE status = 'pending' AND expires_at <= now()"
    )
    return float(value or 0.0)


# -- grants and purchases ------------------------------------------------------------------------
@dataclass(frozen=True)
class Grant:
    grant_id: uuid.UUID
    tenant_id: uuid.UUID
    credits: int
    reason: str
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "grant_id": str(self.grant_id),
            "tenant_id": str(self.tenant_id),
            "credits": self.credits,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
        }


async def grant(
    conn: asyncpg.Connection,
    tenant_id: uuid.UUID,
    credits: int,
    reason: str,
    key: str,
    starting_grant: int,
) -> tuple[str, Grant | None, Balances | None]:
    """Add credits (or take them back: an adjustment; `Insufficient` below zero). Returns (outcome,
    grant, balances) with outcome "created", "replayed" or "conflict"."""
    row = await conn.fetchrow(
        "SELECT grant_id, tenant_id, credits, reason, created_at FROM credits.grants"
        " WHERE tenant_id = $1 AND idempotency_key = $2",
        tenant_id,
        key,
    )
    if row is not None:
        earlier = Grant(**dict(row))
        same = earlier.credits == credits and earlier.reason == reason
        return ("replayed" if same else "conflict", earlier, None)
    await open_account(conn, tenant_id, starting_grant)
    row = await conn.fetchrow(
        "INSERT INTO credits.grants (grant_id, tenant_id, idempotency_key, credits, reason)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, idempotency_key) DO NOTHING"
        " RETURNING grant_id, tenant_id, credits, reason, created_at",
        uuid.uuid4(),
        tenant_id,
        key,
        credits,
        reason,
    )
    if row is None:
        raise KeyRaced(key)
    new = Grant(**dict(row))
    entries = domain.issue(credits)
    balances = await _move(conn, tenant_id, entries)
    if balances is None:
        balances = await _move_or_refuse(conn, tenant_id, entries)
    kind = Kind.GRANT if credits > 0 else Kind.ADJUSTMENT
    transfer_id = await write_transfer(conn, tenant_id, kind, credits, entries, reason=reason)
    await conn.execute(
        "UPDATE credits.grants SET transfer_id = $2 WHERE grant_id = $1", new.grant_id, transfer_id
    )
    await _emit(
        conn,
        tenant_id,
        CreditsGranted(
            credits=credits,
            source="grant" if credits > 0 else "adjustment",
            reason=reason,
            reference=str(new.grant_id),
            available=balances.available,
            reserved=balances.held,
        ),
    )
    return ("created", new, balances)


@dataclass(frozen=True)
class PurchaseFacts:
    provider: str
    event_id: str
    tenant_id: uuid.UUID
    pack: str
    credits: int
    amount_minor: int | None
    currency: str | None
    checkout_id: str | None


async def record_purchase(conn: asyncpg.Connection, facts: PurchaseFacts, starting_grant: int) -> bool:
    """Credit a paid pack once per provider event id: a replay (or a racing duplicate delivery, which
    waits on the primary key) finds the row and changes nothing. True if credited now."""
    inserted = await conn.fetchval(
        "INSERT INTO credits.purchases (provider, provider_event_id, tenant_id, pack, credits,"
        " amount_minor, currency, checkout_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (provider, provider_event_id) DO NOTHING RETURNING true",
        facts.provider,
        facts.event_id,
        facts.tenant_id,
        facts.pack,
        facts.credits,
        facts.amount_minor,
        facts.currency,
        facts.checkout_id,
    )
    if not inserted:
        return False
    await open_account(conn, facts.tenant_id, starting_grant)
    entries = domain.issue(facts.credits)
    balances = await _move(conn, facts.tenant_id, entries)
    assert balances is not None
    reason = f"purchase: {facts.pack} pack"
    transfer_id = await write_transfer(
        conn, facts.tenant_id, Kind.PURCHASE, facts.credits, entries, reason=reason
    )
    await conn.execute(
        "UPDATE credits.purchases SET transfer_id = $3 WHERE provider = $1 AND provider_event_id = $2",
        facts.provider,
        facts.event_id,
        transfer_id,
    )
    await _emit(
        conn,
        facts.tenant_id,
        CreditsGranted(
            credits=facts.credits,
            source="purchase",
            reason=reason,
            reference=facts.event_id,
            available=balances.available,
            reserved=balances.held,
        ),
    )
    return True


# -- the ledger ----------------------------------------------------------------------------------
async def ledger_page(
    conn: asyncpg.Connection, tenant_id: uuid.UUID, before: int | None, limit: int
) -> list[dict[str, Any]]:
    """The tenant's entries (its own two accounts), newest first, after the keyset cursor `before`."""
    rows = await conn.fetch(
        """
        SELECT e.entry_id, e.transfer_id, e.account, e.amount, e.created_at, t.kind, t.reason, t.reservation_id
        FROM credits.entries e JOIN credits.transfers t USING (transfer_id)
        WHERE e.tenant_id = $1 AND e.account IN ('available', 'held')
          AND ($2::bigint IS NULL OR e.entry_id < $2)
        ORDER BY e.entry_id DESC LIMIT $3
        """,
        tenant_id,
        before,
        limit,
    )
    return [
        {
            "entry_id": r["entry_id"],
            "transfer_id": r["transfer_id"],
            "account": r["account"],
            "credits": r["amount"],
            "kind": r["kind"],
            "reason": r["reason"],
            "reservation_id": str(r["reservation_id"]) if r["reservation_id"] else None,
            "created_at": r["created_at"].isoformat(),
        }
        for r in rows
    ]


# -- reconciliation ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reconciliation:
    wallets: int  # accounts checked
    mismatched: list[dict[str, Any]]  # wallets whose stored balances differ from their entries
    unbalanced_transfers: list[int]
    ledger_total: int  # the sum of every entry: 0
    resolved_twice: list[str]  # reservations with more than one resolving transfer

    @property
    def ok(self) -> bool:
        return (
            not self.mismatched
            and not self.unbalanced_transfers
            and self.ledger_total == 0
            and not (self.resolved_twice)
        )


async def reconcile(pool: asyncpg.Pool) -> Reconciliation:
    """Check the stored balances against the ledger, in one snapshot (REPEATABLE READ): each wallet's
    `available` and `held` equal the sums of their entries, `held` equals the tenant's pending
    reservations, every transfer balances, the whole ledger sums to zero, and no reservation was
    resolved twice."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        mismatched = await conn.fetch(
            """
            WITH sums AS (
                SELECT tenant_id,
                       coalesce(sum(amount) FILTER (WHERE account = 'available'), 0) AS available,
                       coalesce(sum(amount) FILTER (WHERE account = 'held'), 0) AS held
                FROM credits.entries GROUP BY tenant_id
            ), pending AS (
                SELECT tenant_id, sum(credits) AS held FROM credits.reservations
                WHERE status = 'pending' GROUP BY tenant_id
            )
            SELECT w.tenant_id, w.available, w.held,
                   coalesce(s.available, 0) AS ledger_available, coalesce(s.held, 0) AS ledger_held,
                   coalesce(p.held, 0) AS pending_held
            FROM credits.wallets w
            LEFT JOIN sums s USING (tenant_id) LEFT JOIN pending p USING (tenant_id)
            WHERE w.available <> coalesce(s.available, 0) OR w.held <> coalesce(s.held, 0)
               OR w.held <> coalesce(p.held, 0)
            """
        )
        wallets = await conn.fetchval("SELECT count(*) FROM credits.wallets")
        unbalanced = await conn.fetch(
            "SELECT transfer_id FROM credits.entries GROUP BY transfer_id HAVING sum(amount) <> 0 LIMIT 100"
        )
        total = await conn.fetchval("SELECT coalesce(sum(amount), 0) FROM credits.entries")
        twice = await conn.fetch(
            "SELECT reservation_id FROM credits.transfers WHERE kind IN ('settlement', 'release', 'expiry')"
            " GROUP BY reservation_id HAVING count(*) > 1 LIMIT 100"
        )
    return Reconciliation(
        wallets=wallets,
        mismatched=[
            {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in r.items()} for r in mismatched
        ],
        unbalanced_transfers=[r["transfer_id"] for r in unbalanced],
        ledger_total=int(total),
        resolved_twice=[str(r["reservation_id"]) for r in twice],
    )
