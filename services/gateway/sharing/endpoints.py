"""Routes: saved searches and share links for the owner (`/api/v1`, authenticated), and the public
read-only view a share link opens (`/s/{token}`, no authentication).

The public routes are GETs only and never look at a cookie or a Bearer token: the token in the path
is the whole credential, so there is nothing for a foreign page to forge (no CSRF check applies).
They answer 404 alike for a token that is unknown, expired or revoked, and for anything that is not
the link's one session (another session's asset id included).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from services.gateway.accounts.endpoints import FOREIGN_ORIGIN
from services.gateway.auth import AuthSubject, authenticate
from services.gateway.endpoints import (
    UNAUTHORIZED,
    UNREADABLE_BODY,
    Responses,
    asset_json,
    refusal,
    session_json,
    thumbnail_response,
    time_zone_of,
)
from services.gateway.pagination import NOT_MODIFIED, SessionAssetsCursor, encode_cursor, page, position
from services.gateway.sharing import schemas, service
from services.gateway.web_app import app_page

router = APIRouter(prefix="/api/v1", tags=["sharing"])
public = APIRouter(prefix="/s", tags=["shared"])
Subject = Annotated[AuthSubject, Depends(authenticate)]

NO_SESSION: Responses = {404: refusal("no such session")}
NO_LINK: Responses = {404: refusal("no such link, or it expired or was revoked")}
# a shared page must not hand its token to the sites it links to, nor be indexed or cached on the way
PUBLIC_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Cache-Control": "no-store",
}

# the shared page runs the app's own script and reaches nothing but this site (its JSON and thumbnails)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.runtime.pool


# --- saved searches -----------------------------------------------------------------------------------


def _search_info(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["search_id"],
        "name": row["name"],
        "query": row["query"],
        "created_at": row["created_at"],
    }


@router.post(
    "/searches", status_code=201, response_model=schemas.SavedSearch,
    responses={**UNAUTHORIZED, **UNREADABLE_BODY, **FOREIGN_ORIGIN,
               409: refusal("the name is taken in this workspace, or it has as many saved searches as it may")},
)  # fmt: skip
async def create_search(
    body: schemas.SavedSearchRequest, request: Request, subject: Subject
) -> dict[str, Any]:
    """Save a gallery query under a name (unique in the workspace; at most 200 per workspace)."""
    query = body.query.model_dump(mode="json", by_alias=True, exclude_none=True)
    try:
        row = await service.save_search(_pool(request), subject, body.name, query)
    except (service.NameTaken, service.TooMany) as exc:
        raise HTTPException(409, str(exc)) from None
    return _search_info(row)


@router.get("/searches", response_model=list[schemas.SavedSearch], responses=UNAUTHORIZED)
async def list_searches(request: Request, subject: Subject) -> list[dict[str, Any]]:
    """The workspace's saved searches, oldest first (one page: there are at most 200)."""
    return [_search_info(r) for r in await service.saved_searches(_pool(request), subject)]


@router.delete(
    "/searches/{search_id}", status_code=204,
    responses={**UNAUTHORIZED, **FOREIGN_ORIGIN, 404: refusal("no such saved search")},
)  # fmt: skip
async def delete_search(search_id: uuid.UUID, request: Request, subject: Subject) -> Response:
    if not await service.delete_search(_pool(request), subject, search_id):
        raise HTTPException(404, "no such saved search")
    return Response(status_code=204)


# --- share links, the owner's side --------------------------------------------------------------------


def _share_info(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["share_id"], "session_id": row["session_id"], "prefix": row["prefix"],
            "show_prompts": row["show_prompts"], "created_at": row["created_at"], "expires_at": row["expires_at"]}  # fmt: skip


def _link(request: Request, token: str) -> str:
    public_origin = request.app.state.runtime.settings.public_origin
    origin = public_origin or f"{request.url.scheme}://{request.url.netloc}"
    return f"{origin.rstrip('/')}/s/{token}"


@router.post(
    "/sessions/{session_id}/share", status_code=201, response_model=schemas.NewShare,
    responses={**UNAUTHORIZED, **UNREADABLE_BODY, **FOREIGN_ORIGIN, **NO_SESSION},
)  # fmt: skip
async def share_session(
    session_id: uuid.UUID, body: schemas.ShareRequest, request: Request, subject: Subject
) -> dict[str, Any]:
    """A link that shows this session, read-only, to anyone who has it, for `expires_in_days`; the
    answer is the only time its token is shown. Prompts only when `show_prompts`."""
    try:
        token, row = await service.create_share(_pool(request), subject, session_id, days=body.expires_in_days,
                                                show_prompts=body.show_prompts)  # fmt: skip
    except service.NoSuchSession:
        raise HTTPException(404, "no such session") from None
    return {**_share_info(row), "url": _link(request, token), "token": token}


@router.get(
    "/sessions/{session_id}/shares",
    response_model=list[schemas.ShareInfo],
    responses={**UNAUTHORIZED, **NO_SESSION},
)
async def list_shares(session_id: uuid.UUID, request: Request, subject: Subject) -> list[dict[str, Any]]:
    """The session's links (those made for sessions merged into it too), expired ones included; the
    token's first characters only."""
    try:
        rows = await service.shares_of_session(_pool(request), subject, session_id)
    except service.NoSuchSession:
        raise HTTPException(404, "no such session") from None
    return [_share_info(r) for r in rows]


@router.delete(
    "/shares/{share_id}", status_code=204,
    responses={**UNAUTHORIZED, **FOREIGN_ORIGIN, 404: refusal("no such link")},
)  # fmt: skip
async def revoke_share(share_id: uuid.UUID, request: Request, subject: Subject) -> Response:
    """Revoke a link: its next visit is a 404."""
    if not await service.revoke_share(_pool(request), subject, share_id):
        raise HTTPException(404, "no such link")
    return Response(status_code=204)


# --- the public view a link opens (no authentication) -------------------------------------------------


async def _open(request: Request, token: str) -> service.Share:
    share = await service.open_share(_pool(request), token)
    if share is None:
        raise HTTPException(404, "no such link, or it expired or was revoked", headers=PUBLIC_HEADERS)
    return share


def _shared_thumb(token: str, asset_id: Any, size: str = "card") -> str:
    return f"/s/{token}/assets/{asset_id}/thumbnail?size={size}"


def _shared_asset(token: str, share: service.Share, asset: Any) -> dict[str, Any]:
    item = asset_json(asset)
    # the owner's: the session is the link's, and flags are not shown to visitors
    item.pop("session_id", None)
    item.pop("flag", None)
    item["thumbnail_url"] = _shared_thumb(token, asset["asset_id"])
    item["detail_url"] = _shared_thumb(token, asset["asset_id"], "detail")
    if not share.show_prompts:
        for hidden in ("prompt", "negative_prompt", "filename", "loras"):
            item.pop(hidden, None)
    return item


async def _shared_doc(request: Request, token: str) -> dict[str, Any]:
    share = await _open(request, token)
    found = await service.shared_session(_pool(request), share)
    if found is None:
        raise HTTPException(404, "no such link, or it expired or was revoked", headers=PUBLIC_HEADERS)
    row, assets = found
    card = session_json({**row, **service.shown_card(row, assets)}, datetime.now(UTC),
                        time_zone_of(share.subject.time_zone))  # fmt: skip
    doc = {k: card[k] for k in ("start", "end", "asset_count", "precision", "updated_at")}
    summary = dict(card["summary"])
    if not share.show_prompts:
        summary.pop("phrases", None)
    doc["summary"] = summary
    doc["reflection_summary"] = card["reflection_summary"] if share.show_prompts else None
    doc["show_prompts"] = share.show_prompts
    doc["cover"] = [{"asset_id": c["asset_id"], "thumbnail_url": _shared_thumb(token, c["asset_id"])}
                    for c in card["cover"]]  # fmt: skip
    items = [_shared_asset(token, share, asset) for asset in assets]
    doc["assets"] = items
    return doc


# both answer their own JSONResponse (the public headers): `response_model` documents the body
@public.get("/{token}/session", response_model=schemas.SharedSession, responses=NO_LINK)
async def shared_session(token: str, request: Request) -> JSONResponse:
    """The shared session, read-only: its card fields and its assets in time order, with thumbnails;
    prompts (and file names, prompt phrases, the reflection summary) only if the owner allowed them."""
    return JSONResponse(await _shared_doc(request, token), headers=PUBLIC_HEADERS)


@public.get(
    "/{token}/assets", response_model=list[schemas.SharedAsset], responses={**NO_LINK, **NOT_MODIFIED}
)
async def shared_assets(
    token: str,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: SessionAssetsCursor = None,
) -> Response:
    """The shared session's assets in generation order, a page at a time (`X-Next-Cursor` and a weak
    ETag, as `GET /api/v1/sessions/{id}/assets`), for a session too large for one answer."""
    share = await _open(request, token)
    rows = await service.shared_assets(
        _pool(request), share, limit=limit + 1, after=position("session-assets", cursor)
    )
    if rows is None:
        raise HTTPException(404, "no such link, or it expired or was revoked", headers=PUBLIC_HEADERS)
    last, rows = (rows[limit - 1] if len(rows) > limit else None), rows[:limit]
    next_cursor = encode_cursor("session-assets", last["generated_at"], last["asset_id"]) if last else None
    response = page(request, [_shared_asset(token, share, a) for a in rows], next_cursor)
    response.headers.update({k: v for k, v in PUBLIC_HEADERS.items() if k != "Cache-Control"})
    return response


@public.get(
    "/{token}/assets/{asset_id}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/webp": {}}, "description": "the thumbnail, WebP"},
               404: refusal("no such link, or the asset is not in its session, or has no thumbnail (yet)")},
)  # fmt: skip
async def shared_thumbnail(
    token: str,
    asset_id: uuid.UUID,
    request: Request,
    size: Annotated[str, Query(pattern="^(card|detail)$")] = "card",
) -> Response:
    """A thumbnail of one of the shared session's assets (any other asset is a 404)."""
    share = await _open(request, token)
    row = await service.shared_asset(_pool(request), share, asset_id)
    response = await thumbnail_response(request.app.state.runtime, row, size, cache_control="no-store")
    response.headers.update({k: v for k, v in PUBLIC_HEADERS.items() if k != "Cache-Control"})
    return response


@public.get(
    "/{token}", response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}, "description": "the shared session as a page"},
               404: {"content": {"text/html": {}}, "description": "no such link, or it expired or was revoked"}},
)  # fmt: skip
async def shared_page(token: str, request: Request) -> Response:
    """The shared session as the web app's read-only page (it reads `/s/{token}/session` and
    `/s/{token}/assets`). A link that is unknown, expired or revoked answers 404 with the same page,
    which says so: a person followed it."""
    try:
        await _open(request, token)
    except HTTPException as refused:
        return app_page(refused.status_code, {**PUBLIC_HEADERS, "Content-Security-Policy": CSP})
    return app_page(200, {**PUBLIC_HEADERS, "Content-Security-Policy": CSP})
