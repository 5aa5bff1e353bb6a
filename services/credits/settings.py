from __future__ import annotations

from libs.common.settings import CommonSettings


class CreditsSettings(CommonSettings):
    service_name: str = "credits"
    http_port: int = 8003
