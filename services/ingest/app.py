"""The ingest service: turns staged uploads into assets."""

from __future__ import annotations

from pathlib import Path

from libs.common.events import Topics
from libs.common.runtime import ServiceRuntime
from services.ingest.folders import FolderWatcher
from services.ingest.folders_api import internal_folders_router
from services.ingest.handlers import UploadedHandler
from services.ingest.lanes import InteractiveFirst
from services.ingest.repository import SCHEMA
from services.ingest.settings import IngestSettings


def build(settings: IngestSettings | None = None) -> ServiceRuntime:
    settings = settings or IngestSettings()
    runtime = ServiceRuntime(
        settings, schema=SCHEMA, migrations_dir=Path(__file__).parent / "migrations", uses_store=True
    )
    assert runtime.store is not None
    turns = InteractiveFirst()
    uploaded = UploadedHandler(settings, runtime.store, turns)
    uploaded_bulk = UploadedHandler(settings, runtime.store, turns, bulk=True)
    # Two lanes, consumed side by side by every replica (README "Fair imports"): interactive uploads
    # never queue behind an archive, a connected folder or a busy workspace's backlog in the bulk lane.
    # Two groups, so a rebalance of one lane (a replica joining) never pauses the other; one inbox. On a
    # replica, the bulk lane yields the CPU to the interactive lane (lanes.py).
    # (Spelled out: tests/unit/test_manifests.py checks each consumed topic and group has a KEDA trigger.)
    batch = settings.ingest_batch_size
    runtime.consume(
        Topics.ASSET_UPLOADED, "ingest", uploaded, max_records=batch, on_poison=uploaded.set_aside
    )
    runtime.consume(
        Topics.ASSET_UPLOADED_BULK,
        "ingest-bulk",
        uploaded_bulk,
        max_records=batch,
        on_poison=uploaded_bulk.set_aside,
    )
    # connected folders: every replica watches its share (see folders.py); the gateway registers them here
    folder_watcher = FolderWatcher(settings, runtime)
    runtime.app.state.folder_watcher = folder_watcher
    runtime.on_start(folder_watcher.start)
    runtime.on_stop(folder_watcher.stop)
    runtime.app.include_router(internal_folders_router(runtime, settings))
    return runtime
