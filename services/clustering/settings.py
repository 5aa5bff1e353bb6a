from __future__ import annotations

from libs.common.settings import CommonSettings


class ClusteringSettings(CommonSettings):
    service_name: str = "clustering"
    http_port: int = 8002
    clustering_batch_size: int = 500
    # tenants whose timelines stay in memory; the least recently used is dropped past this
    timeline_cache_size: int = 1000
