"""Service-to-service calls (`/internal/v1/...`): the gateway asks an owner to change its data.

These routes trust the tenant id in the request, so only our own services may call them.
Network policy keeps them off the public path; a shared token (`ATELIER_INTERNAL_TOKEN`,
from a Secret) makes that a second lock. Without the setting (one machine, `make run`, tests)
the services bind to 127.0.0.1 and no token is asked for.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Depends, HTTPException, Request

from libs.common.settings import CommonSettings

HEADER = "X-Atelier-Internal-Token"


def internal_headers(settings: CommonSettings) -> dict[str, str]:
    return {HEADER: settings.internal_token} if settings.internal_token else {}


def require_internal_caller(settings: CommonSettings) -> Any:
    """A FastAPI dependency refusing callers without the shared token (when one is configured)."""

    async def check(request: Request) -> None:
        expected = settings.internal_token
        if expected and not hmac.compare_digest(request.headers.get(HEADER, ""), expected):
            raise HTTPException(401, "internal route: missing or wrong service token")

    return Depends(check)
