"""POST /api/v1/assets, in the order its answers can be known, cheapest first:

1. who is asking (`UploadSubject`: before a byte of the body is read; 401 closes the connection);
2. a declared Content-Length over `max_request_bytes`: 413 at once, connection closed;
3. the object store or the broker unreachable (`readiness.py`, asked at most once a second): 503 with
   the reason and Retry-After, before reading the body;
3b. a workspace limit (`quotas.py`: requests or files per minute, files waiting to be imported): 429
   with Retry-After and a problem body naming the `limit`, before reading the body;
4. the body, streamed into a spool on local disk (`upload_form.py`): 413 when it passes the request
   limit (nothing staged), a file over `max_upload_bytes` becomes a `rejected` result;
5. staging each file (`uploads.py`; zips entry by entry, `archive_import.py`): a put to S3 that fails
   answers 503;
6. with `wait`, the pipeline's verdict for each file, up to `upload_wait_seconds`.

The route declares no body parameters (FastAPI would parse the whole body before authenticating), so
the request body is described for the OpenAPI document by hand (`UPLOAD_OPENAPI`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from libs.common.runtime import ServiceRuntime
from libs.common.text import ascii_digits, clean_json
from services.gateway.archive_import import stage_archive, zip_limits
from services.gateway.archives import is_zip, nested_archive_kind
from services.gateway.auth import AuthSubject, authenticate
from services.gateway.quotas import UploadQuota, UploadThrottled, admit_upload
from services.gateway.readiness import RETRY_AFTER_SECONDS, UploadReadiness
from services.gateway.settings import GatewaySettings
from services.gateway.spool import new_spool_file
from services.gateway.upload_form import FormLimits, FormRefused, UploadForm, read_form
from services.gateway.uploads import BatchStager, IncomingFile, StoreUnavailable, wait_for_pipeline

MAX_FOLDER_CHARS = 1000
FOLDER_FIELD_DOC = (
    "per file, in order: its directory inside the synced folder (e.g. 2025-03-21); may be empty"
)
# an answer given before the body was read to its end: the connection cannot carry another request
CLOSE = {"Connection": "close"}
RETRY = {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _array(items: dict[str, Any], description: str) -> dict[str, Any]:
    return {"type": "array", "items": items, "description": description}


UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": _array({"type": "string", "format": "binary"},
                                        "one or more image files, or zip archives of images"),
                        "last_modified": _array({"type": "string"},
                                                "per file, in order: ms since the epoch (or an ISO 8601 time)"),
                        "folder": _array({"type": "string"}, FOLDER_FIELD_DOC + " (cut to 1000 characters)"),
                        "sidecar": _array({"type": "string"}, "per file, in order: the text of its JSON "
                                          "sidecar, or empty (over 64 KiB: ignored)"),
                    },
                },
                "encoding": {"files": {"contentType": "application/octet-stream"}},
            }
        },
    }
}  # fmt: skip


def _refusal(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
    doc: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        doc["headers"] = headers
    return doc


UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _refusal("the multipart body is malformed or ended early"),
    401: _refusal("missing or invalid API token (answered before the body is read)"),
    413: _refusal("the request passes ATELIER_MAX_REQUEST_BYTES (a declared length: before the body is "
                  "read), or has too many files or form fields; nothing was imported"),
    415: _refusal("the body is not multipart/form-data"),
    429: {
        "description": "a limit of this workspace (services/gateway/quotas.py): `requests` or `files` per minute, "
                       "or `queued`, files waiting to be imported; nothing was read or imported, retry after "
                       "Retry-After seconds",
        "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
        "content": {"application/problem+json": {"schema": {
            "type": "object",
            "required": ["type", "title", "status", "detail", "limit"],
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "detail": {"type": "string"},
                "limit": {"type": "string", "enum": ["requests", "files", "queued"]},
                "retry_after": {"type": "integer", "description": "seconds, as in Retry-After"},
            },
        }}},
    },
    503: _refusal("the object store or the event broker is unreachable; retry later",
                  {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}),
}  # fmt: skip


async def authenticate_upload(request: Request) -> AuthSubject:
    """`authenticate`, closing the connection on a refusal: the body it would carry is not read."""
    try:
        return await authenticate(request)
    except HTTPException as exc:
        raise BodyRefused(exc.status_code, exc.detail, exc.headers) from None


UploadSubject = Annotated[AuthSubject, Depends(authenticate_upload)]


def folder_label(value: str) -> str | None:
    """A client's relative folder, as forward-slash path text; None when empty. Only a label for the time
    ladder's date-folder rung and the asset record, never a path the server opens."""
    cleaned = value.strip().replace("\\", "/").strip("/")
    return cleaned[:MAX_FOLDER_CHARS] or None


def sidecar_doc(text: str, max_bytes: int) -> dict[str, Any] | None:
    """A sidecar's JSON object (its `enqueue_time`/`creation_date` date the image), its strings cleaned
    (JSON escapes can carry NUL and lone surrogates); anything else is ignored: the image still imports."""
    if not text or len(text.encode()) > max_bytes:
        return None
    try:
        loaded = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(loaded, dict):
        return None
    cleaned: dict[str, Any] = clean_json(loaded)
    return cleaned


def file_mtime(value: str) -> datetime | None:
    """A browser's File.lastModified (ms since the epoch) or an ISO 8601 time; None if neither (or out
    of range)."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def readiness(request: Request, runtime: ServiceRuntime, settings: GatewaySettings) -> UploadReadiness:
    found: UploadReadiness | None = getattr(request.app.state, "upload_readiness", None)
    if found is None:
        found = UploadReadiness(runtime, settings.dependency_check_seconds)
        request.app.state.upload_readiness = found
    return found


# after a refusal in the middle of a body: how much of the rest is read and dropped before closing
LINGER_BYTES = 16 * 1024 * 1024
LINGER_SECONDS = 2.0


class BodyRefused(HTTPException):
    """A refusal given while the client may still be sending its body: answered with a
    `LingeringJSONResponse` (see `refuse_body`), and the connection closed after it."""

    def __init__(
        self,
        status: int,
        detail: str,
        headers: Mapping[str, str] | None = None,
        problem: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, detail, headers={**(headers or {}), **CLOSE})
        self.problem = problem  # an RFC 9457 problem body instead of {"detail": ...}


def throttled(exc: UploadThrottled) -> BodyRefused:
    """A workspace limit's 429: Retry-After, and a problem body saying which limit."""
    problem = {
        "type": f"https://atelier.example/problems/upload-limit-{exc.limit}",
        "title": "upload limit reached",
        "status": 429,
        "detail": exc.detail,
        "limit": exc.limit,
        "retry_after": exc.retry_after,
    }
    return BodyRefused(429, exc.detail, {"Retry-After": str(exc.retry_after)}, problem)


class LingeringJSONResponse(JSONResponse):
    """The answer is sent whole, then what the client still sends is read and dropped (up to LINGER_BYTES
    or LINGER_SECONDS) before the connection closes. Closing a socket that holds unread bytes makes the
    kernel send a reset, which can destroy the answer before the client has read it: a client sending a
    body over the limit would see "connection reset" instead of the 413 (nginx's lingering close)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": True})
        dropped = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER_SECONDS):
                while dropped < LINGER_BYTES:
                    message = await receive()
                    if message["type"] != "http.request":
                        break
                    dropped += len(message.get("body", b""))
                    if not message.get("more_body"):
                        break
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def refuse_body(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyRefused)
    if exc.problem is not None:
        return LingeringJSONResponse(
            exc.problem,
            status_code=exc.status_code,
            headers=exc.headers,
            media_type="application/problem+json",
        )
    return LingeringJSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def upload_quota(settings: GatewaySettings) -> UploadQuota:
    return UploadQuota(
        requests_per_minute=settings.upload_requests_per_minute,
        files_per_minute=settings.upload_files_per_minute,
        max_queued_files=settings.upload_max_queued_files,
        queued_retry_seconds=settings.upload_queued_retry_seconds,
        recent_seconds=settings.upload_recent_seconds,
    )


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if ascii_digits(value) else None


async def receive_upload(
    request: Request,
    runtime: ServiceRuntime,
    subject: AuthSubject,
    *,
    source: Any,
    wait: bool,
    zone: tzinfo,
) -> list[dict[str, Any]]:
    """Steps 2-6 of the module docstring; one result per file (per zip entry), in order."""
    settings: GatewaySettings = runtime.settings  # type: ignore[assignment]
    declared = _declared_length(request)
    if declared is not None and declared > settings.max_request_bytes:
        raise BodyRefused(
            413,
            f"the upload is {declared:,} bytes; the limit per request is {settings.max_request_bytes:,} "
            "(ATELIER_MAX_REQUEST_BYTES): send fewer or smaller files per request",
        )
    gate = readiness(request, runtime, settings)
    problem = await gate.problem()
    if problem:
        raise BodyRefused(503, problem, RETRY)
    try:
        admission = await admit_upload(runtime.pool, subject.tenant_id, upload_quota(settings))
    except UploadThrottled as exc:
        raise throttled(exc) from None

    limits = FormLimits(
        max_request_bytes=settings.max_request_bytes,
        max_file_bytes=settings.max_upload_bytes,
        max_files=settings.max_upload_files,
        max_field_bytes=settings.zip_max_sidecar_bytes,
        max_fields=3 * settings.max_upload_files + 100,
    )
    stager = BatchStager(
        runtime,
        subject,
        max_bytes=settings.max_upload_bytes,
        batch_files=settings.zip_stage_batch_files,
        batch_bytes=settings.zip_stage_batch_bytes,
        admission=admission,
        bulk_after=settings.upload_bulk_after_files,
    )
    spool = new_spool_file(settings.upload_spool_dir)
    try:
        try:
            form = await read_form(request.stream(), request.headers.get("content-type"), spool, limits)
        except FormRefused as exc:
            raise BodyRefused(exc.status, exc.detail) from None
        except ClientDisconnect:
            raise HTTPException(400, "the client went away before the body ended", headers=CLOSE) from None
        if not form.files:
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body", "files"), "msg": "Field required", "input": None}]
            )
        try:
            await _stage(stager, form, settings, source=source, zone=zone)
        except StoreUnavailable as exc:
            gate.report("object_store", str(exc))
            kept = (f"the {stager.staged} file(s) staged before it failed are kept (sent again, they "
                    "answer `duplicate`)" if stager.staged else "nothing was imported")  # fmt: skip
            raise HTTPException(
                503, f"the object store is unreachable ({exc}); {kept}; retry later", headers=RETRY
            ) from None
    finally:
        stager.close()
        spool.close()
    results = stager.results
    if wait:
        await wait_for_pipeline(runtime, subject, results, settings.upload_wait_seconds)
    return [r.to_json() for r in results]


async def _stage(
    stager: BatchStager, form: UploadForm, settings: GatewaySettings, *, source: Any, zone: tzinfo
) -> None:
    """Stage every file of the form, in order; a zip (by its first bytes) is expanded into its entries."""
    stager.expect(len(form.files))
    for i, part in enumerate(form.files):
        if part.refused or part.body is None:
            stager.reject(part.filename, part.refused or "not received")
            continue
        head = part.body.head
        if is_zip(head):
            await stage_archive(
                stager,
                part.body.reader(),
                archive_name=part.filename,
                zone=zone,
                limits=zip_limits(settings),
                spool_dir=settings.upload_spool_dir,
            )
        elif kind := nested_archive_kind(head):
            stager.reject(part.filename, f"{kind} archives are not supported; upload a zip")
        else:
            await stager.add(
                IncomingFile(
                    filename=part.filename,
                    body=part.body,
                    source=source,
                    folder=folder_label(form.value("folder", i)),
                    file_mtime=file_mtime(form.value("last_modified", i)),
                    sidecar=sidecar_doc(form.value("sidecar", i), settings.zip_max_sidecar_bytes),
                )
            )
    await stager.flush()
