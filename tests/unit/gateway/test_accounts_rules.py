"""The pure rules of accounts: password strength, the CSRF origin check, the sign-in slow-down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.gateway.accounts import csrf, passwords
from services.gateway.accounts.endpoints import forwarded_client
from services.gateway.accounts.slowdown import Policy, address_key, wait_seconds


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", "at least 10"),
        ("x" * 300, "at most"),
        ("zzzzzzzzzzzz", "repeated"),
        ("ada@example.com", "email"),
        ("ADA@example.com", "email"),
        ("Password123", "common"),
        ("qwertyuiop", "common"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, reason: str) -> None:
    problem = passwords.weakness(password, "ada@example.com")
    assert problem is not None and reason in problem


@pytest.mark.parametrize("password", ["correct horse battery", "tr0ub4dor&3x", "ééééééééééa"])
def test_ordinary_passwords_pass(password: str) -> None:
    assert passwords.weakness(password, "ada@example.com") is None


def test_hash_is_argon2id_and_verifies() -> None:
    stored = passwords.hash_password("correct horse battery")
    assert stored.startswith("$argon2id$") and "correct" not in stored
    assert passwords.verify_password(stored, "correct horse battery")
    assert not passwords.verify_password(stored, "correct horse batterY")
    assert not passwords.verify_password("not a hash", "x")


SITE = "https://atelier.example"


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_reads_are_not_checked(method: str) -> None:
    assert csrf.refusal(method, "https://evil.example", None, SITE) is None


@pytest.mark.parametrize(
    ("origin", "referer", "ok"),
    [
        ("https://atelier.example", None, True),
        ("https://ATELIER.example:443", None, True),  # case and default port do not matter
        (None, "https://atelier.example/library?x=1", True),
        ("https://evil.example", "https://atelier.example/", False),  # Origin wins over Referer
        ("http://atelier.example", None, False),  # another scheme is another site
        ("https://atelier.example:8443", None, False),
        ("https://atelier.example.evil.example", None, False),
        ("null", None, False),  # sandboxed frames, file:// pages
        (None, None, False),  # cannot tell: refused
        (None, "not a url", False),
    ],
)
def test_state_changes_must_come_from_the_site(origin: str | None, referer: str | None, ok: bool) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert (csrf.refusal(method, origin, referer, SITE) is None) is ok


def test_origin_of_ipv6_and_ports() -> None:
    assert csrf.origin_of("http://[::1]:8000/x") == "http://[::1]:8000"
    assert csrf.origin_of("http://127.0.0.1:80") == "http://127.0.0.1"
    assert csrf.origin_of("ftp://atelier.example") is None


NOW = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = Policy(window=timedelta(minutes=15), per_email=5, per_address=20, first_wait_seconds=30)


def test_no_wait_below_the_threshold() -> None:
    assert wait_seconds(4, NOW, NOW, threshold=5, policy=POLICY) == 0
    assert wait_seconds(0, None, NOW, threshold=5, policy=POLICY) == 0


def test_wait_doubles_with_each_failure_and_is_capped_at_the_window() -> None:
    waits = [wait_seconds(n, NOW, NOW, threshold=5, policy=POLICY) for n in range(5, 12)]
    assert waits == [30, 60, 120, 240, 480, 900, 900]
    assert wait_seconds(1000, NOW, NOW, threshold=5, policy=POLICY) == 900


def test_wait_counts_from_the_last_failure() -> None:
    assert wait_seconds(6, NOW - timedelta(seconds=45), NOW, threshold=5, policy=POLICY) == 15
    assert wait_seconds(6, NOW - timedelta(seconds=60), NOW, threshold=5, policy=POLICY) == 0
    assert wait_seconds(5, NOW - timedelta(seconds=29.5), NOW, threshold=5, policy=POLICY) == 1


def test_client_address_trusts_only_our_own_proxies() -> None:
    # no proxy of ours: whatever X-Forwarded-For says is the client's own claim
    assert forwarded_client("203.0.113.9", "1.2.3.4", hops=0) == "203.0.113.9"
    # one proxy (the Ingress): the entry it appended, not the one the client sent before it
    assert forwarded_client("10.0.0.5", "1.2.3.4, 198.51.100.7", hops=1) == "198.51.100.7"
    assert forwarded_client("10.0.0.5", "198.51.100.7, 10.1.1.1", hops=2) == "198.51.100.7"
    assert forwarded_client("10.0.0.5", "", hops=1) == "10.0.0.5"
    assert forwarded_client("10.0.0.5", "198.51.100.7", hops=3) == "198.51.100.7"


def test_ipv6_addresses_count_by_their_64_block() -> None:
    assert (
        address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "address:2001:db8:1:2::/64"
    )
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("203.0.113.9") == "address:203.0.113.9" != address_key("203.0.113.10")
    assert address_key("::ffff:203.0.113.9") == "address:203.0.113.9"
    assert address_key("unknown") == "address:unknown"


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_a_blank_name_is_refused(name: str) -> None:
    from pydantic import ValidationError

    from services.gateway.accounts.schemas import SignUp

    with pytest.raises(ValidationError, match="must not be empty"):
        SignUp(email="ada@example.com", password="correct horse battery staple 9", name=name)
    assert (
        SignUp(email="ada@example.com", password="correct horse battery staple 9", name=" Ada ").name == "Ada"
    )
