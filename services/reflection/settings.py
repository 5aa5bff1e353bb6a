from __future__ import annotations

from libs.common.settings import CommonSettings


class ReflectionSettings(CommonSettings):
    service_name: str = "reflection"
    http_port: int = 8004
