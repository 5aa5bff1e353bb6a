"""The export as a zip streamed while it is written: originals come from the object store one at a
time, a chunk at a time, and every table is read a page at a time, so the gateway holds about one
chunk and one page whatever the library's size.

`zipfile` writes to a sink that cannot seek (`ZipSink`): each entry then carries a data descriptor
after its bytes (sizes and CRC known only at the end), which every unzip tool and Python's zipfile
read through the central directory. Originals are stored, not deflated: images are compressed
already, and storing keeps the zip's CPU cost at the CRC. Entries over 4 GiB are allowed (ZIP64).

The export is not one database snapshot: pages are read one after another, so an import running
during an export may or may not be in it (an asset is always whole: its line and its original)."""

from __future__ import annotations

import re
import time
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic import BaseModel

from libs.common.storage import ObjectNotFound, ObjectStore, original_key
from services.gateway import repository as gateway_repository
from services.gateway.auth import AuthSubject
from services.gateway.endpoints import open_original
from services.gateway.export import repository, schemas

# the owners' views the curation files come from; a file is left out when its view is not there
CURATION_VIEWS = {
    schemas.FLAGS_FILE: "clustering.asset_flags",
    schemas.STACKS_FILE: "clustering.session_stacks",
    schemas.LINEAGE_FILE: "clustering.lineage_links",
}
# one JSON entry's bytes handed to the client at a time
FLUSH_BYTES = 256 * 1024


class ZipSink:
    """A write-only, unseekable file for `zipfile.ZipFile`: what it is given waits here until `drain`."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self._buffer = bytes(self._buffer), bytearray()
        return data

    def __len__(self) -> int:
        return len(self._buffer)


def _entry(name: str, *, stored: bool = False, size: int | None = None) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=time.gmtime()[:6])
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    if size is not None:
        info.file_size = size
    return info


def json_line(model: BaseModel) -> bytes:
    return (model.model_dump_json() + "\n").encode()


def safe_name(filename: str) -> str:
    """A file name to use inside `originals/`: no folders, no control characters, never `.` or `..`."""
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip()
    return "_" if name in ("", ".", "..") else name[:200]


class UniqueNames:
    """`originals/<name>`, with ` (2)`, ` (3)` ... before the extension when a name is taken (case
    folded: the zip may be unpacked on a case-insensitive disk)."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def take(self, filename: str) -> str:
        name = safe_name(filename)
        stem, dot, ext = name.rpartition(".")
        if not dot:
            stem, ext = name, ""
        candidate, n = name, 1
        while candidate.casefold() in self._taken:
            n += 1
            candidate = f"{stem} ({n}){dot}{ext}"
        self._taken.add(candidate.casefold())
        return schemas.ORIGINALS_DIR + candidate


def asset_line(row: Any, file: str) -> schemas.ExportedAsset:
    seed = row["seed"]
    return schemas.ExportedAsset(
        asset_id=row["asset_id"], sha256=row["sha256"], file=file, filename=row["filename"],
        source=row["source"], format=row["format"], tool=row["tool"], prompt=row["prompt"],
        negative_prompt=row["negative_prompt"], seed=int(seed) if seed is not None else None,
        model=row["model"], sampler=row["sampler"], steps=row["steps"], cfg=row["cfg"], width=row["width"],
        height=row["height"], loras=list(row["loras"] or []), generated_at=row["generated_at"],
        timestamp_source=row["timestamp_source"], timestamp_precision=row["timestamp_precision"],
        imported_at=row["imported_at"], metadata=row["metadata"], metadata_error=row["metadata_error"],
        session_id=row["session_id"], flag=row["flag"],
    )  # fmt: skip


class ExportWriter:
    """Writes one workspace's export into a zip, handing its bytes out as they are made."""

    def __init__(self, pool: asyncpg.Pool, store: ObjectStore, subject: AuthSubject) -> None:
        self.pool, self.store, self.subject = pool, store, subject
        self.sink = ZipSink()
        self.zip = zipfile.ZipFile(self.sink, "w", allowZip64=True)

    async def _text_entry(self, name: str, parts: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """A deflated entry written from `parts`, its compressed bytes handed out every ~256 KiB."""
        with self.zip.open(_entry(name), "w", force_zip64=True) as entry:
            async for part in parts:
                entry.write(part)
                if len(self.sink) >= FLUSH_BYTES:
                    yield self.sink.drain()
        yield self.sink.drain()

    async def _json_array(self, items: AsyncIterator[BaseModel]) -> AsyncIterator[bytes]:
        """A JSON array written one item per line, never built whole."""
        first = True
        yield b"["
        async for item in items:
            yield (b"\n  " if first else b",\n  ") + item.model_dump_json().encode()
            first = False
        yield b"\n]\n"

    async def _lines(self, items: AsyncIterator[BaseModel]) -> AsyncIterator[bytes]:
        async for item in items:
            yield json_line(item)

    async def _bytes(self, data: bytes) -> AsyncIterator[bytes]:
        yield data

    # --- what goes in -----------------------------------------------------------------------------

    async def _asset_lines(self, files: dict[str, str]) -> AsyncIterator[BaseModel]:
        async for page in repository.assets(self.pool, self.subject):
            for row in page:
                if row["sha256"] in files:  # not one imported after the originals were written
                    yield asset_line(row, files[row["sha256"]])

    async def _sessions(self) -> AsyncIterator[BaseModel]:
        async for page in repository.sessions(self.pool, self.subject):
            members = await repository.session_members(
                self.pool, self.subject, [r["session_id"] for r in page]
            )
            for r in page:
                yield schemas.ExportedSession(
                    session_id=r["session_id"], start=r["start_at"], end=r["end_at"], asset_count=r["asset_count"],
                    precision=r["precision"], asset_ids=members[r["session_id"]],
                )  # fmt: skip

    async def _reflections(self) -> AsyncIterator[BaseModel]:
        try:
            async for page in repository.reflections(self.pool, self.subject):
                now = await repository.redirects(self.pool, self.subject, [r["session_id"] for r in page])
                for r in page:
                    doc = dict(r)
                    doc["session_id"] = now.get(r["session_id"], r["session_id"])
                    yield schemas.ExportedReflection.model_validate(doc)
        except asyncpg.UndefinedTableError:  # the reflection service has not made its schema yet
            return

    async def _flags(self) -> AsyncIterator[BaseModel]:
        async for page in repository.flags(self.pool, self.subject):
            for r in page:
                yield schemas.ExportedFlag(asset_id=r["asset_id"], flag=r["flag"])

    async def _stacks(self) -> AsyncIterator[BaseModel]:
        async for page in repository.stacks(self.pool, self.subject):
            for r in page:
                yield schemas.ExportedStack.model_validate(dict(r))

    async def _links(self) -> AsyncIterator[BaseModel]:
        async for page in repository.lineage(self.pool, self.subject):
            for r in page:
                yield schemas.ExportedLink.model_validate(dict(r))

    async def _original(self, name: str, tenant_id: Any, sha256: str) -> AsyncIterator[bytes]:
        try:
            length, chunks = await open_original(self.store, original_key(tenant_id, sha256))
        except ObjectNotFound:  # listed but gone from the store: the zip says so rather than failing
            async for part in self._text_entry(name + ".missing.txt", self._bytes(
                b"This original was not found in the object store when the export was made.\n"
            )):  # fmt: skip
                yield part
            return
        with self.zip.open(_entry(name, stored=True, size=length), "w", force_zip64=True) as entry:
            async for chunk in chunks:
                entry.write(chunk)
                yield self.sink.drain()
        yield self.sink.drain()

    async def stream(self) -> AsyncIterator[bytes]:
        """The whole zip, as bytes to send."""
        pool, subject = self.pool, self.subject
        curation = [name for name, view in CURATION_VIEWS.items() if await repository.view_exists(pool, view)]
        # first pass: the originals (and each one's name in the zip: ~100 bytes an asset, 10 MB for
        # 100,000, the one thing kept for the whole export)
        names, files = UniqueNames(), {}
        count = 0
        async for page in repository.assets(pool, subject):
            for row in page:
                files[row["sha256"]] = name = names.take(row["filename"])
                count += 1
                async for part in self._original(name, subject.tenant_id, row["sha256"]):
                    yield part
        # second pass: their metadata, then the rest
        async for part in self._text_entry(schemas.METADATA_FILE, self._lines(self._asset_lines(files))):
            yield part
        async for part in self._text_entry(schemas.SESSIONS_FILE, self._json_array(self._sessions())):
            yield part
        async for part in self._text_entry(schemas.REFLECTIONS_FILE, self._json_array(self._reflections())):
            yield part
        makers = {
            schemas.FLAGS_FILE: self._flags,
            schemas.STACKS_FILE: self._stacks,
            schemas.LINEAGE_FILE: self._links,
        }
        for name in curation:
            async for part in self._text_entry(name, self._lines(makers[name]())):
                yield part
        exported_at = datetime.now(UTC)
        workspace = schemas.ExportedWorkspace(
            tenant_id=subject.tenant_id, workspace=subject.tenant_name, time_zone=subject.time_zone,
            gap_minutes=await gateway_repository.session_gap_minutes(pool, subject), exported_at=exported_at,
            asset_count=count, curation=curation,
        )  # fmt: skip
        async for part in self._text_entry(schemas.WORKSPACE_FILE, self._bytes(
            workspace.model_dump_json(indent=2).encode()
        )):  # fmt: skip
            yield part
        readme = schemas.README.format(
            workspace=subject.tenant_name,
            exported_at=exported_at.isoformat(timespec="seconds"),
            curation="".join(schemas.CURATION_README[name] for name in curation),
        )
        async for part in self._text_entry(schemas.README_FILE, self._bytes(readme.encode())):
            yield part
        self.zip.close()
        yield self.sink.drain()


def export_filename(subject: AuthSubject, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", subject.tenant_name).strip("-") or "workspace"
    return f"atelier-{name}-{now:%Y%m%d-%H%M%S}.zip"
