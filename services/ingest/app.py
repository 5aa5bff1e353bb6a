"""The ingest service: turns staged uploads into assets."""

from __future__ import annotations

from pathlib import Path

from libs.common.events import Topics
from libs.common.runtime import ServiceRuntime
from services.ingest.handlers import UploadedHandler
from services.ingest.repository import SCHEMA
from services.ingest.settings import IngestSettings


def build(settings: IngestSettings | None = None) -> ServiceRuntime:
    settings = settings or IngestSettings()
    runtime = ServiceRuntime(settings, schema=SCHEMA, migrations_dir=Path(__file__).parent / "migrations",
                             uses_store=True)
    assert runtime.store is not None
    runtime.consume(Topics.ASSET_UPLOADED, "ingest", UploadedHandler(settings, runtime.store),
                    max_records=settings.ingest_batch_size)
    return runtime
