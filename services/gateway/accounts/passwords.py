"""Passwords: how strong one must be, and how it is kept (argon2id, never in clear).

The strength rule follows NIST SP 800-63B rather than composition rules: a minimum length, no
upper bound short of something absurd, and a refusal of passwords known to be guessed first (a
short list of the most common ones, one character repeated, the email itself). Mixed-case and
digit rules are not asked for: they push people to `Password1!`, which the list catches anyway.

Hashing uses argon2-cffi's `PasswordHasher` with its defaults (RFC 9106's second recommended
profile, argon2id, 64 MiB, 3 passes); verifying one takes tens of milliseconds of CPU, so callers
run it in a thread, never on the event loop.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
# long enough for any passphrase, short enough that hashing a body of junk costs nothing
MAX_LENGTH = 256

# the most used passwords of at least MIN_LENGTH characters in public breach corpora (lower case)
COMMON = frozenset(
    """
    1234567890 0123456789 12345678910 1q2w3e4r5t 1qaz2wsx3edc qwertyuiop password1 password12
    password123 password1234 passw0rd123 iloveyou12 qwerty1234 qwerty12345 qwerty123456 1234qwer
    abcd123456 abc1234567 asdfghjkl1 asdfghjkl; zxcvbnm123 9876543210 1111111111 0000000000
    1234512345 1122334455 123123123123 qweasdzxc1 welcome123 welcome1234 letmein123 admin12345
    administrator changeme123 trustno1234 sunshine12 football12 baseball12 princess12 dragon1234
    monkey1234 superman12 starwars12 whatever12 internet12 computer12 michael123 jennifer12
    password! password1! p@ssw0rd123 p@ssword123 qwertyuiop1 1q2w3e4r5t6y 1qaz2wsx3e
    """.split()
)

_hasher = PasswordHasher()


def weakness(password: str, email: str = "") -> str | None:
    """Why this password is refused, in words a person can act on; None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters long"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters long"
    if len(set(password)) == 1:
        return "must not be one character repeated"
    lowered = password.lower()
    if email and (lowered == email.lower() or lowered == email.lower().partition("@")[0]):
        return "must not be your email address"
    if lowered in COMMON:
        return "is one of the most common passwords; choose another"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# verified against when the email is unknown, so that answer takes as long as a wrong password
# (the time of a refusal does not tell which emails have an account)
DUMMY_HASH = _hasher.hash("not the password of anyone")
