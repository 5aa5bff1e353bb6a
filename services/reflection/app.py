"""The reflection service: quotes a session's reflection, and writes it when `reflection.requested`
arrives (analysis of measured facts, then the curator: the configured model through litellm, or the
built-in curator), answering `reflection.completed` or `reflection.failed` through its outbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

from libs.common.events import Topics
from libs.common.internal import require_internal_caller
from libs.common.runtime import ServiceRuntime
from services.reflection.curators import Curator, ModelCurator, from_settings, litellm_module
from services.reflection.endpoints import router
from services.reflection.repository import SCHEMA
from services.reflection.service import ReflectionService
from services.reflection.settings import ReflectionSettings


def build(settings: ReflectionSettings | None = None, curator: Curator | None = None) -> ServiceRuntime:
    settings = settings or ReflectionSettings()
    runtime = ServiceRuntime(
        settings,
        schema=SCHEMA,
        migrations_dir=Path(__file__).parent / "migrations",
        uses_store=settings.reflection_thumbnail_features,
    )
    service = ReflectionService(settings, curator or from_settings(settings), runtime.store)

    async def started() -> None:
        service.pool = runtime.pool
        if isinstance(
            service.curator, ModelCurator
        ):  # litellm's import takes seconds: not on the first quote
            await asyncio.to_thread(litellm_module)

    runtime.on_start(started)
    # one request at a time per batch: each may wait on a model for up to its timeout
    runtime.consume(Topics.REFLECTION_REQUESTED, "reflection", service.handle_requested, max_records=10)
    runtime.app.state.runtime = runtime
    runtime.app.state.reflection = service
    runtime.app.include_router(router, dependencies=[require_internal_caller(settings)])  # type: ignore[list-item]
    return runtime
