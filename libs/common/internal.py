"""Service-to-service calls (`/internal/v1/...`): the gateway asks an owner to change its data.

These routes trust the tenant id in the request, so only our own services may call them.
Network policy keeps them off the public path, and a shared token (`ATELIER_INTERNAL_TOKEN`,
from a Secret in production; made anew by each `make run` and written to
`.atelier/internal_token`) is always asked for: a service without one configured refuses
every internal call, since on one machine any local process could otherwise change any
workspace's data.
"""

from __future__ import annotations

import hmac
from typing import Any

import httpx
from fastapi import Depends, HTTPException, Request

from libs.common.settings import CommonSettings

HEADER = "X-Atelier-Internal-Token"


def internal_headers(settings: CommonSettings) -> dict[str, str]:
    return {HEADER: settings.internal_token} if settings.internal_token else {}


def require_internal_caller(settings: CommonSettings) -> Any:
    """A FastAPI dependency refusing callers without the shared token; with no token configured, everyone."""

    async def check(request: Request) -> None:
        expected = settings.internal_token
        if not expected:
            raise HTTPException(503, "internal route: no service token configured (ATELIER_INTERNAL_TOKEN)")
        if not hmac.compare_digest(request.headers.get(HEADER, "").encode(), expected.encode()):
            raise HTTPException(401, "internal route: missing or wrong service token")

    return Depends(check)


# an owner's refusals carry a reason the user should see: passed on with their status
PASSED_THROUGH = frozenset({400, 403, 404, 409, 422})


async def call_internal(
    settings: CommonSettings, service: str, base_url: str, method: str, path: str, **kwargs: Any
) -> httpx.Response:
    """Call another service's `/internal/v1` route; its refusals become ours, its failures a 502/503."""
    try:
        async with httpx.AsyncClient(
            base_url=base_url, timeout=30.0, headers=internal_headers(settings)
        ) as client:
            response = await client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise HTTPException(503, f"the {service} service is unreachable: {type(exc).__name__}") from None
    if response.status_code in PASSED_THROUGH:
        raise HTTPException(response.status_code, response.json().get("detail", f"refused by {service}"))
    if response.is_error:
        raise HTTPException(502, f"the {service} service answered {response.status_code}")
    return response
