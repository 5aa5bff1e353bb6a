"""Keyset pagination and ETags for the gateway's lists.

A list answers one page as a JSON list (the body every client already reads) and says where the next
page starts in two headers: `X-Next-Cursor: <cursor>` and `Link: <same path and query with cursor=...>; rel="next"`
(RFC 8288). The last page has neither. We kept the list body rather than wrapping it in
`{"items", "next_cursor"}` so that the web page, `atelier sync` and scripts written against the first
version keep working; a client that wants more pages follows the header.

A cursor is opaque to clients: base64url (no padding) of a small JSON object `{"v": 1, "k": kind, ...}`
holding the last row's sort key. It is versioned (`v`), tied to the list it came from (`k`: a session
cursor is refused by the gallery) and validated field by field, so a malformed or tampered cursor is a
422 like any other invalid parameter, never a 500. It carries no tenant: every read is scoped to the
asker (services/gateway/repository.py), so a cursor can only move within the asker's own rows.

Each page carries a weak ETag, a hash of the body and the next cursor; a request whose
`If-None-Match` names it gets 304 with no body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator

CURSOR_VERSION = 1
MAX_CURSOR_LENGTH = 512
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "the page is unchanged (If-None-Match)"}
}


@dataclass(frozen=True)
class Cursor:
    """A position in a list: the last row's sort key (a time, then the row's id). `untimed`: the gallery's
    second part, assets without a generation time, ordered by import time instead."""

    kind: str
    at: datetime
    id: uuid.UUID
    untimed: bool = False
    # a search's pages go by (rank, id): the last row's rank (`at` is then its time, for the record)
    rank: float | None = None


def encode_cursor(
    kind: str, at: datetime, id: uuid.UUID, *, untimed: bool = False, rank: float | None = None
) -> str:
    doc: dict[str, Any] = {"v": CURSOR_VERSION, "k": kind, "t": at.isoformat(), "id": str(id), "n": untimed}
    if rank is not None:
        doc["r"] = rank
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(kind: str, text: str) -> Cursor:
    """The cursor's position; ValueError (a 422 on the route) for anything this list did not hand out."""
    if len(text) > MAX_CURSOR_LENGTH:
        raise ValueError("is not a cursor this list gave out")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        doc = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("is not a cursor this list gave out") from None
    if not isinstance(doc, dict) or doc.get("v") != CURSOR_VERSION or doc.get("k") != kind:
        raise ValueError("is not a cursor this list gave out")
    at, id_, untimed, rank = doc.get("t"), doc.get("id"), doc.get("n"), doc.get("r")
    if not isinstance(id_, str) or not isinstance(at, str) or not isinstance(untimed, bool):
        raise ValueError("is not a cursor this list gave out")
    if rank is not None and (not isinstance(rank, float) or not math.isfinite(rank)):
        raise ValueError("is not a cursor this list gave out")
    try:
        position = Cursor(kind, datetime.fromisoformat(at), uuid.UUID(id_), untimed, rank)
    except ValueError:
        raise ValueError("is not a cursor this list gave out") from None
    if position.at.tzinfo is None:
        raise ValueError("is not a cursor this list gave out")
    return position


def _valid(kind: str) -> Any:
    def check(text: str) -> str:
        decode_cursor(kind, text)
        return text

    return AfterValidator(check)


def _cursor_query(kind: str) -> Any:
    return Query(description=f"where the page starts: the previous page's `X-Next-Cursor` (a {kind} cursor); "
                 "omit for the first page")  # fmt: skip


# the `cursor` query parameter of each list, validated (422 when it is not one this list gave out);
# the route reads its position with `position(kind, cursor)`
SessionsCursor = Annotated[Annotated[str, _valid("sessions")] | None, _cursor_query("sessions")]
AssetsCursor = Annotated[Annotated[str, _valid("assets")] | None, _cursor_query("assets")]
SessionAssetsCursor = Annotated[
    Annotated[str, _valid("session-assets")] | None, _cursor_query("session-assets")
]
QuarantineCursor = Annotated[Annotated[str, _valid("quarantine")] | None, _cursor_query("quarantine")]


def position(kind: str, cursor: str | None) -> Cursor | None:
    return decode_cursor(kind, cursor) if cursor is not None else None


def page(request: Request, items: list[Any], next_cursor: str | None) -> Response:
    """The page as a JSON list with its next-page headers and ETag, or 304 when the client has it."""
    response = JSONResponse(items)
    headers = {}
    if next_cursor is not None:
        headers["X-Next-Cursor"] = next_cursor
        # relative (RFC 8288 resolves it against the request's URL): behind a proxy the gateway does not
        # know the scheme and host the client used
        following = request.url.include_query_params(cursor=next_cursor)
        headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return cached(request, response, extra=next_cursor or "", headers=headers)


def cached(
    request: Request, response: Response, *, extra: str = "", headers: dict[str, str] | None = None
) -> Response:
    """`response` with a weak ETag over its body; 304 (no body) when `If-None-Match` names it."""
    digest = hashlib.sha256(bytes(response.body) + b"\0" + extra.encode()).hexdigest()[:32]
    etag = f'W/"{digest}"'
    headers = {**(headers or {}), "ETag": etag, "Cache-Control": "private, no-cache"}
    if _matches(request.headers.get("if-none-match"), digest):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return response


def _matches(if_none_match: str | None, digest: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2): W/"x" and "x" both match, as does *."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/").strip('"') == digest:
            return True
    return False
