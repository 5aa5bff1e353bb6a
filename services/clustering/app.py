"""The clustering service: keeps every tenant's sessions up to date."""

from __future__ import annotations

from pathlib import Path

from libs.common.events import Topics
from libs.common.runtime import ServiceRuntime
from services.clustering.handlers import ImportedHandler, TimelineCache
from services.clustering.repository import SCHEMA
from services.clustering.settings import ClusteringSettings


def build(settings: ClusteringSettings | None = None) -> ServiceRuntime:
    settings = settings or ClusteringSettings()
    runtime = ServiceRuntime(settings, schema=SCHEMA, migrations_dir=Path(__file__).parent / "migrations")
    runtime.consume(Topics.ASSET_IMPORTED, "clustering", ImportedHandler(TimelineCache(settings.timeline_cache_size)),
                    max_records=settings.clustering_batch_size)
    return runtime
