"""Field-by-field scoring against ../shared/corpus/real/EXPECTED.json (shared by the test and the bench).

A value is scored per file for: tool, prompt, negative_prompt (first 200 characters, as
EXPECTED was cut), seed, model, sampler, steps, cfg, width, height and the timestamp.
EXPECTED lists only times embedded in the file, so a time we derived from the file *name*
(or folder/mtime) counts as "no embedded time" here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from services.ingest.metadata.timestamps import parse_time_text

CORPUS = Path(__file__).resolve().parents[3].parent / "shared/corpus/real"
EXPECTED_FILE = CORPUS / "EXPECTED.json"
FIELDS = (
    "tool",
    "prompt",
    "negative_prompt",
    "seed",
    "model",
    "sampler",
    "steps",
    "cfg",
    "width",
    "height",
    "timestamp",
)
FALLBACK_SOURCES = ("filename:", "folder:", "file_mtime")


@dataclass
class Miss:
    file: str
    field: str
    expected: Any
    got: Any


def load_expected() -> dict[str, dict[str, Any]]:
    return json.loads(EXPECTED_FILE.read_text())


def score_file(name: str, expected: dict[str, Any], got: dict[str, Any]) -> tuple[int, list[Miss]]:
    """Number of fields scored and the misses, for one file; `got` uses the to_json() keys."""
    misses = []
    for field in FIELDS:
        want = expected.get(field)
        if field == "tool" and want == "_negative":
            want = None
        if field == "timestamp":
            ok, have = _time_matches(want, got)
        else:
            have = got.get(field)
            ok = _value_matches(field, want, have)
        if not ok:
            misses.append(Miss(name, field, want, have))
    return len(FIELDS), misses


def _value_matches(field: str, want: Any, have: Any) -> bool:
    if want is None or have is None:
        return want is None and have is None
    if field in ("prompt", "negative_prompt"):
        return isinstance(have, str) and have[:200] == want
    if field == "cfg":
        try:
            return abs(float(have) - float(want)) < 1e-6
        except (TypeError, ValueError):
            return False
    if field in ("seed", "steps", "width", "height"):
        return isinstance(have, int) and have == int(want)
    return have == want


def _time_matches(want: str | None, got: dict[str, Any]) -> tuple[bool, Any]:
    source = got.get("timestamp_source") or ""
    have = got.get("generated_at") if not source.startswith(FALLBACK_SOURCES) else None
    if want is None or have is None:
        return want is None and have is None, have
    expected = parse_time_text(want)
    mine = datetime.fromisoformat(have)
    if isinstance(expected, datetime):
        return abs((mine - expected).total_seconds()) < 1.0, have
    if isinstance(expected, date):
        return mine.date() == expected and got.get("timestamp_precision") == "day", have
    return False, have


def format_misses(misses: list[Miss]) -> str:
    lines = [f"{'file':<60} {'field':<16} {'expected':<40} got"]
    for m in misses:
        lines.append(f"{m.file[:60]:<60} {m.field:<16} {str(m.expected)[:40]!s:<40} {str(m.got)[:60]}")
    return "\n".join(lines)
