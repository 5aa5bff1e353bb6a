"""The cursor codec and the ETag check, without a server (the routes: tests/integration/test_pagination.py)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse

from services.gateway.pagination import cached, decode_cursor, encode_cursor

AT = datetime(2024, 5, 3, 9, 0, 0, 123456, tzinfo=UTC)
ID = uuid.UUID("8ec88685-e106-5101-90ee-e4df05af8c20")


def _raw(doc: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def test_a_cursor_round_trips_and_is_url_safe() -> None:
    for untimed in (False, True):
        text = encode_cursor("assets", AT, ID, untimed=untimed)
        assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        position = decode_cursor("assets", text)
        assert (position.at, position.id, position.untimed) == (AT, ID, untimed)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "!!",
        "x" * 1000,
        _raw([1]),
        _raw({"v": 2, "k": "assets", "t": AT.isoformat(), "id": str(ID), "n": False}),
        _raw({"v": 1, "k": "sessions", "t": AT.isoformat(), "id": str(ID), "n": False}),
        _raw({"v": 1, "k": "assets", "t": "2024-05-03T09:00:00", "id": str(ID), "n": False}),
        _raw({"v": 1, "k": "assets", "t": AT.isoformat(), "id": "nope", "n": False}),
        _raw({"v": 1, "k": "assets", "t": AT.isoformat(), "id": str(ID), "n": 0}),
        _raw({"v": 1, "k": "assets", "t": 5, "id": str(ID), "n": False}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        decode_cursor("assets", text)


def _request(if_none_match: str | None) -> Request:
    headers = [(b"if-none-match", if_none_match.encode())] if if_none_match else []
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": headers})


def test_a_matching_if_none_match_is_a_304_without_a_body() -> None:
    first = cached(_request(None), JSONResponse([1, 2]))
    etag = first.headers["etag"]
    assert first.status_code == 200 and etag.startswith('W/"')
    for sent in (etag, etag.removeprefix("W/"), f'"other", {etag}', "*"):
        again = cached(_request(sent), JSONResponse([1, 2]))
        assert again.status_code == 304 and again.body == b"" and again.headers["etag"] == etag
    assert cached(_request(etag), JSONResponse([1, 2, 3])).status_code == 200
    assert cached(_request(etag), JSONResponse([1, 2]), extra="next").status_code == 200
