"""Zip archives in the upload path: one entry at a time, each read under a hard cap.

`expand_zip` takes a seekable binary file (the upload's spool, see spool.py) and yields,
in archive order, either an `IncomingFile` for an entry worth staging or a `RefusedEntry`
saying why an entry (or the whole archive) was refused. An entry's bytes are written to a
temporary file of its own as they are decompressed, hashed on the way, never gathered in
memory; the `IncomingFile` owns that file (closed once the entry is staged). Nothing here
does network or database I/O and nothing raises for a hostile archive: a corrupt or
malicious zip becomes refusals the user can read. Names and sidecar text are cleaned
(libs/common/text.py) before they leave.

What is refused and why:
- names that would leave the archive (`..`, absolute paths, drive letters, backslashes):
  we never write entries to disk, but such a name is a sign of a malicious archive and
  would be misleading as a folder;
- nested archives (by magic bytes, not extension): one level of expansion keeps the
  work per request predictable and closes recursive bombs;
- encrypted entries, symlinks and compression methods the standard library cannot stream;
- bombs: the decompressed size is counted as it streams, never taken from the header,
  and an entry stops as soon as it passes the per-entry cap, the compression-ratio cap
  or the archive's total cap;
- too many entries, and overlapping entries (a zip-bomb construction), for the whole archive.

A small JSON file next to an image (`name.png.json` or `name.json`) is attached to the
image as its sidecar instead of being reported as a file that is not an image.
"""

from __future__ import annotations

import itertools
import json
import posixpath
import stat
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, BinaryIO

from libs.common.text import clean_json, clean_text
from services.gateway.spool import HEAD_BYTES, SpooledBytes, SpoolWriter, new_spool_file
from services.gateway.uploads import IncomingFile

CHUNK_BYTES = 64 * 1024
# the first bytes of an entry we look at to recognise a nested archive (tar's magic is at 257)
SNIFF_BYTES = HEAD_BYTES
# a file name (the last part of a path) is cut to this many characters
MAX_NAME_CHARS = 255
STREAMABLE_METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}
JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini", "Icon\r"}
JUNK_PREFIXES = ("__MACOSX/", "._")
# the zip epoch: many tools write it when they know no time at all
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class ZipLimits:
    max_entries: int = 10_000
    max_entry_bytes: int = 100 * 1024 * 1024
    max_total_bytes: int = 2 * 1024 * 1024 * 1024
    max_ratio: float = 250.0
    # the ratio is judged only once an entry has produced this much: tiny files compress absurdly well
    ratio_floor_bytes: int = 1024 * 1024
    max_sidecar_bytes: int = 64 * 1024


@dataclass(frozen=True)
class RefusedEntry:
    """An entry (or the whole archive, when `name` is empty) that will not be imported."""

    name: str
    reason: str


ArchiveItem = IncomingFile | RefusedEntry


class _Refused(Exception):
    """Why reading one entry stopped; becomes a RefusedEntry."""


class _ArchiveOverLimit(_Refused):
    """The archive's total decompressed size passed its cap: stop reading further entries."""


def is_zip(head: bytes) -> bool:
    """A zip by its first bytes (a local file header, or the end record of an empty archive)."""
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


def nested_archive_kind(head: bytes) -> str | None:
    """The kind of archive or compressed stream these first bytes start, if any."""
    if is_zip(head):
        return "zip"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if head[257:262] == b"ustar":
        return "tar"
    return None


def unsafe_name_reason(name: str) -> str | None:
    """Why an entry name could point outside the archive's own tree; None if it is safe."""
    if "\x00" in name:
        return "entry name contains a NUL byte"
    unified = name.replace("\\", "/")
    if unified.startswith("/"):
        return "absolute path in entry name"
    if len(unified) >= 2 and unified[1] == ":" and unified[0].isalpha():
        return "drive letter in entry name"
    if ".." in unified.split("/"):
        return "path traversal ('..') in entry name"
    return None


def is_junk(name: str) -> bool:
    """Operating-system litter that nobody means to import (skipped without a word)."""
    base = posixpath.basename(name)
    return (
        name.startswith(JUNK_PREFIXES)
        or "/__MACOSX/" in f"/{name}"
        or base in JUNK_NAMES
        or base.startswith("._")
    )


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    # Unix archivers keep the file mode in the high 16 bits of the external attributes
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def entry_mtime(info: zipfile.ZipInfo, zone: tzinfo) -> datetime | None:
    """When the entry was last modified.

    The Info-ZIP extended timestamp (extra field 0x5455) is a real UTC instant; the DOS
    `date_time` has no zone, so it is read as wall-clock time in the tenant's zone
    (archives are usually made on the tenant's own machine).
    """
    extended = _extended_timestamp(info.extra)
    if extended is not None:
        return extended
    if tuple(info.date_time) <= ZIP_EPOCH:
        return None
    try:
        return datetime(*info.date_time, tzinfo=zone)
    except ValueError:  # a DOS date with month 0, second 60 and the like
        return None


def _extended_timestamp(extra: bytes) -> datetime | None:
    offset = 0
    while offset + 4 <= len(extra):
        field_id, size = struct.unpack_from("<HH", extra, offset)
        body = extra[offset + 4 : offset + 4 + size]
        offset += 4 + size
        if field_id == 0x5455 and len(body) >= 5 and body[0] & 1:
            (seconds,) = struct.unpack_from("<i", body, 1)
            if seconds > 0:
                return datetime.fromtimestamp(seconds, UTC)
    return None


def declared_entry_count(fileobj: BinaryIO) -> int | None:
    """The entry count from the end-of-central-directory record, read before `zipfile` builds
    one object per entry (a forged count of millions would otherwise cost memory first)."""
    fileobj.seek(0, 2)
    size = fileobj.tell()
    tail_size = min(size, 22 + 0xFFFF)
    fileobj.seek(size - tail_size)
    tail = fileobj.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    count = struct.unpack_from("<H", tail, at + 10)[0]
    locator = at - 20
    if count == 0xFFFF and locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
        (zip64_end_offset,) = struct.unpack_from("<Q", tail, locator + 8)
        fileobj.seek(zip64_end_offset)
        zip64_end = fileobj.read(56)
        if len(zip64_end) == 56 and zip64_end[:4] == b"PK\x06\x06":
            count = struct.unpack_from("<Q", zip64_end, 32)[0]
    return count


def _overlapping(infos: list[zipfile.ZipInfo]) -> bool:
    """True when one entry's data runs into the next entry's header: the trick that lets a
    small archive expand one compressed block many times over."""
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for this, following in itertools.pairwise(ordered):
        # 30 bytes of local header plus the name: a lower bound for where this entry's data starts
        encoding = "utf-8" if this.flag_bits & 0x800 else "cp437"
        name_length = len(this.orig_filename.encode(encoding, "replace"))
        data_end = this.header_offset + 30 + name_length + this.compress_size
        if following.header_offset < data_end:
            return True
    return False


class _Budget:
    """The archive's decompressed bytes so far, against its total cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def spend(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise _ArchiveOverLimit(f"archive expands beyond {self.limit:,} bytes in total")


def _stream_capped(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    cap: int,
    limits: ZipLimits,
    budget: _Budget,
    *,
    refuse_nested: bool,
) -> Iterator[bytes]:
    """The entry's bytes in chunks, counted as they come (the header's size is not trusted); raises
    _Refused as soon as a cap is passed or the first bytes show an archive."""
    compressed = max(info.compress_size, 1)
    size = 0
    head = bytearray()
    sniffed = not refuse_nested
    with archive.open(info) as member:
        while chunk := member.read(CHUNK_BYTES):
            size += len(chunk)
            budget.spend(len(chunk))
            if not sniffed:
                head += chunk[: SNIFF_BYTES - len(head)]
                if len(head) >= SNIFF_BYTES:
                    _refuse_if_archive(head)
                    sniffed = True
            if size > cap:
                raise _Refused(f"entry expands beyond {cap:,} bytes")
            if size > limits.ratio_floor_bytes and size / compressed > limits.max_ratio:
                raise _Refused(f"compression ratio beyond {limits.max_ratio:g}:1 (a zip bomb?)")
            yield chunk
    if not sniffed:
        _refuse_if_archive(head)


def _read_capped(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, limits: ZipLimits, budget: _Budget
) -> bytes:
    """A small entry's bytes (a sidecar, capped at `max_sidecar_bytes`)."""
    return b"".join(_stream_capped(archive, info, cap, limits, budget, refuse_nested=False))


def _spool_capped(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    limits: ZipLimits,
    budget: _Budget,
    spool_dir: str | None,
) -> SpooledBytes:
    """An image entry's bytes in a temporary file of its own, hashed as they are written."""
    file = new_spool_file(spool_dir)
    try:
        writer = SpoolWriter(file)
        for chunk in _stream_capped(
            archive, info, limits.max_entry_bytes, limits, budget, refuse_nested=True
        ):
            writer.write(chunk)
        return writer.finish(owned=True)
    except BaseException:
        file.close()
        raise


def _refuse_if_archive(head: bytes | bytearray) -> None:
    kind = nested_archive_kind(bytes(head[:SNIFF_BYTES]))
    if kind:
        raise _Refused(f"nested archive ({kind}) is not opened; upload it on its own")


def _sidecar_names(name: str) -> tuple[str, str]:
    """`dir/name.png` -> `dir/name.png.json`, `dir/name.json`."""
    stem, _ = posixpath.splitext(name)
    return name + ".json", stem + ".json"


def _parse_sidecar(data: bytes) -> dict[str, Any]:
    try:
        loaded = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _Refused("sidecar is not valid UTF-8 JSON") from None
    if not isinstance(loaded, dict):
        raise _Refused("sidecar is not a JSON object")
    # JSON escapes can carry NUL ("\u0000") and lone surrogates ("\ud800"): PostgreSQL takes neither
    cleaned: dict[str, Any] = clean_json(loaded)
    return cleaned


def clean_name(name: str, fallback: str = "upload") -> str:
    """A file name fit to store and show: cleaned (libs/common/text.py), cut to MAX_NAME_CHARS."""
    return clean_text(name).strip()[:MAX_NAME_CHARS] or fallback


def expand_zip(
    fileobj: BinaryIO, *, zone: tzinfo, limits: ZipLimits | None = None, spool_dir: str | None = None
) -> Iterator[ArchiveItem]:
    """Yield the archive's entries one at a time: `IncomingFile`s to stage, `RefusedEntry`s with a reason.

    `RefusedEntry.name` is the entry's path inside the archive, or "" when the whole archive is refused.
    Each `IncomingFile`'s bytes are in a temporary file under `spool_dir` that it owns (`body.close()`).
    """
    limits = limits or ZipLimits()
    try:
        count = declared_entry_count(fileobj)
        if count is not None and count > limits.max_entries:
            yield RefusedEntry("", f"archive has {count:,} entries; the limit is {limits.max_entries:,}")
            return
        fileobj.seek(0)
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error) as exc:
        yield RefusedEntry("", f"corrupt zip archive: {exc}")
        return
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            yield RefusedEntry("", f"archive has {len(infos):,} entries; the limit is {limits.max_entries:,}")
            return
        if _overlapping(infos):
            yield RefusedEntry("", "archive entries overlap (a zip bomb construction)")
            return
        yield from _entries(archive, infos, limits, zone, spool_dir)


def _entries(
    archive: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    limits: ZipLimits,
    zone: tzinfo,
    spool_dir: str | None,
) -> Iterator[ArchiveItem]:
    by_name = {info.filename: info for info in infos}
    # a JSON entry that some other entry names as its sidecar travels with that entry, not on its own
    claimed_sidecars = {
        candidate
        for info in infos
        if not (info.is_dir() or is_junk(info.filename) or info.filename.endswith(".json"))
        for candidate in _sidecar_names(info.filename)
        if candidate in by_name
    }
    budget = _Budget(limits.max_total_bytes)
    reported_sidecars: set[str] = set()
    for info in infos:
        name = info.filename
        if info.is_dir() or is_junk(name):
            continue
        reason = _refusal_before_reading(info, limits)
        if reason is None and name in claimed_sidecars:
            continue
        if reason:
            yield RefusedEntry(name, reason)
            continue
        body: SpooledBytes | None = None
        try:
            body = _spool_capped(archive, info, limits, budget, spool_dir)
            sidecar, sidecar_problem = _sidecar_for(archive, name, by_name, limits, budget)
        except _ArchiveOverLimit as exc:
            if body is not None:
                body.close()
            yield RefusedEntry(name, str(exc))
            yield from _refuse_rest(infos, after=info, reason=str(exc), skip=claimed_sidecars)
            return
        except _Refused as exc:
            if body is not None:
                body.close()
            yield RefusedEntry(name, str(exc))
            continue
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            # bad CRC, a header size that lies, a truncated stream, a local header that disagrees
            if body is not None:
                body.close()
            yield RefusedEntry(name, f"corrupt entry: {exc}")
            continue
        except BaseException:
            if body is not None:
                body.close()
            raise
        if sidecar_problem and sidecar_problem[0] not in reported_sidecars:
            reported_sidecars.add(sidecar_problem[0])
            yield RefusedEntry(*sidecar_problem)
        # Windows archivers may separate folders with backslashes
        directory, filename = posixpath.split(clean_text(name).replace("\\", "/"))
        # from here the entry's spool is the consumer's to close
        yield IncomingFile(
            filename=clean_name(filename),
            body=body,
            source="zip",
            folder=directory or None,
            file_mtime=entry_mtime(info, zone),
            sidecar=sidecar,
        )


def _refusal_before_reading(info: zipfile.ZipInfo, limits: ZipLimits) -> str | None:
    """What the central directory alone tells us is wrong with an entry."""
    reason = unsafe_name_reason(info.orig_filename)
    if reason:
        return reason
    if _is_symlink(info):
        return "symbolic link entries are not followed"
    if info.flag_bits & 0x1:
        return "encrypted entry (password-protected archives are not supported)"
    if info.compress_type not in STREAMABLE_METHODS:
        return f"unsupported compression method {info.compress_type}"
    if info.file_size > limits.max_entry_bytes:
        return f"entry is {info.file_size:,} bytes; the limit is {limits.max_entry_bytes:,}"
    declared_ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > limits.ratio_floor_bytes and declared_ratio > limits.max_ratio:
        return f"compression ratio beyond {limits.max_ratio:g}:1 (a zip bomb?)"
    return None


def _sidecar_for(
    archive: zipfile.ZipFile,
    name: str,
    by_name: dict[str, zipfile.ZipInfo],
    limits: ZipLimits,
    budget: _Budget,
) -> tuple[dict[str, Any] | None, tuple[str, str] | None]:
    """The entry's JSON sidecar, if one sits next to it; or the sidecar's name and why it was ignored."""
    for candidate in _sidecar_names(name):
        info = by_name.get(candidate)
        if info is None or candidate == name:
            continue
        try:
            reason = _refusal_before_reading(info, limits)
            if reason:
                raise _Refused(reason)
            raw = _read_capped(archive, info, limits.max_sidecar_bytes, limits, budget)
            return _parse_sidecar(raw), None
        except _ArchiveOverLimit:
            raise
        except _Refused as exc:
            return None, (candidate, f"sidecar ignored: {exc}")
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            return None, (candidate, f"sidecar ignored: corrupt entry: {exc}")
    return None, None


def _refuse_rest(
    infos: list[zipfile.ZipInfo], *, after: zipfile.ZipInfo, reason: str, skip: set[str]
) -> Iterator[RefusedEntry]:
    """Every entry after `after` that would have been read, refused for the same reason."""
    position = infos.index(after)
    for info in infos[position + 1 :]:
        if info.is_dir() or is_junk(info.filename) or info.filename in skip:
            continue
        yield RefusedEntry(info.filename, f"not read: {reason}")
