"""Internal routes refuse callers without the shared service token, and refuse everyone when none is
configured (fail closed: on one machine any local process could call them)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from libs.common.internal import HEADER, internal_headers, require_internal_caller
from libs.common.settings import CommonSettings


def _app(settings: CommonSettings) -> TestClient:
    app = FastAPI()

    @app.get("/internal/v1/ping", dependencies=[require_internal_caller(settings)])  # type: ignore[list-item]
    def ping() -> dict[str, bool]:
        return {"ok": True}

    return TestClient(app)


def test_token_required_when_configured() -> None:
    settings = CommonSettings(internal_token="s3cret")
    client = _app(settings)
    assert client.get("/internal/v1/ping").status_code == 401
    assert client.get("/internal/v1/ping", headers={HEADER: "wrong"}).status_code == 401
    assert client.get("/internal/v1/ping", headers=internal_headers(settings)).json() == {"ok": True}


def test_without_a_configured_token_every_caller_is_refused() -> None:
    settings = CommonSettings(internal_token=None)
    assert internal_headers(settings) == {}
    client = _app(settings)
    assert client.get("/internal/v1/ping").status_code == 503
    assert client.get("/internal/v1/ping", headers={HEADER: ""}).status_code == 503


def test_a_non_ascii_token_is_refused_not_a_crash() -> None:
    client = _app(CommonSettings(internal_token="s3cret"))
    assert client.get("/internal/v1/ping", headers={HEADER: "sécret".encode()}).status_code == 401
