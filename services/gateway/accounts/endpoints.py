"""Routes: sign up, sign in and out, who am I, API tokens (`/api/v1`)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.gateway.accounts import schemas, service, slowdown
from services.gateway.auth import (
    COOKIE,
    SIGNED_IN_COOKIE,
    AuthSubject,
    authenticate,
    csrf_refusal,
    subject_for_session,
    subject_for_token,
)
from services.gateway.endpoints import UNAUTHORIZED, UNREADABLE_BODY, Responses, refusal
from services.gateway.settings import GatewaySettings

router = APIRouter(prefix="/api/v1", tags=["accounts"])
Subject = Annotated[AuthSubject, Depends(authenticate)]

FOREIGN_ORIGIN: Responses = {403: refusal("the request comes from another site's page (CSRF)")}
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def _pool(request: Request) -> asyncpg.Pool:
    return request.app.state.runtime.pool


def _settings(request: Request) -> GatewaySettings:
    return request.app.state.runtime.settings


def _policy(settings: GatewaySettings) -> slowdown.Policy:
    return slowdown.Policy(
        window=timedelta(minutes=settings.sign_in_window_minutes),
        per_email=settings.sign_in_failures_per_email,
        per_address=settings.sign_in_failures_per_address,
        first_wait_seconds=settings.sign_in_first_wait_seconds,
    )


def forwarded_client(direct: str, forwarded_for: str, hops: int) -> str:
    """The client's address: the connection's (`direct`), or behind `hops` proxies of ours, the address
    the outermost of them saw: X-Forwarded-For read from the right, since each proxy appends the
    address it got the request from and entries further left are whatever the client chose to send."""
    if hops <= 0:
        return direct
    forwarded = [a.strip() for a in forwarded_for.split(",") if a.strip()]
    if not forwarded:
        return direct
    return forwarded[-hops] if len(forwarded) >= hops else forwarded[0]


def client_address(request: Request) -> str:
    """Where a sign-in comes from, for its slow-down (`ATELIER_TRUSTED_PROXY_HOPS`)."""
    direct = request.client.host if request.client else "unknown"
    return forwarded_client(
        direct, request.headers.get("x-forwarded-for", ""), _settings(request).trusted_proxy_hops
    )


def _login_csrf(request: Request) -> None:
    """Sign-up and sign-in carry no cookie yet; a foreign page could still sign a visitor into an
    account of its own (login CSRF), so an `Origin` they carry must be ours too."""
    if request.headers.get("origin") is not None and (reason := csrf_refusal(request)) is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, reason)


def _secure_cookie(request: Request) -> bool:
    """Secure everywhere except plain HTTP to this machine (`make run`, tests), where a browser
    would refuse to store a Secure cookie at all."""
    public = _settings(request).public_origin
    if public:
        return public.lower().startswith("https:")
    return not (request.url.scheme == "http" and (request.url.hostname or "") in LOCAL_HOSTS)


def _me(subject: AuthSubject) -> dict[str, Any]:
    return schemas.Me(
        account_id=subject.account_id, email=subject.email, name=subject.name, workspace_id=subject.tenant_id,
        tenant_id=subject.tenant_id, tenant=subject.tenant_name, time_zone=subject.time_zone,
    ).model_dump(mode="json")  # fmt: skip


async def _signed_in(request: Request, subject: AuthSubject, status_code: int = 200) -> JSONResponse:
    settings = _settings(request)
    lifetime = timedelta(days=settings.session_days)
    pool = _pool(request)
    # a session this browser already had ends: one sign-in, one live session per cookie
    if previous := request.cookies.get(COOKIE):
        await service.end_session(pool, previous)
    session_id = await service.start_session(pool, subject.tenant_id, subject.account_id, lifetime)
    response = JSONResponse(_me(subject), status_code=status_code)
    response.set_cookie(COOKIE, session_id, max_age=int(lifetime.total_seconds()), path="/", httponly=True,
                        secure=_secure_cookie(request), samesite="lax")  # fmt: skip
    # a companion the page's script can see (it holds no secret): the web app asks `/me` only when it is
    # there, so a signed-out visit makes no request that can only fail
    response.set_cookie(SIGNED_IN_COOKIE, "1", max_age=int(lifetime.total_seconds()), path="/",
                        secure=_secure_cookie(request), samesite="lax")  # fmt: skip
    return response


@router.post(
    "/accounts",
    status_code=201,
    response_model=schemas.Me,
    responses={**UNREADABLE_BODY, **FOREIGN_ORIGIN, 409: refusal("this email cannot be used to sign up")},
)
async def sign_up(body: schemas.SignUp, request: Request) -> JSONResponse:
    """Make an account and its workspace, and sign in (the session cookie). A password too weak is
    a 422 saying why; an email that already has an account is a 409 that says nothing more."""
    _login_csrf(request)
    pool = _pool(request)
    try:
        account = await service.create_account(pool, body.email, body.name, body.password)
    except service.WeakPassword as exc:  # the schema checks first; this is the service's own guard
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "password"), "msg": str(exc), "input": None}]
        ) from None
    except service.EmailTaken:
        raise HTTPException(409, "this email cannot be used to sign up") from None
    return await _signed_in(request, await service.subject_of(pool, account), status_code=201)


@router.post(
    "/login",
    response_model=schemas.Me,
    responses={
        **UNAUTHORIZED, **UNREADABLE_BODY, **FOREIGN_ORIGIN,
        429: refusal("too many failed sign-ins for this email or address; wait `Retry-After` seconds"),
    },
)  # fmt: skip
async def login(body: schemas.SignIn, request: Request) -> JSONResponse:
    """Sign in with an email and a password, or with an API token: either way the answer sets a
    browser session cookie (HttpOnly, SameSite=Lax, Secure outside plain-HTTP localhost), never the
    token itself. Failed password sign-ins are slowed down per email and per address (429)."""
    _login_csrf(request)
    pool = _pool(request)
    if body.token is not None:
        subject = await subject_for_token(pool, body.token)
        if subject is None:
            raise HTTPException(401, "invalid API token", headers={"WWW-Authenticate": "Bearer"})
        return await _signed_in(request, subject)
    assert body.email is not None and body.password is not None
    try:
        account = await service.check_password(pool, body.email, body.password, client_address(request),
                                               _policy(_settings(request)))  # fmt: skip
    except service.SlowDown as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
    except service.BadCredentials:
        raise HTTPException(401, "wrong email or password") from None
    return await _signed_in(request, await service.subject_of(pool, account))


@router.post("/logout", response_model=schemas.LoggedOut, responses=FOREIGN_ORIGIN)
async def logout(request: Request) -> JSONResponse:
    """End this browser's session (server side: the cookie stops working even if kept)."""
    session_id = request.cookies.get(COOKIE)
    if session_id:
        pool = _pool(request)
        if await subject_for_session(pool, session_id) is not None and (reason := csrf_refusal(request)):
            raise HTTPException(status.HTTP_403_FORBIDDEN, reason)
        await service.end_session(pool, session_id)
    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE, path="/", httponly=True, secure=_secure_cookie(request), samesite="lax")
    response.delete_cookie(SIGNED_IN_COOKIE, path="/", secure=_secure_cookie(request), samesite="lax")
    return response


@router.get("/me", response_model=schemas.Me, responses=UNAUTHORIZED)
async def me(subject: Subject) -> dict[str, Any]:
    """Who is signed in: the account (null fields for a token-only workspace) and its workspace."""
    return _me(subject)


def _token_info(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["token_id"], "label": row["label"], "prefix": row["prefix"], "created_at": row["created_at"],
            "last_used_at": row["last_used_at"]}  # fmt: skip


@router.post(
    "/tokens", status_code=201, response_model=schemas.NewToken,
    responses={**UNAUTHORIZED, **UNREADABLE_BODY, **FOREIGN_ORIGIN},
)  # fmt: skip
async def create_token(body: schemas.TokenRequest, request: Request, subject: Subject) -> dict[str, Any]:
    """A new API token for this workspace; the answer is the only time it is shown."""
    token, row = await service.create_token(_pool(request), subject, body.label)
    return {**_token_info(row), "token": token}


@router.get("/tokens", response_model=list[schemas.TokenInfo], responses=UNAUTHORIZED)
async def list_tokens(request: Request, subject: Subject) -> list[dict[str, Any]]:
    """This workspace's tokens: label, first characters, when made and last used (never the token)."""
    return [_token_info(r) for r in await service.list_tokens(_pool(request), subject)]


@router.delete(
    "/tokens/{token_id}", status_code=204,
    responses={**UNAUTHORIZED, **FOREIGN_ORIGIN, 404: refusal("no such token")},
)  # fmt: skip
async def revoke_token(token_id: uuid.UUID, request: Request, subject: Subject) -> Response:
    """Revoke a token: its next request is a 401."""
    if not await service.revoke_token(_pool(request), subject, token_id):
        raise HTTPException(404, "no such token")
    return Response(status_code=204)
