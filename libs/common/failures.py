"""Transient or not: is a failure about a dependency being away (the same work will succeed later)
or about the work itself (it would fail the same way again)?

Consumers retry the first kind after a pause and set the second aside (libs/common/consumer.py);
HTTP routes answer the first kind with 503 and the reason instead of a bare 500 (runtime.py).
"""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaError

# SQLSTATE classes that say "not now" rather than "never": connection (08), resources (53),
# operator intervention such as a shutdown (57), system errors (58), serialization or deadlock (40)
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58", "40"})
_TRANSIENT_S3_CODES = frozenset({"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout"})


def unavailable_dependency(exc: BaseException) -> str | None:
    """Which dependency a transient failure is about ("the database", "the event broker", "the object store", "a service it calls"),
    or None when the failure is not transient."""
    if isinstance(exc, asyncpg.PostgresError):
        return "the database" if (exc.sqlstate or "")[:2] in _TRANSIENT_SQLSTATE_CLASSES else None
    if isinstance(exc, asyncpg.InterfaceError):
        return "the database"
    if isinstance(exc, KafkaError):
        return "the event broker"
    # the object store's client (minio over urllib3) names its network failures so
    if type(exc).__module__.startswith("urllib3"):
        return "the object store"
    if type(exc).__name__ == "S3Error":
        return "the object store" if getattr(exc, "code", "") in _TRANSIENT_S3_CODES else None
    if isinstance(exc, OSError) or type(exc).__module__.startswith(("httpx", "httpcore")):
        return "a service it calls"  # ConnectionRefusedError, TimeoutError, a reset socket...
    cause = exc.__cause__ or exc.__context__
    return unavailable_dependency(cause) if cause is not None and cause is not exc else None


def is_transient(exc: BaseException) -> bool:
    return unavailable_dependency(exc) is not None


def dependency_failure_types() -> tuple[type[Exception], ...]:
    """The exception classes whose instances may be transient (see `unavailable_dependency`)."""
    import httpx
    import urllib3
    from minio.error import S3Error

    return (asyncpg.PostgresError, asyncpg.InterfaceError, KafkaError, OSError, urllib3.exceptions.HTTPError,
            S3Error, httpx.HTTPError)  # fmt: skip
