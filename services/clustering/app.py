"""The clustering service: keeps every tenant's sessions up to date."""

from __future__ import annotations

from pathlib import Path

from libs.common.events import Topics
from libs.common.internal import require_internal_caller
from libs.common.runtime import ServiceRuntime
from services.clustering import curation
from services.clustering.curation_endpoints import router as curation_router
from services.clustering.endpoints import router as session_edits_router
from services.clustering.handlers import ImportedHandler, TimelineCache
from services.clustering.repository import SCHEMA
from services.clustering.settings import ClusteringSettings


def build(settings: ClusteringSettings | None = None) -> ServiceRuntime:
    settings = settings or ClusteringSettings()
    runtime = ServiceRuntime(settings, schema=SCHEMA, migrations_dir=Path(__file__).parent / "migrations")
    # one cache for the consumer and the internal API: both change timelines under the tenant's row lock
    cache = TimelineCache(settings.timeline_cache_size)
    runtime.consume(
        Topics.ASSET_IMPORTED,
        "clustering",
        ImportedHandler(cache),
        max_records=settings.clustering_batch_size,
    )
    runtime.app.state.runtime = runtime
    runtime.app.state.timeline_cache = cache

    async def backfill_stacks() -> None:
        # sessions from before curation get their stacks once
        await curation.backfill_stacks(runtime.pool)

    runtime.on_start(backfill_stacks)
    # only our services may call it: it trusts the tenant id in the path (libs/common/internal.py)
    runtime.app.include_router(session_edits_router, dependencies=[require_internal_caller(settings)])  # type: ignore[list-item]
    # flags and stack edits, the same way
    runtime.app.include_router(curation_router, dependencies=[require_internal_caller(settings)])  # type: ignore[list-item]
    return runtime
