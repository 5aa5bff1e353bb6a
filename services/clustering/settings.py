from __future__ import annotations

from libs.common.settings import CommonSettings


class ClusteringSettings(CommonSettings):
    service_name: str = "clustering"
    http_port: int = 8002
    clustering_batch_size: int = 500
    # tenants whose timelines stay in memory; the least recently used is dropped past this
    timeline_cache_size: int = 1000
    # ATELIER_CURATION=false: imports are placed in sessions without lineage, stacks or their events.
    # A benchmark and emergency switch (e.g. a pathological workspace holding up imports), not a mode to
    # run in: sessions changed while it is off keep stale stacks until something touches them again.
    curation: bool = True
