"""The reflection service: AI reflections on a session (the model call comes in its own issue)."""

from __future__ import annotations

from pathlib import Path

from libs.common.runtime import ServiceRuntime
from services.reflection.settings import ReflectionSettings

SCHEMA = "reflection"


def build(settings: ReflectionSettings | None = None) -> ServiceRuntime:
    settings = settings or ReflectionSettings()
    return ServiceRuntime(settings, schema=SCHEMA, migrations_dir=Path(__file__).parent / "migrations")
