"""`read_generation`: bytes in, `GenerationRecord` out, never an exception.

The pipeline for one file:
1. walk the container (containers.py) → text chunks, EXIF block, XMP packet, C2PA presence, size;
2. decode EXIF (exif.py) and XMP (xmp.py);
3. recognise the tool from those blocks (formats.py); stealth pixels (stealth.py) only for a
   PNG where nothing was found; C2PA (c2pa.py) only when a manifest box is present;
4. pick the generation time from every candidate (timestamps.py), down to the file's mtime.

Damage found on the way is reported in `record.error` (first problem) and
`record.extra["warnings"]`; whatever could still be read is kept.

Every text of the record is cleaned once, at the end (`make_storable`): no NUL, no lone
surrogates (libs/common/text.py), so the record can be stored in PostgreSQL `text`/`jsonb` and
sent in events. Cleaning at the end and not where each block is decoded also catches what JSON
parsing makes of `\u0000` and `\ud800` escapes in ASCII text chunks. Raw text keeps its
information: see `clean_raw`.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from struct import error as struct_error
from typing import Any

from libs.common.text import clean_optional, clean_text

from .containers import ContainerData, read_container
from .exif import read_exif
from .formats import FoundMetadata, read_tool_metadata
from .record import JSON_SAFE_DEPTH, GenerationRecord, MetadataError, json_safe
from .stealth import read_stealth
from .timestamps import (
    Rung,
    TimeCandidate,
    date_from_folder,
    parse_time_text,
    pick_generation_time,
    time_from_filename,
)
from .xmp import parse_xmp

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_SIDECAR_BYTES = 4 * 1024 * 1024
SIDECAR_TIME_KEYS = ("enqueue_time", "creation_date", "created_at")
MIME_TYPES = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "AVIF": "image/avif",
    "HEIC": "image/heic",
}
AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia")
# the record's text fields (the others are numbers, a datetime and a Literal)
TEXT_FIELDS = (
    "path", "format", "tool", "prompt", "negative_prompt", "model", "sampler", "timestamp_source", "error"
)  # fmt: skip
# raw["original_text_utf8_base64"]: where raw text had to be cleaned, its original, losslessly
ORIGINAL_TEXT_KEY = "original_text_utf8_base64"


def read_generation(
    data: bytes,
    *,
    filename: str | None = None,
    folder: str | None = None,
    file_mtime: datetime | None = None,
    tenant_tz: tzinfo = UTC,
    sidecar: dict | None = None,
) -> GenerationRecord:
    """Read the generation metadata of one image. Never raises: problems go to `record.error`."""
    record = GenerationRecord(path=filename)
    embedded: list[TimeCandidate] = []
    try:
        _read_into(record, data, embedded)
    except MetadataError as exc:
        record.note_error(str(exc))
    except Exception as exc:  # the contract: a bad file gives a record, never a crash
        record.note_error(f"unexpected {type(exc).__name__} while reading metadata: {exc}")
    try:
        embedded += _sidecar_times(record, sidecar)
        _resolve_time(record, embedded, filename, folder, file_mtime, tenant_tz)
    except Exception as exc:
        record.note_error(f"unexpected {type(exc).__name__} while resolving the time: {exc}")
    make_storable(record)
    return record


def make_storable(record: GenerationRecord) -> None:
    """Clean every text of `record` in place: text fields, `extra` and `raw`, both made plain JSON
    on the way (as `json_safe` does: no bytes, NaN, datetimes or objects). `raw` keeps what
    cleaning removed (`clean_raw`)."""
    for name in TEXT_FIELDS:
        setattr(record, name, clean_optional(getattr(record, name)))
    record.extra = _storable(record.extra, "", None, 0)
    record.raw = clean_raw(record.raw)


def clean_raw(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` as plain JSON with every string cleaned, and the originals of the strings that changed
    under `raw["original_text_utf8_base64"]`: {JSON pointer of the string: base64 of its UTF-8}.

    Raw chunks stay raw: a text chunk with a NUL in it (or, from a JSON document such as a C2PA
    manifest, a lone surrogate) is kept usable as text in its place, the NUL removed like
    everywhere else, and losslessly beside it. Base64 because PostgreSQL `jsonb` has no way to hold
    a NUL, not even escaped; lone surrogates are encoded with "surrogatepass". Pointers follow
    RFC 6901 (`/png_text/parameters`; "~" and "/" in keys as "~0" and "~1"). Keys are cleaned
    without a copy (PNG keywords and tag names cannot hold a NUL).
    """
    originals: dict[str, str] = {}
    cleaned = _storable(raw, "", originals, 0)
    if not isinstance(cleaned, dict):
        cleaned = {}
    if originals:
        cleaned[ORIGINAL_TEXT_KEY] = originals
    return cleaned


def _clean_key(key: Any) -> str:
    key = str(key)
    return key if key.isascii() and "\x00" not in key else clean_text(key)


def _pointer(pointer: str, key: str) -> str:
    return f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}"


def _plain(value: Any) -> bool:
    """Already storable as it is: the leaves of nearly every document (ASCII text, ints, None)."""
    kind = type(value)
    return (
        value is None
        or kind is int
        or kind is bool
        or (kind is str and value.isascii() and "\x00" not in value)
    )


def _storable(value: Any, pointer: str, originals: dict[str, str] | None, depth: int) -> Any:
    """`json_safe(value)` with every string cleaned, in one walk; with `originals`, the original of
    each string cleaning changed, by its JSON pointer (made only for those: most text is clean)."""
    if isinstance(value, str):
        if _plain(value):
            return value
        cleaned = clean_text(value)
        if originals is not None and cleaned != value:
            encoded = value.encode("utf-8", "surrogatepass")
            originals[clean_text(pointer)] = base64.b64encode(encoded).decode("ascii")
        return cleaned
    if depth > JSON_SAFE_DEPTH:
        return None
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key = str(key)
            if _plain(item):
                out[_clean_key(key)] = item
            else:
                child = "" if originals is None else _pointer(pointer, key)
                out[_clean_key(key)] = _storable(item, child, originals, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [
            item
            if _plain(item)
            else _storable(item, "" if originals is None else f"{pointer}/{i}", originals, depth + 1)
            for i, item in enumerate(value)
        ]
    if hasattr(value, "to_dict"):
        return _storable(value.to_dict(), pointer, originals, depth + 1)
    leaf = json_safe(value)  # float, bytes, datetime or anything else (as text)
    return _storable(leaf, pointer, originals, depth) if isinstance(leaf, str) else leaf


def read_generation_file(path: str | Path, *, tenant_tz: tzinfo = UTC) -> GenerationRecord:
    """Read a file on disk, using its name, folder, mtime and a JSON sidecar next to it."""
    path = Path(path)
    try:
        stat = path.stat()
        if stat.st_size > MAX_FILE_BYTES:
            raise MetadataError(f"file is larger than {MAX_FILE_BYTES} bytes")
        data = path.read_bytes()
    except (OSError, MetadataError) as exc:
        record = GenerationRecord(path=str(path))
        record.note_error(f"could not read file: {exc}")
        return record
    record = read_generation(
        data,
        filename=path.name,
        folder=path.parent.name or None,
        file_mtime=datetime.fromtimestamp(stat.st_mtime, UTC),
        tenant_tz=tenant_tz,
        sidecar=load_sidecar(path),
    )
    record.path = str(path)
    return record


def load_sidecar(path: Path, max_bytes: int = MAX_SIDECAR_BYTES) -> dict[str, Any] | None:
    """`image.png.json` or `image.json` next to the image (archivers, Midjourney job exports),
    when it is at most `max_bytes` and holds a JSON object."""
    for candidate in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        try:
            if candidate.is_file() and candidate.stat().st_size <= max_bytes:
                loaded = json.loads(candidate.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    return loaded
        except (OSError, ValueError, RecursionError):
            continue
    return None


def _read_into(record: GenerationRecord, data: bytes, times: list[TimeCandidate]) -> None:
    if len(data) > MAX_FILE_BYTES:
        raise MetadataError(f"file is larger than {MAX_FILE_BYTES} bytes")
    container = read_container(data)
    record.format, record.width, record.height = container.format, container.width, container.height
    for problem in container.problems:
        record.note_error(problem)
    found = _decode_blocks(record, container)

    times += read_tool_metadata(record, found)
    if container.has_c2pa:
        times += _read_c2pa(record, data, container)
    # pixels are decoded only for a PNG where nothing else named the tool
    if record.tool is None and container.format == "PNG":
        stealth = read_stealth(data, container)
        if stealth is not None:
            record.raw["stealth"] = {
                "mode": stealth.mode,
                "compressed": stealth.compressed,
                "text": stealth.text,
            }
            times += read_tool_metadata(record, FoundMetadata(stealth=stealth.text))
    times += _generator_dates(record, found)


def _decode_blocks(record: GenerationRecord, container: ContainerData) -> FoundMetadata:
    found = FoundMetadata(texts=container.texts, comment=container.comment)
    if container.texts:
        record.raw["png_text"] = container.texts
    if container.png_time:
        record.raw["png_time"] = container.png_time
    if container.comment:
        record.raw["comment"] = container.comment
    if container.exif:
        try:
            found.exif = read_exif(container.exif)
            record.raw["exif"] = found.exif
        except (ValueError, struct_error) as exc:
            record.note_error(f"EXIF block is damaged ({exc})")
    if container.xmp:
        record.raw["xmp"] = container.xmp
        try:
            found.xmp = parse_xmp(container.xmp)
        except MetadataError as exc:
            record.note_error(str(exc))
    return found


def _read_c2pa(record: GenerationRecord, data: bytes, container: ContainerData) -> list[TimeCandidate]:
    try:
        from .c2pa import read_c2pa
    except ImportError:
        record.note_error("C2PA manifest present but the C2PA reader is not installed")
        return []
    try:
        info = read_c2pa(data, MIME_TYPES.get(container.format, "application/octet-stream"))
    except Exception as exc:  # c2pa-python raises its own errors on damaged stores
        record.note_error(f"C2PA manifest could not be read ({exc})")
        return []
    if info is None:
        return []
    record.raw["c2pa"] = info.manifest_store
    record.extra["c2pa"] = {
        "tool": info.tool,
        "model": info.model,
        "claim_generator": info.claim_generator,
        "issuer": info.issuer,
        "actions": info.actions,
        "ingredients": info.ingredients,
    }
    if record.tool is None and info.tool is not None:
        record.tool = info.tool
        record.model = info.model
    if record.tool is None:
        return []  # a camera or editor manifest: its times are not generation times
    times = []
    if info.created_when:
        times.append(TimeCandidate(Rung.EMBEDDED, "c2pa:created.when", info.created_when))
    if info.signed_at:
        times.append(TimeCandidate(Rung.SIGNATURE, "c2pa:signature", info.signed_at))
    return times


def _generator_dates(record: GenerationRecord, found: FoundMetadata) -> list[TimeCandidate]:
    """XMP/EXIF creation dates, only when a generator wrote them (never a camera's own EXIF)."""
    if record.tool is None:
        return []
    times = []
    source_type = str(found.xmp.get("Iptc4xmpExt:DigitalSourceType", ""))
    if any(kind in source_type for kind in AI_SOURCE_TYPES) or found.xmp.get("xmp:CreatorTool"):
        for key in ("photoshop:DateCreated", "xmp:CreateDate", "exif:DateTimeOriginal"):
            value = parse_time_text(str(found.xmp.get(key, "")))
            if value is not None:
                times.append(TimeCandidate(Rung.EMBEDDED, f"xmp:{key}", value))
    make = found.exif.get("Make")
    camera_made = isinstance(make, str) and bool(make.strip()) and "{" not in make
    if not camera_made:
        value = parse_time_text(str(found.exif.get("DateTimeOriginal", "")))
        if value is not None:
            times.append(TimeCandidate(Rung.EMBEDDED, "exif:DateTimeOriginal", value))
    return times


def _sidecar_times(record: GenerationRecord, sidecar: dict | None) -> list[TimeCandidate]:
    if not isinstance(sidecar, dict):
        return []
    record.extra["sidecar_keys"] = sorted(str(k) for k in sidecar)[:100]
    for key in SIDECAR_TIME_KEYS:
        value = sidecar.get(key)
        parsed = parse_time_text(value) if isinstance(value, str) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1e11:
            parsed = datetime.fromtimestamp(value, UTC)
        if parsed is not None:
            return [TimeCandidate(Rung.EMBEDDED, f"sidecar:{key}", parsed)]
    return []


def _resolve_time(
    record: GenerationRecord,
    embedded: list[TimeCandidate],
    filename: str | None,
    folder: str | None,
    file_mtime: datetime | None,
    tenant_tz: tzinfo,
) -> None:
    candidates: list[Any] = list(embedded)
    if filename:
        from_name = time_from_filename(filename)
        if from_name:
            candidates.append(from_name)
    if folder:
        from_folder = date_from_folder(folder)
        if from_folder:
            candidates.append(from_folder)
    if file_mtime is not None:
        candidates.append(TimeCandidate(Rung.FILE_MTIME, "file_mtime", file_mtime))
    resolved = pick_generation_time(candidates, tenant_tz)
    if resolved:
        record.generated_at = resolved.at
        record.timestamp_source = resolved.source
        record.timestamp_precision = resolved.precision
