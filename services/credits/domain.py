"""Credit rules with no I/O: what each change writes to the ledger, what a settlement frees, when an
idempotency key is a retry and when it is a reuse. The repository turns these into SQL; the unit
tests call them directly.

Sign convention: an entry's amount is what it adds to its account. A tenant's `available` and `held`
accounts never go below zero; the system accounts `issuance` (negative by all ever issued) and `spent`
may hold anything. Every transfer's entries sum to zero, so no change creates or loses a credit.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class Account(enum.StrEnum):
    AVAILABLE = "available"  # the tenant's: what it may spend now
    HELD = "held"  # the tenant's: reserved by pending reservations
    ISSUANCE = "issuance"  # system: where granted and purchased credits come from
    SPENT = "spent"  # system: where settled credits go


TENANT_ACCOUNTS = frozenset({Account.AVAILABLE, Account.HELD})


class Kind(enum.StrEnum):
    GRANT = "grant"
    PURCHASE = "purchase"
    RESERVATION = "reservation"
    SETTLEMENT = "settlement"
    RELEASE = "release"
    EXPIRY = "expiry"
    ADJUSTMENT = "adjustment"


class Status(enum.StrEnum):
    PENDING = "pending"
    SETTLED = "settled"
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Entry:
    account: Account
    amount: int


class Unbalanced(ValueError):
    """Entries that do not sum to zero: a bug, never written."""


class SettleRefused(ValueError):
    """A settlement the reservation cannot take (more than reserved, or negative)."""


def balanced(entries: Iterable[Entry]) -> list[Entry]:
    """The entries without zero amounts, checked to sum to zero (raises `Unbalanced` otherwise)."""
    kept = [e for e in entries if e.amount != 0]
    total = sum(e.amount for e in kept)
    if total != 0:
        raise Unbalanced(f"entries sum to {total}: {kept}")
    return kept


def issue(credits: int) -> list[Entry]:
    """A grant or purchase (credits > 0), or an adjustment taking credits back (credits < 0)."""
    if credits == 0:
        raise ValueError("a grant of 0 credits changes nothing")
    return balanced([Entry(Account.ISSUANCE, -credits), Entry(Account.AVAILABLE, credits)])


def reserve(credits: int) -> list[Entry]:
    if credits <= 0:
        raise ValueError("a reservation holds at least one credit")
    return balanced([Entry(Account.AVAILABLE, -credits), Entry(Account.HELD, credits)])


@dataclass(frozen=True)
class Settlement:
    reserved: int
    settled: int  # moves to `spent`
    freed: int  # goes back to `available`

    @property
    def entries(self) -> list[Entry]:
        return balanced(
            [
                Entry(Account.HELD, -self.reserved),
                Entry(Account.SPENT, self.settled),
                Entry(Account.AVAILABLE, self.freed),
            ]
        )


def settle(reserved: int, credits: int) -> Settlement:
    """Settle `credits` of a reservation of `reserved`: at most what was reserved (TigerBeetle posts at
    most the pending amount), and the rest is freed in the same transfer, never left held."""
    if credits < 0:
        raise SettleRefused(f"cannot settle a negative amount ({credits})")
    if credits > reserved:
        raise SettleRefused(f"cannot settle {credits} credits: the reservation holds {reserved}")
    return Settlement(reserved=reserved, settled=credits, freed=reserved - credits)


def settle_capped(reserved: int, credits: int) -> Settlement:
    """What an outcome event settles: what it says, never above the reservation, never below zero."""
    return settle(reserved, max(0, min(credits, reserved)))


def release(reserved: int) -> list[Entry]:
    """A release or an expiry: everything held goes back."""
    return balanced([Entry(Account.HELD, -reserved), Entry(Account.AVAILABLE, reserved)])


@dataclass(frozen=True)
class Balances:
    """A tenant's two accounts; what the API reports."""

    available: int
    held: int

    @property
    def balance(self) -> int:
        """What the tenant owns: spendable plus reserved (reserved credits are theirs until settled)."""
        return self.available + self.held

    def apply(self, entries: Iterable[Entry]) -> Balances:
        available, held = self.available, self.held
        for e in entries:
            if e.account is Account.AVAILABLE:
                available += e.amount
            elif e.account is Account.HELD:
                held += e.amount
        return Balances(available, held)

    @property
    def valid(self) -> bool:
        return self.available >= 0 and self.held >= 0

    def as_json(self) -> dict[str, int]:
        return {"balance": self.balance, "reserved": self.held, "available": self.available}


def sums(entries: Iterable[Entry]) -> Mapping[Account, int]:
    """Each account's balance as the sum of its entries."""
    out: dict[Account, int] = dict.fromkeys(Account, 0)
    for e in entries:
        out[e.account] += e.amount
    return out


@dataclass(frozen=True)
class ReservationRequest:
    """The parameters an idempotency key is bound to: a retry repeats them all."""

    credits: int
    purpose: str
    ttl_seconds: int


def same_request(stored: ReservationRequest, incoming: ReservationRequest) -> bool:
    """A retry (answer with the stored reservation) or a reuse of the key for something else (409)."""
    return stored == incoming


def resolution_of(status: Status) -> str:
    """What a second settle or release is told about a reservation resolved before."""
    return {
        Status.PENDING: "still pending",
        Status.SETTLED: "already settled",
        Status.RELEASED: "already released",
        Status.EXPIRED: "already expired",
    }[status]
