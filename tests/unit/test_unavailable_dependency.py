"""A request that fails because a dependency is away answers 503 with the reason and Retry-After;
a bug stays a 500."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from fastapi.testclient import TestClient
from pydantic import BaseModel

from libs.common.failures import is_transient, unavailable_dependency
from libs.common.runtime import ServiceRuntime
from libs.common.settings import CommonSettings


def _client(error: Exception) -> TestClient:
    runtime = ServiceRuntime(CommonSettings(), schema="x", migrations_dir=Path("."))

    @runtime.app.get("/fails")
    async def fails() -> None:
        raise error

    return TestClient(runtime.app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("error", "who"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "a service it calls"),
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), "the database"),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), "the database"),
        (KafkaConnectionError("broker away"), "the event broker"),
    ],
)
def test_a_dependency_away_is_a_503_with_the_reason(error: Exception, who: str) -> None:
    response = _client(error).get("/fails")
    assert response.status_code == 503
    assert response.json()["detail"].startswith(f"{who} is unavailable")
    assert response.headers["Retry-After"]


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8: 0x00"),
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        ValueError("a bug"),
    ],
)
def test_a_bug_is_not_dressed_as_an_outage(error: Exception) -> None:
    assert not is_transient(error) and unavailable_dependency(error) is None
    assert _client(error).get("/fails").status_code == 500


def test_a_failure_caused_by_an_outage_is_transient() -> None:
    try:
        try:
            raise ConnectionResetError("reset by peer")
        except ConnectionResetError as inner:
            raise RuntimeError("while fetching the original") from inner
    except RuntimeError as outer:
        assert unavailable_dependency(outer) == "a service it calls"


class Counted(BaseModel):
    count: int


@pytest.mark.parametrize(
    "body", ['{"count": "\\ud800"}', '{"\\udfff": 1}', '{"count": NaN}', '{"count": Infinity}']
)
def test_a_422_can_always_be_written(body: str) -> None:
    """FastAPI's 422 echoes the input: a lone surrogate or NaN in it used to make the answer a 500."""
    runtime = ServiceRuntime(CommonSettings(), schema="x", migrations_dir=Path("."))

    @runtime.app.post("/count")
    async def count(item: Counted) -> int:
        return item.count

    client = TestClient(runtime.app, raise_server_exceptions=False)
    response = client.post("/count", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "body"
