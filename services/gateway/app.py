"""The gateway: the one public door (API, auth, the web app)."""

from __future__ import annotations

import logging
from pathlib import Path

from libs.common.runtime import ServiceRuntime
from services.gateway.accounts.endpoints import router as accounts_router
from services.gateway.auth import ensure_tenant, new_token
from services.gateway.credits.endpoints import router as credits_router
from services.gateway.curation.endpoints import router as curation_router
from services.gateway.endpoints import router
from services.gateway.export.endpoints import router as export_router
from services.gateway.folders import router as folders_router
from services.gateway.live import LiveFeed
from services.gateway.live import router as live_router
from services.gateway.reflections.endpoints import router as reflections_router
from services.gateway.session_edits import router as session_edits_router
from services.gateway.settings import GatewaySettings
from services.gateway.sharing.endpoints import public as shared_router
from services.gateway.sharing.endpoints import router as sharing_router
from services.gateway.upload_route import BodyRefused, refuse_body
from services.gateway.web_app import mount_web_app

SCHEMA = "gateway"
DEMO_TENANT = "demo"

log = logging.getLogger(__name__)


def build(settings: GatewaySettings | None = None) -> ServiceRuntime:
    settings = settings or GatewaySettings()
    runtime = ServiceRuntime(
        settings,
        schema=SCHEMA,
        migrations_dir=Path(__file__).parent / "migrations",
        uses_store=True,
        title="Atelier API",
    )
    runtime.app.state.runtime = runtime
    runtime.app.include_router(accounts_router)
    runtime.app.include_router(router)
    # an upload refused while its body still arrives: answered, then the rest drained before closing
    runtime.app.add_exception_handler(BodyRefused, refuse_body)
    runtime.app.include_router(folders_router)
    runtime.app.include_router(session_edits_router)
    runtime.app.include_router(live_router)
    runtime.app.include_router(sharing_router)
    runtime.app.include_router(credits_router)
    runtime.app.include_router(reflections_router)
    runtime.app.include_router(curation_router)
    runtime.app.include_router(export_router)
    runtime.app.include_router(shared_router)  # /s/{token}: public, read-only, no authentication
    mount_web_app(runtime.app)

    async def create_demo_tenant() -> None:
        token = settings.demo_token or new_token()
        await ensure_tenant(runtime.pool, DEMO_TENANT, token)
        if settings.demo_token:
            print(f"demo account: tenant '{DEMO_TENANT}', API token from ATELIER_DEMO_TOKEN", flush=True)
        else:
            print(f"demo account: tenant '{DEMO_TENANT}', API token {token}", flush=True)

    if settings.demo_tenant:
        runtime.on_start(create_demo_tenant)

    # session changes pushed to open pages (GET /api/v1/events)
    live_feed = LiveFeed(settings)
    runtime.app.state.live_feed = live_feed
    runtime.on_start(live_feed.start)
    runtime.on_stop(live_feed.stop)
    return runtime
