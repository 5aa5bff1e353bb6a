from __future__ import annotations

from libs.common.settings import CommonSettings


class GatewaySettings(CommonSettings):
    service_name: str = "gateway"
    http_port: int = 8000
    # the demo tenant's API token; when unset, a new one is made and printed at start-up
    demo_token: str | None = None
    max_upload_bytes: int = 200 * 1024 * 1024
    # an upload answers once the pipeline has imported its files, or after this many seconds
    # (files still in the pipeline then are reported with "state": "processing")
    upload_wait_seconds: float = 15.0
