"""The result of reading one image: `GenerationRecord`, and the one error type readers raise.

Every reader in this package fills a `GenerationRecord`; the ingest service stores it and the
CLI prints `to_json()`. `MetadataError` carries a reason a user can read ("PNG chunk tEXt at
byte 33 is longer than the file"); `read_generation` turns it into `record.error`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from libs.common.text import clean_text

# tool ids the product knows; None means "not an AI image as far as we can tell"
TOOLS = (
    "a1111",
    "comfyui",
    "novelai",
    "invokeai",
    "fooocus",
    "swarmui",
    "civitai",
    "drawthings",
    "midjourney",
    "easydiffusion",
    "openai",
    "bing_image_creator",
    "firefly",
    "google_gemini",
)


class MetadataError(Exception):
    """A file could not be read; the message is meant for the user."""


@dataclass
class GenerationRecord:
    path: str | None = None
    format: str | None = None  # "PNG" | "JPEG" | "WEBP" | "GIF" | ... or None when not an image
    tool: str | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    model: str | None = None
    sampler: str | None = None
    steps: int | None = None
    cfg: float | None = None
    width: int | None = None
    height: int | None = None
    generated_at: datetime | None = None
    timestamp_source: str | None = None
    timestamp_precision: Literal["second", "day"] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def note_error(self, reason: str) -> None:
        """Keep the first problem as `error`; later ones go to extra["warnings"].

        Reasons quote what they found (exception texts, chunk names), so they are cleaned here like
        all text of the record (see `reader.make_storable`): a note added after reading is clean too."""
        reason = clean_text(reason)
        if self.error is None:
            self.error = reason
        else:
            self.extra.setdefault("warnings", []).append(reason)

    def to_json(self) -> dict[str, Any]:
        """The JSON contract of the CLI and the ingest service (JSON-safe: no NaN, no bytes)."""
        return {
            "path": self.path,
            "format": self.format,
            "tool": self.tool,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "seed": self.seed,
            "model": self.model,
            "sampler": self.sampler,
            "steps": self.steps,
            "cfg": self.cfg,
            "width": self.width,
            "height": self.height,
            "generated_at": self.generated_at.isoformat() if self.generated_at else None,
            "timestamp_source": self.timestamp_source,
            "timestamp_precision": self.timestamp_precision,
            "extra": json_safe(self.extra),
            "raw": json_safe(self.raw),
            "error": self.error,
        }


JSON_SAFE_DEPTH = 64


def json_safe(value: Any, _depth: int = 0) -> Any:
    """Turn anything a reader collected into plain JSON (bytes → hex, NaN → None, depth-capped)."""
    if _depth > JSON_SAFE_DEPTH:
        return None
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes | bytearray):
        return bytes(value[:4096]).hex()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): json_safe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, _depth + 1) for v in value]
    if hasattr(value, "to_dict"):
        return json_safe(value.to_dict(), _depth + 1)
    return str(value)
