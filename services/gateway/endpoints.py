"""The public HTTP API, `/api/v1`. Every route depends on `authenticate`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from minio.error import S3Error
from prometheus_client import Counter
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints

from libs.common.runtime import ServiceRuntime
from libs.common.storage import ObjectNotFound, ObjectStore
from libs.common.text import clean_text
from libs.lineage.facts import Flag
from services.gateway import repository, schemas
from services.gateway.auth import AuthSubject, authenticate
from services.gateway.pagination import (
    NOT_MODIFIED,
    AssetsCursor,
    QuarantineCursor,
    SessionAssetsCursor,
    SessionsCursor,
    cached,
    encode_cursor,
    page,
    position,
)
from services.gateway.reflections.repository import summaries as reflection_summaries
from services.gateway.settings import GatewaySettings
from services.gateway.upload_route import UPLOAD_OPENAPI, UPLOAD_RESPONSES, UploadSubject, receive_upload

router = APIRouter(prefix="/api/v1")
Subject = Annotated[AuthSubject, Depends(authenticate)]


class ErrorDetail(BaseModel):
    """Every refusal other than a request validation error (those are 422 with a list of errors)."""

    detail: str


# a route's `responses=`: status code to what it means
Responses = dict[int | str, dict[str, Any]]


def refusal(description: str) -> dict[str, Any]:
    return {"model": ErrorDetail, "description": description}


# what a route may answer besides its success and 422, for the routes' `responses=`: the document
# says what a client can get, and the API fuzz (tests/integration/test_api_fuzz.py) holds us to it
UNAUTHORIZED: Responses = {401: refusal("missing or invalid API token")}
# FastAPI answers 400 when a JSON body is not even text (bytes that are not UTF-8)
UNREADABLE_BODY: Responses = {400: refusal("the body is not UTF-8 JSON")}


def _text(value: str) -> str:
    """Text PostgreSQL can store and UTF-8 can encode: no NUL, no lone surrogate (JSON's "\\ud800")."""
    if clean_text(value) != value:
        raise ValueError("must be text without NUL characters or unpaired surrogates")
    return value


Text = Annotated[str, AfterValidator(_text)]


def _runtime(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


def _settings(request: Request) -> GatewaySettings:
    return request.app.state.runtime.settings


# sign-up, sign-in and out, /me and API tokens: services/gateway/accounts/endpoints.py


# the import sources a client may name on this endpoint (zip and folder imports arrive other ways)
UploadSource = Literal["upload", "sync"]


# a result's `reason` is there only when the file was rejected: exclude_unset keeps it out otherwise
@router.post(
    "/assets",
    openapi_extra=UPLOAD_OPENAPI,
    responses=UPLOAD_RESPONSES,
    response_model=list[schemas.UploadResult],
    response_model_exclude_unset=True,
)
async def upload_assets(
    request: Request,
    subject: UploadSubject,
    source: Annotated[UploadSource, Query(description="the web page or `atelier sync`")] = "upload",
    wait: Annotated[bool, Query(description="wait for the pipeline's verdict")] = True,
) -> list[dict[str, Any]]:
    """Stage image files; a zip (by its first bytes) is expanded into its entries, each with its own result.

    The multipart body (`files`, and per file, in order, `last_modified`, `folder`, `sidecar`) is read as
    it streams in, after authentication and within `ATELIER_MAX_REQUEST_BYTES` (413 otherwise), into a
    spool on disk; a file over `ATELIER_MAX_UPLOAD_BYTES` is `rejected`. Each result's `status`: `queued`
    (staged, the pipeline has not finished it), `imported` (only with `wait`, once ingest wrote the
    asset), `duplicate`, or `rejected` with a `reason`. 503 (Retry-After) while the object store or the
    broker is unreachable. See services/gateway/upload_route.py."""
    return await receive_upload(
        request, _runtime(request), subject, source=source, wait=wait, zone=time_zone_of(subject.time_zone)
    )


MAX_LOOKUP_HASHES = 1000
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
LOOKUPS = Counter("atelier_gateway_lookups_total", "POST /assets/lookup requests answered")
LOOKUP_HASHES = Counter("atelier_gateway_lookup_hashes_total", "Hashes asked about in lookups, by whether the "
                        "tenant already had them", ["known"])  # fmt: skip


class HashLookup(BaseModel):
    sha256: Annotated[list[Sha256Hex], Field(max_length=MAX_LOOKUP_HASHES)]


@router.post(
    "/assets/lookup", response_model=schemas.KnownHashes, responses={**UNAUTHORIZED, **UNREADABLE_BODY}
)
async def lookup_assets(body: HashLookup, request: Request, subject: Subject) -> dict[str, list[str]]:
    """Which of these SHA-256s (lowercase hex) the caller already has, staged or imported: `atelier sync`
    asks before uploading, so it sends only the bytes the server lacks."""
    asked = set(body.sha256)
    known = await repository.known_sha256s(_runtime(request).pool, subject, sorted(asked))
    LOOKUPS.inc()
    LOOKUP_HASHES.labels(known="true").inc(len(known))
    LOOKUP_HASHES.labels(known="false").inc(len(asked) - len(known))
    return {"known": sorted(known)}


def thumb_url(asset_id: uuid.UUID, size: str = "card") -> str:
    return f"/api/v1/assets/{asset_id}/thumbnail?size={size}"


def _group(start: datetime, now: datetime, zone: ZoneInfo | Any) -> str:
    """today / this_week / earlier, in the tenant's time zone (weeks start on Monday)."""
    local_start, local_now = start.astimezone(zone).date(), now.astimezone(zone).date()
    if local_start >= local_now:
        return "today"
    if local_start >= local_now - timedelta(days=local_now.weekday()):
        return "this_week"
    return "earlier"


def time_zone_of(name: str) -> ZoneInfo | Any:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def session_json(row: Any, now: datetime, zone: Any) -> dict[str, Any]:
    return {
        "id": str(row["session_id"]),
        "start": row["start_at"].isoformat(),
        "end": row["end_at"].isoformat(),
        "asset_count": row["asset_count"],
        "rejected_count": row["rejected_count"],
        "precision": row["precision"],
        "group": _group(row["start_at"], now, zone),
        "cover": [{"asset_id": str(a), "thumbnail_url": thumb_url(a)} for a in row["cover_asset_ids"]],
        "updated_at": row["updated_at"].isoformat(),
        "reflection_summary": row["reflection_summary"],  # null until the session has a reflection
        # before any reflection: top prompt phrases, tools and models, kept by clustering
        "summary": row["summary"],
    }


def _not_a_number(value: Any) -> Any:
    """Times are ISO 8601 text (2025-03-21T10:00:00Z), as the document says; pydantic would also take a
    bare number as seconds since the epoch."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("must be a date-time such as 2025-03-21T10:00:00Z, not a number")
    return value


def _utc(value: datetime) -> datetime:
    """The time in UTC (one without an offset is read as UTC). A time whose UTC falls off the calendar
    (9999-12-31T23:00:00-05:00, 0001-01-01T00:00:00+01:00) is refused here, not by the database driver."""
    try:
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


Instant = Annotated[datetime, BeforeValidator(_not_a_number), AfterValidator(_utc)]


PAGED: Responses = {**UNAUTHORIZED, **NOT_MODIFIED}


# the paged lists answer their own JSONResponse (headers, ETag): `response_model` only documents the body
@router.get("/sessions", response_model=list[schemas.SessionCard], responses=PAGED)
async def list_sessions(
    request: Request,
    subject: Subject,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: SessionsCursor = None,
    before: Annotated[
        Instant | None, Query(description="only sessions starting before this time (no offset: UTC)")
    ] = None,
) -> Response:
    """The tenant's sessions, newest first, each with its group (today, this_week, earlier).

    One page of cards; when there are more, `X-Next-Cursor` (and `Link: <...>; rel="next"`) carry the
    cursor of the next page. Weak ETag: `If-None-Match` with it answers 304 while the page is unchanged."""
    rows = await repository.sessions(
        _runtime(request).pool, subject, limit=limit + 1, before=before, after=position("sessions", cursor)
    )
    now, zone = datetime.now(UTC), time_zone_of(subject.time_zone)
    # one row more than the page says whether there is a next page (no empty last page)
    last, rows = (rows[limit - 1] if len(rows) > limit else None), rows[:limit]
    next_cursor = encode_cursor("sessions", last["start_at"], last["session_id"]) if last else None
    cards = await with_reflection_summaries(request, subject, [session_json(r, now, zone) for r in rows])
    return page(request, cards, next_cursor)


async def with_reflection_summaries(
    request: Request, subject: AuthSubject, cards: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Cards with their session's latest reflection summary (the reflection service's view), one query
    for the page."""
    found = await reflection_summaries(_runtime(request).pool, subject, [uuid.UUID(c["id"]) for c in cards])
    for card in cards:
        card["reflection_summary"] = found.get(uuid.UUID(card["id"]), card["reflection_summary"])
    return cards


def asset_json(row: Any) -> dict[str, Any]:
    doc = {
        k: row[k]
        for k in (
            "filename",
            "format",
            "tool",
            "prompt",
            "negative_prompt",
            "model",
            "sampler",
            "steps",
            "cfg",
            "width",
            "height",
            "timestamp_source",
            "timestamp_precision",
        )
    }
    doc["asset_id"] = str(row["asset_id"])
    doc["seed"] = int(row["seed"]) if row["seed"] is not None else None
    doc["generated_at"] = row["generated_at"].isoformat() if row["generated_at"] else None
    doc["dominant_colors"] = list(row["dominant_colors"])
    doc["loras"] = list(row["loras"] or [])
    doc["thumbnail_url"] = thumb_url(row["asset_id"])
    doc["detail_url"] = thumb_url(row["asset_id"], "detail")
    if "session_id" in row.keys():
        doc["session_id"] = str(row["session_id"]) if row["session_id"] else None
    if "flag" in row.keys():  # the owner's views; a share link's rows do not carry it
        doc["flag"] = row["flag"]
    return doc


@router.get(
    "/sessions/{session_id}",
    response_model=schemas.SessionDetail,
    responses={**PAGED, 404: refusal("no such session")},
)
async def get_session(
    session_id: uuid.UUID,
    request: Request,
    subject: Subject,
    flags: Flags,
    with_assets: Annotated[
        bool, Query(description="false: the card and neighbours only (`assets` is then empty)")
    ] = True,
) -> Response:
    """One session and its assets in time order; a merged-away id answers with the session it became.
    `previous_session_id` / `next_session_id` are its neighbours in time, the sessions it can be merged
    with. (`GET /sessions/{id}/assets` pages through a large session's assets: the detail page asks
    for the card with `with_assets=false`.) Rejected assets are left out unless `include_rejected=true`;
    `flag=pick` lists the keepers only. Weak ETag, 304 as the lists."""
    pool = _runtime(request).pool
    row, resolved = await repository.session(pool, subject, session_id)
    if row is None:
        raise HTTPException(404, "no such session")
    [doc] = await with_reflection_summaries(
        request, subject, [session_json(row, datetime.now(UTC), time_zone_of(subject.time_zone))]
    )
    doc["merged_from"] = str(session_id) if resolved != session_id else None
    previous, following = await repository.neighbours(pool, subject, row)
    doc["previous_session_id"] = str(previous) if previous else None
    doc["next_session_id"] = str(following) if following else None
    assets = await repository.session_assets(pool, subject, resolved, flags=flags) if with_assets else []
    doc["assets"] = [asset_json(a) for a in assets]
    return cached(request, JSONResponse(doc))


@router.get(
    "/sessions/{session_id}/assets",
    response_model=list[schemas.AssetCard],
    responses={**PAGED, 404: refusal("no such session")},
)
async def list_session_assets(
    session_id: uuid.UUID,
    request: Request,
    subject: Subject,
    flags: Flags,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: SessionAssetsCursor = None,
) -> Response:
    """The session's assets in generation order, a page at a time (`X-Next-Cursor`, as `GET /sessions`);
    a merged-away id pages through the session it became. Rejected assets are left out unless
    `include_rejected=true`; `flag=pick` gives the keepers only."""
    pool = _runtime(request).pool
    resolved = await repository.resolve_session(pool, subject, session_id)
    after = position("session-assets", cursor)
    rows = await repository.session_assets(pool, subject, resolved, limit=limit + 1, after=after, flags=flags)
    if not rows and (await repository.session(pool, subject, resolved))[0] is None:
        raise HTTPException(404, "no such session")
    last, rows = (rows[limit - 1] if len(rows) > limit else None), rows[:limit]
    next_cursor = encode_cursor("session-assets", last["generated_at"], last["asset_id"]) if last else None
    return page(request, [asset_json(a) for a in rows], next_cursor)


def flag_filter(
    flag: Annotated[
        Flag | None, Query(description="only assets flagged so: `pick` for keepers only (or `reject`)")
    ] = None,
    include_rejected: Annotated[
        bool, Query(description="rejected assets are left out unless this is true (or `flag=reject`)")
    ] = False,
) -> repository.FlagFilter:
    return repository.FlagFilter(flag=flag, include_rejected=include_rejected)


Flags = Annotated[repository.FlagFilter, Depends(flag_filter)]

FilterText = Annotated[Text, StringConstraints(min_length=1, max_length=200)]


def asset_filters(
    flags: Flags,
    q: Annotated[
        Annotated[Text, StringConstraints(max_length=500)] | None,
        Query(
            description="full text over prompts and negative prompts (every word, whole "
            "words as written, any case); results then come best match first: prompt matches, then negative-prompt-only "
            "matches, newest first within each"
        ),
    ] = None,
    tool: Annotated[FilterText | None, Query(description="only this tool (a1111, comfyui, ...)")] = None,
    model: Annotated[FilterText | None, Query(description="only this model, as the file names it")] = None,
    lora: Annotated[
        FilterText | None,
        Query(description="only assets using this LoRA (name without folder or extension, any case)"),
    ] = None,
    from_: Annotated[
        Instant | None, Query(alias="from", description="generated at or after (UTC if no offset)")
    ] = None,
    to: Annotated[Instant | None, Query(description="generated before (UTC if no offset)")] = None,
    has_time: Annotated[
        bool | None, Query(description="only assets with (true) or without (false) a time")
    ] = None,
    session: Annotated[uuid.UUID | None, Query(description="only this session's assets")] = None,
) -> repository.AssetFilter:
    """The gallery's filters, shared by `GET /assets` and `GET /facets`; they combine."""
    return repository.AssetFilter(
        q=q, tool=tool, model=model, lora=lora, from_=from_, to=to, has_time=has_time, session=session,
        flags=flags,
    )  # fmt: skip


Filters = Annotated[repository.AssetFilter, Depends(asset_filters)]


@router.get("/assets", response_model=list[schemas.GalleryAsset], responses=PAGED)
async def list_assets(
    request: Request,
    subject: Subject,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: AssetsCursor = None,
    without_time: Annotated[
        bool, Query(description="only assets with no usable time (in no session); as has_time=false")
    ] = False,
) -> Response:
    """The gallery and search: every asset, newest generation first; assets without a time come last
        (newest import first). With `q`, the matches best first: every word in the prompt, then matches
    through the negative prompt only, newest first within each (see `repository.assets`). Filters combine.
        Paged by cursor (`X-Next-Cursor`, as `GET /sessions`), with a weak ETag. `X-Total-Count` says how
        many match: exact up to 10,000 (`X-Total-Count-Exact: true`), beyond that the planner's estimate
        (`false`)."""
    pool = _runtime(request).pool
    after = position("assets", cursor)
    searching = filters.tsquery() is not None
    if after is not None and searching != (after.rank is not None):
        raise HTTPException(422, "the cursor belongs to another ordering (with or without q)")
    rows = await repository.assets(
        pool, subject, limit=limit + 1, after=after, without_time=without_time, filters=filters
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        if searching:
            untimed = last["generated_at"] is None
            at = last["imported_at"] if untimed else last["generated_at"]
            next_cursor = encode_cursor(
                "assets", at, last["asset_id"], untimed=untimed, rank=float(last["rank"])
            )
        elif last["generated_at"] is not None:
            next_cursor = encode_cursor("assets", last["generated_at"], last["asset_id"])
        else:
            next_cursor = encode_cursor("assets", last["imported_at"], last["asset_id"], untimed=True)
    if without_time:
        filters = replace(filters, has_time=False)
    total, exact = await repository.count_assets(pool, subject, filters)
    response = page(request, [asset_json(r) for r in rows], next_cursor)
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Total-Count-Exact"] = "true" if exact else "false"
    return response


@router.get("/facets", response_model=schemas.Facets, responses=UNAUTHORIZED)
async def get_facets(
    request: Request, response: Response, subject: Subject, filters: Filters
) -> dict[str, list[dict[str, Any]]]:
    """For filter menus: the values of tool, model and LoRA with how many assets have each, among the
    assets the same filters as `GET /assets` leave (the 50 most frequent of each). Over the whole
    library the counts are exact; under filters they are exact up to 2,000 matches and beyond that
    estimated from a sample of the matches: `X-Facets-Exact` says which (`true` / `false`)."""
    found = await repository.facets(_runtime(request).pool, subject, filters)
    response.headers["X-Facets-Exact"] = "true" if found.exact else "false"
    return found.values


def _iana_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Europe/Paris") from None
    return name


class TimeZoneSetting(BaseModel):
    # an IANA name, e.g. "Europe/Paris"; an unknown one is a 422 like any other invalid field
    time_zone: Annotated[str, AfterValidator(_iana_zone)]


@router.get("/settings/time-zone", response_model=schemas.TimeZone, responses=UNAUTHORIZED)
async def get_time_zone(subject: Subject) -> dict[str, str]:
    return {"time_zone": subject.time_zone}


@router.put(
    "/settings/time-zone", response_model=schemas.TimeZone, responses={**UNAUTHORIZED, **UNREADABLE_BODY}
)
async def put_time_zone(body: TimeZoneSetting, request: Request, subject: Subject) -> dict[str, str]:
    """Your zone: it groups sessions into today / this week / earlier, and reads times that carry
    no zone (file names, zip entries, folder dates) in imports from now on."""
    await repository.set_time_zone(_runtime(request).pool, subject, body.time_zone)
    return {"time_zone": body.time_zone}


@router.get("/assets/quarantine", response_model=list[schemas.QuarantinedFile], responses=PAGED)
async def list_quarantine(
    request: Request,
    subject: Subject,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: QuarantineCursor = None,
) -> Response:
    """Files that could not be imported, with the reason, newest first; paged as `GET /sessions`."""
    rows = await repository.quarantined(
        _runtime(request).pool, subject, limit=limit + 1, after=position("quarantine", cursor)
    )
    last, rows = (rows[limit - 1] if len(rows) > limit else None), rows[:limit]
    next_cursor = encode_cursor("quarantine", last["at"], last["asset_id"]) if last else None
    items = [{"asset_id": str(r["asset_id"]), "filename": r["filename"], "reason": r["reason"],
              "at": r["at"].isoformat()} for r in rows]  # fmt: skip
    return page(request, items, next_cursor)


@router.get(
    "/assets/{asset_id}",
    response_model=schemas.AssetDetail,
    responses={**UNAUTHORIZED, 404: refusal("no such asset")},
)
async def get_asset(asset_id: uuid.UUID, request: Request, subject: Subject) -> dict[str, Any]:
    row = await repository.asset(_runtime(request).pool, subject, asset_id)
    if row is None:
        raise HTTPException(404, "no such asset")
    doc = asset_json(row)
    doc["sha256"] = row["sha256"]
    doc["metadata"] = row["metadata"]
    doc["metadata_error"] = row["metadata_error"]
    return doc


@router.get(
    "/assets/{asset_id}/thumbnail",
    response_class=Response,
    responses={
        200: {"content": {"image/webp": {}}, "description": "the thumbnail, WebP"},
        **UNAUTHORIZED,
        404: refusal("no such asset, or no thumbnail of it (yet)"),
    },
)
async def get_thumbnail(
    asset_id: uuid.UUID,
    request: Request,
    subject: Subject,
    size: Annotated[str, Query(pattern="^(card|detail)$")] = "card",
) -> Response:
    runtime = _runtime(request)
    row = await repository.asset(runtime.pool, subject, asset_id)
    return await thumbnail_response(runtime, row, size)


async def thumbnail_response(
    runtime: ServiceRuntime, row: Any, size: str, cache_control: str = "private, max-age=86400"
) -> Response:
    """The asset's thumbnail from the object store (`row`: an asset read, None when there is none), or
    404. Also serves the thumbnails of a share link (services/gateway/sharing)."""
    key = row and (row["card_key"] if size == "card" else row["detail_key"])
    if not key:
        raise HTTPException(404, "no such thumbnail")
    assert runtime.store is not None
    try:
        data = await runtime.store.get(runtime.store.thumbnails, key)
    except ObjectNotFound:
        raise HTTPException(404, "no such thumbnail") from None
    return Response(data, media_type="image/webp", headers={"Cache-Control": cache_control})


# the media type of an original, by the format ingest read from its bytes (PIL's names)
ORIGINAL_MEDIA_TYPES = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "AVIF": "image/avif",
    "BMP": "image/bmp",
    "HEIC": "image/heic",
    "TIFF": "image/tiff",
}
UNKNOWN_MEDIA_TYPE = "application/octet-stream"
# what an original is read from the object store in, a thread hop each
ORIGINAL_CHUNK_BYTES = 256 * 1024


def attachment(filename: str) -> str:
    """`Content-Disposition: attachment` naming the file (RFC 6266): `filename` is an ASCII stand-in
    (other characters, quotes, backslashes and path separators as `_`) and, when that is not the name
    itself, `filename*` carries it in UTF-8, percent-encoded (RFC 5987/8187)."""
    name = "".join("_" if ord(c) < 32 or ord(c) == 127 or c in "/\\" else c for c in filename) or "original"
    fallback = "".join(c if c.isascii() and c != '"' else "_" for c in name)
    header = f'attachment; filename="{fallback}"'
    if fallback != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


async def open_original(store: ObjectStore, key: str) -> tuple[int | None, AsyncIterator[bytes]]:
    """The original's size (None if the store did not say) and its bytes as they arrive from the store,
    a chunk at a time (never the whole file in memory); ObjectNotFound before any byte is sent."""

    def get() -> Any:
        try:
            return store.client.get_object(store.originals, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                raise ObjectNotFound(f"{store.originals}/{key}") from None
            raise

    stored = await asyncio.to_thread(get)
    length = stored.headers.get("content-length")

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(stored.read, ORIGINAL_CHUNK_BYTES):
                yield chunk
        finally:
            stored.close()
            stored.release_conn()

    return (int(length) if length is not None else None), chunks()


@router.get(
    "/assets/{asset_id}/original",
    response_class=Response,
    responses={
        200: {
            "content": {
                media_type: {"schema": {"type": "string", "format": "binary"}}
                for media_type in sorted({*ORIGINAL_MEDIA_TYPES.values(), UNKNOWN_MEDIA_TYPE})
            },
            "description": "the file as it was imported, byte for byte, as an attachment under its file name",
        },
        **UNAUTHORIZED,
        404: refusal("no such asset"),
    },
)
async def get_original(asset_id: uuid.UUID, request: Request, subject: Subject) -> Response:
    """Download the original file of an asset, as imported (`Content-Disposition: attachment` with its file
    name, the media type of its format). Streamed from the object store, so a large file is never held in
    memory. Quarantined files are not assets: 404, as for an id of another workspace."""
    runtime = _runtime(request)
    original = await repository.original(runtime.pool, subject, asset_id)
    if original is None:
        raise HTTPException(404, "no such asset")
    assert runtime.store is not None
    try:
        length, body = await open_original(runtime.store, original.key)
    except ObjectNotFound:
        raise HTTPException(404, "no such asset") from None
    headers = {
        "Content-Disposition": attachment(original.filename),
        "Cache-Control": "private, max-age=86400",
        # the bytes are the user's, whatever they claim to be: never sniffed into something a browser runs
        "X-Content-Type-Options": "nosniff",
    }
    if length is not None:
        headers["Content-Length"] = str(length)
    media_type = ORIGINAL_MEDIA_TYPES.get(original.format or "", UNKNOWN_MEDIA_TYPE)
    return StreamingResponse(body, media_type=media_type, headers=headers)
