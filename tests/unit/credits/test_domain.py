"""The credit rules alone: every change balances, a settlement never exceeds its reservation and frees
the rest, idempotency keys tell a retry from a reuse, and random sequences of changes keep a tenant's
accounts non-negative and the whole ledger at zero."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.credits import domain
from services.credits.domain import Account, Balances, Entry, ReservationRequest


def test_every_change_balances() -> None:
    for entries in (
        domain.issue(100),
        domain.issue(-40),
        domain.reserve(75),
        domain.settle(75, 50).entries,
        domain.settle(75, 75).entries,
        domain.settle(75, 0).entries,
        domain.release(75),
    ):
        assert sum(e.amount for e in entries) == 0
        assert all(e.amount != 0 for e in entries)


def test_unbalanced_entries_are_refused() -> None:
    with pytest.raises(domain.Unbalanced):
        domain.balanced([Entry(Account.AVAILABLE, 5), Entry(Account.SPENT, -4)])


def test_settle_of_n_on_m_spends_n_and_frees_the_rest() -> None:
    s = domain.settle(75, 50)
    assert (s.reserved, s.settled, s.freed) == (75, 50, 25)
    assert domain.sums(s.entries) == {Account.HELD: -75, Account.SPENT: 50, Account.AVAILABLE: 25,
                                       Account.ISSUANCE: 0}  # fmt: skip
    assert domain.settle(75, 0).freed == 75


def test_settle_above_the_reservation_or_negative_is_refused() -> None:
    with pytest.raises(domain.SettleRefused):
        domain.settle(75, 76)
    with pytest.raises(domain.SettleRefused):
        domain.settle(75, -1)


def test_outcome_events_settle_capped_at_the_reservation() -> None:
    assert domain.settle_capped(75, 999).settled == 75
    assert domain.settle_capped(75, 30).settled == 30
    assert domain.settle_capped(75, -3).settled == 0


def test_idempotency_compares_every_parameter() -> None:
    base = ReservationRequest(75, "reflection", 600)
    assert domain.same_request(base, ReservationRequest(75, "reflection", 600))
    assert not domain.same_request(base, ReservationRequest(76, "reflection", 600))
    assert not domain.same_request(base, ReservationRequest(75, "other", 600))
    assert not domain.same_request(base, ReservationRequest(75, "reflection", 601))


def test_balances_report_balance_reserved_available() -> None:
    b = Balances(100, 0).apply(domain.reserve(30))
    assert b.as_json() == {"balance": 100, "reserved": 30, "available": 70}
    b = b.apply(domain.settle(30, 10).entries)
    assert b.as_json() == {"balance": 90, "reserved": 0, "available": 90}


def test_resolution_says_what_happened() -> None:
    assert domain.resolution_of(domain.Status.SETTLED) == "already settled"
    assert domain.resolution_of(domain.Status.EXPIRED) == "already expired"


@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=10, max_value=300))
def test_random_sequences_never_go_negative_and_sum_to_zero(seed: int, steps: int) -> None:
    """A model of the repository's rules: a change that would take an account below zero is refused
    (the conditional UPDATE); whatever is accepted keeps every account's sum and the ledger's at zero."""
    rng = random.Random(seed)
    balances = Balances(0, 0)
    ledger: list[Entry] = []
    pending: list[int] = []
    for _ in range(steps):
        op = rng.choice(["grant", "reserve", "settle", "release", "adjust"])
        if op == "grant":
            entries = domain.issue(rng.randint(1, 100))
        elif op == "adjust":
            entries = domain.issue(-rng.randint(1, 100))
        elif op == "reserve":
            entries = domain.reserve(rng.randint(1, 100))
        elif pending:
            held = pending.pop(rng.randrange(len(pending)))
            entries = (
                domain.settle(held, rng.randint(0, held)).entries if op == "settle" else domain.release(held)
            )
        else:
            continue
        after = balances.apply(entries)
        if not after.valid:
            continue  # refused: nothing written
        if op == "reserve":
            pending.append(entries[1].amount)
        balances = after
        ledger += entries
    sums = domain.sums(ledger)
    assert sum(sums.values()) == 0
    assert sums[Account.AVAILABLE] == balances.available >= 0
    assert sums[Account.HELD] == balances.held == sum(pending)
    # what was issued is exactly what is owned plus what was spent
    assert -sums[Account.ISSUANCE] == balances.balance + sums[Account.SPENT]
