"""Internal routes refuse callers without the shared service token, once one is configured."""

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


def test_no_token_asked_on_one_machine() -> None:
    settings = CommonSettings(internal_token=None)
    assert internal_headers(settings) == {}
    assert _app(settings).get("/internal/v1/ping").status_code == 200
