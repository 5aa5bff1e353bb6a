"""When was an image generated? Parse time strings and pick the best candidate.

Readers propose `TimeCandidate`s; `pick_generation_time` (pure) chooses by rung, in this order:

1. EMBEDDED   a generation time written into the file by the generator (Midjourney
              `Creation Time`, Civitai `Created Date`, C2PA `c2pa.created.when`, sidecar JSON
              `enqueue_time`/`creation_date`/`created_at`, XMP/EXIF dates of an AI file,
              SwarmUI `date` — day precision)
2. SIGNATURE  the C2PA claim signature time of the manifest holding `c2pa.created`
3. NAME       a time in the file name or its folder (Fooocus, `[datetime]` patterns, date folders)
4. FILE_MTIME the preserved file modification time

Within a rung, candidates keep the order readers proposed them. Times without a zone are
read in the tenant's zone (DST-aware through zoneinfo; an ambiguous wall time takes the
first occurrence, a non-existent one is shifted forward by the gap, as zoneinfo does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from email.utils import parsedate_to_datetime
from enum import IntEnum
from typing import Literal

Precision = Literal["second", "day"]
SECOND: Precision = "second"
DAY: Precision = "day"


class Rung(IntEnum):
    EMBEDDED = 1
    SIGNATURE = 2
    NAME = 3
    FILE_MTIME = 4


@dataclass(frozen=True)
class TimeCandidate:
    rung: Rung
    source: str  # e.g. "png:Creation Time", "c2pa:signature", "filename:fooocus"
    value: datetime | date  # naive datetime = local wall time of the tenant; date = day precision


@dataclass(frozen=True)
class ResolvedTime:
    at: datetime  # always aware
    source: str
    precision: Precision


def pick_generation_time(candidates: list[TimeCandidate], tenant_tz: tzinfo = UTC) -> ResolvedTime | None:
    """The best candidate, made timezone-aware; None when there is none."""
    if not candidates:
        return None
    best = min(enumerate(candidates), key=lambda pair: (pair[1].rung, pair[0]))[1]
    if isinstance(best.value, datetime):
        return ResolvedTime(at=localize(best.value, tenant_tz), source=best.source, precision=SECOND)
    midnight = datetime.combine(best.value, time(0, 0))
    return ResolvedTime(at=localize(midnight, tenant_tz), source=best.source, precision=DAY)


def localize(value: datetime, tenant_tz: tzinfo) -> datetime:
    """Aware as-is; naive = wall time in `tenant_tz`, normalised through UTC so DST gaps resolve."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value
    aware = value.replace(tzinfo=tenant_tz)
    return aware.astimezone(UTC).astimezone(tenant_tz)


# --------------------------------------------------------------------------- parsing

_ISO = re.compile(
    r"^\s*(\d{4})[-:](\d{2})[-:](\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*$",
    re.IGNORECASE,
)


def parse_time_text(text: str) -> datetime | date | None:
    """ISO 8601 (any number of fractional digits), EXIF `YYYY:MM:DD HH:MM:SS`, RFC 1123, or a date."""
    if not isinstance(text, str) or not text.strip():
        return None
    match = _ISO.match(text)
    if match:
        y, mo, d, h, mi, s, frac, zone = match.groups()
        try:
            if h is None:
                return date(int(y), int(mo), int(d))
            micro = int((frac or "0")[:6].ljust(6, "0"))
            value = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), micro)
        except ValueError:
            return None
        if zone:
            value = value.replace(tzinfo=UTC) if zone.upper() == "Z" else _with_offset(value, zone)
        return value
    try:
        parsed = parsedate_to_datetime(text.strip())  # RFC 1123 / RFC 2822 ("Thu, 25 Jun 2026 01:46:47 GMT")
    except (TypeError, ValueError, IndexError):
        return None
    return parsed


def _with_offset(value: datetime, zone: str) -> datetime:
    return datetime.fromisoformat(value.isoformat() + zone[:3] + ":" + zone[-2:])


# --------------------------------------------------------------------------- names and folders

# Fooocus: outputs/YYYY-MM-DD/YYYY-MM-DD_HH-MM-SS_NNNN.png
_FOOOCUS_NAME = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})_(\d{2})-(\d{2})-(\d{2})_\d+")
_NAME_PATTERNS = (
    # YYYY-MM-DD HH-MM-SS / YYYY-MM-DD_HH-MM-SS / YYYY-MM-DDTHH:MM:SS
    (
        "filename:datetime",
        re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})[ _T](\d{2})[-.:](\d{2})[-.:](\d{2})(?!\d)"),
    ),
    # YYYYMMDD-HHMMSS / YYYYMMDD_HHMMSS
    ("filename:datetime", re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})[-_](\d{2})(\d{2})(\d{2})(?!\d)")),
    # YYYYMMDDHHMMSS (Civitai trainer samples, A1111 [datetime<%Y%m%d%H%M%S>])
    ("filename:datetime", re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?!\d)")),
)
_DATE_FOLDER = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def time_from_filename(filename: str) -> TimeCandidate | None:
    """A wall-clock time encoded in a file name (local time of the machine that wrote it)."""
    stem = filename.rsplit("/", 1)[-1]
    match = _FOOOCUS_NAME.search(stem)
    if match:
        value = _checked(match.groups())
        if value:
            return TimeCandidate(Rung.NAME, "filename:fooocus", value)
    for source, pattern in _NAME_PATTERNS:
        for match in pattern.finditer(stem):
            value = _checked(match.groups())
            if value:
                return TimeCandidate(Rung.NAME, source, value)
    return None


def date_from_folder(folder: str) -> TimeCandidate | None:
    """A `YYYY-MM-DD` folder (Fooocus, many save-path patterns): day precision."""
    name = folder.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    match = _DATE_FOLDER.match(name)
    if not match:
        return None
    try:
        return TimeCandidate(Rung.NAME, "folder:date", date(*map(int, match.groups())))
    except ValueError:
        return None


def _checked(parts: tuple[str, ...]) -> datetime | None:
    """A plausible datetime from digit groups, or None (rejects 2024-13-45 and far years)."""
    y, mo, d, h, mi, s = map(int, parts)
    if not 1990 <= y <= 2100:
        return None
    try:
        return datetime(y, mo, d, h, mi, s)
    except ValueError:
        return None
