"""POST /api/v1/assets' multipart body, read as it streams in, with every limit applied on the way.

FastAPI's `File`/`Form` parameters have the whole body parsed (and spooled) before the route and its
dependencies run, so an unauthenticated or oversized upload was received in full before it was refused.
The route takes no body parameters instead; once the caller is authenticated and the declared length is
within `max_request_bytes`, `read_form` feeds `request.stream()` to python-multipart's streaming
`MultipartParser` and:

- writes each file part to the request's spool (a temporary file, see spool.py) in pieces of at most
  `FLUSH_BYTES`, hashing it on the way: memory holds one piece, never a file;
- counts every byte of the body against `max_request_bytes` (a chunked body has no Content-Length to
  check up front) and refuses with 413 the moment it is passed; nothing has been staged then, because
  staging starts only once the whole body is read (a file's `folder`/`sidecar`/`last_modified` fields
  may come after it);
- counts each file part against `max_file_bytes`: a file that passes it becomes a `rejected` result
  ("file too large") while the request goes on, and its bytes are dropped from the spool. A zip (by its
  first bytes) is held only to the request limit: its entries have limits of their own (archives.py);
- keeps non-file fields small: at most `max_field_bytes` per value (a longer sidecar is ignored, as
  before; a longer folder or last_modified is cut), `max_fields` fields and `max_fields_total_bytes`
  in all, `max_header_bytes` of headers per part, `max_files` files; beyond the counts, 413.

File names and field text are cleaned (libs/common/text.py: no NUL, no lone surrogate) here, where they
enter; names are also cut to `archives.MAX_NAME_CHARS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from libs.common.text import clean_text
from services.gateway.archives import clean_name, is_zip
from services.gateway.spool import SpooledBytes, SpoolWriter, settled
from services.gateway.uploads import too_large

# file bytes are written to the spool in pieces of about this size (one piece in memory at a time)
FLUSH_BYTES = 1024 * 1024
# the per-file form fields the route reads, by name; any other field is counted and dropped
PER_FILE_FIELDS = ("last_modified", "folder", "sidecar")


@dataclass(frozen=True)
class FormLimits:
    max_request_bytes: int
    max_file_bytes: int
    max_files: int = 1000
    # one field's value: a sidecar rides inside an event (zip_max_sidecar_bytes, 64 KiB)
    max_field_bytes: int = 64 * 1024
    # three per-file fields per file, and some room
    max_fields: int = 3 * 1000 + 100
    max_fields_total_bytes: int = 16 * 1024 * 1024
    max_header_bytes: int = 16 * 1024


class FormRefused(Exception):
    """The body cannot be taken: an HTTP status and a reason for the client."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass(eq=False)
class FilePart:
    """One `files` part: its cleaned name and, unless it was refused, its bytes in the spool."""

    filename: str
    size: int = 0  # bytes received, counted on past a limit
    body: SpooledBytes | None = None
    refused: str | None = None


@dataclass
class UploadForm:
    files: list[FilePart] = field(default_factory=list)
    # per-file field values in the order they came, cleaned; "" for a value over its limit that is
    # not cut (a sidecar)
    fields: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in PER_FILE_FIELDS})

    def value(self, name: str, index: int) -> str:
        values = self.fields[name]
        return values[index] if index < len(values) else ""


def boundary_of(content_type: str | None) -> bytes:
    kind, options = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        raise FormRefused(415, "send multipart/form-data: one or more `files` parts, and per file, in "
                               "order, optional `last_modified`, `folder` and `sidecar` fields")  # fmt: skip
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise FormRefused(400, "the multipart/form-data content type has no usable boundary")
    return boundary


class _Part:
    def __init__(self) -> None:
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.headers: dict[bytes, bytes] = {}
        self.header_bytes = 0
        self.kind: str = "skip"  # file | field | skip, once its headers are read
        self.is_file = False  # has a filename (whatever its field name)
        self.name = ""
        self.file: FilePart | None = None
        self.magic = bytearray()  # a file's first 4 bytes: a zip is held to the request limit only
        self.value = bytearray()
        self.oversized = False


class _FormReader:
    """Turns python-multipart's callbacks into spool writes and field values (see the module docstring)."""

    def __init__(self, writer: SpoolWriter, limits: FormLimits) -> None:
        self.writer, self.limits = writer, limits
        self.form = UploadForm()
        self.events: list[tuple[str, bytes]] = []
        self.part: _Part | None = None
        self.pending = bytearray()  # file bytes not yet written to the spool
        self.fields = 0
        self.field_bytes = 0
        self.ended = False

    # -- python-multipart callbacks: only record what happened (they cannot await) --------------------
    def callbacks(self) -> dict[str, object]:
        def data(kind: str):  # type: ignore[no-untyped-def]
            return lambda buf, start, end: self.events.append((kind, buf[start:end]))

        def mark(kind: str):  # type: ignore[no-untyped-def]
            return lambda: self.events.append((kind, b""))

        return {
            "on_part_begin": mark("begin"),
            "on_header_field": data("header_field"),
            "on_header_value": data("header_value"),
            "on_header_end": mark("header_end"),
            "on_headers_finished": mark("headers_done"),
            "on_part_data": data("data"),
            "on_part_end": mark("end"),
            "on_end": mark("form_end"),
        }

    # -- applying them, in order -------------------------------------------------------------------
    async def apply(self) -> None:
        events, self.events = self.events, []
        for kind, data in events:
            if kind == "data":
                await self._data(data)
            elif kind == "begin":
                self.part = _Part()
            elif kind in ("header_field", "header_value"):
                self._header_bytes(kind, data)
            elif kind == "header_end":
                self._header_end()
            elif kind == "headers_done":
                await self._headers_done()
            elif kind == "end":
                await self._part_end()
            elif kind == "form_end":
                self.ended = True

    def _header_bytes(self, kind: str, data: bytes) -> None:
        part = self._current()
        part.header_bytes += len(data)
        if part.header_bytes > self.limits.max_header_bytes:
            raise FormRefused(413, f"a multipart part's headers pass {self.limits.max_header_bytes:,} bytes")
        (part.header_name if kind == "header_field" else part.header_value).extend(data)

    def _header_end(self) -> None:
        part = self._current()
        part.headers[bytes(part.header_name).lower()] = bytes(part.header_value)
        part.header_name.clear()
        part.header_value.clear()

    async def _headers_done(self) -> None:
        part = self._current()
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = options.get(b"name", b"").decode("utf-8", "replace")
        is_file = part.is_file = b"filename" in options
        if is_file and part.name == "files":
            if len(self.form.files) >= self.limits.max_files:
                raise FormRefused(413, f"more than {self.limits.max_files:,} files in one request; "
                                       "send them in several requests")  # fmt: skip
            part.kind = "file"
            part.file = FilePart(clean_name(options[b"filename"].decode("utf-8", "replace")))
            self.form.files.append(part.file)
            self.writer.begin()
        elif not is_file:
            self.fields += 1
            if self.fields > self.limits.max_fields:
                raise FormRefused(413, f"more than {self.limits.max_fields:,} form fields in one request")
            part.kind = "field" if part.name in PER_FILE_FIELDS else "skip"

    async def _data(self, data: bytes) -> None:
        part = self._current()
        if part.kind == "file":
            await self._file_data(part, data)
        elif not part.is_file:
            # every field's bytes count against the fields' total, kept or not
            self.field_bytes += len(data)
            if self.field_bytes > self.limits.max_fields_total_bytes:
                raise FormRefused(
                    413, f"form fields pass {self.limits.max_fields_total_bytes:,} bytes in all"
                )
            if part.kind == "field" and not part.oversized:
                room = self.limits.max_field_bytes - len(part.value)
                part.value += data[:room]
                part.oversized = len(data) > room

    async def _file_data(self, part: _Part, data: bytes) -> None:
        file = part.file
        assert file is not None
        file.size += len(data)
        if file.refused:
            return
        if len(part.magic) < 4:
            part.magic += data[: 4 - len(part.magic)]
        if file.size > self.limits.max_file_bytes and not is_zip(bytes(part.magic)):
            file.refused = too_large(None, self.limits.max_file_bytes)
            self.pending.clear()
            await settled(asyncio.to_thread(self.writer.discard))
            return
        self.pending += data
        if len(self.pending) >= FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        if self.pending:
            piece, self.pending = self.pending, bytearray()
            await settled(asyncio.to_thread(self.writer.write, piece))

    async def _part_end(self) -> None:
        part = self._current()
        if part.kind == "file" and part.file is not None and not part.file.refused:
            await self._flush()
            part.file.body = self.writer.finish()
        elif part.kind == "field":
            value = bytes(part.value)
            if part.oversized and part.name == "sidecar":
                value = b""  # a sidecar over its limit is ignored, not cut into invalid JSON
            self.form.fields[part.name].append(clean_text(value.decode("utf-8", "replace")))
        self.part = None

    def _current(self) -> _Part:
        if self.part is None:
            raise FormRefused(400, "malformed multipart body")
        return self.part


async def read_form(
    chunks: AsyncIterator[bytes], content_type: str | None, spool: BinaryIO, limits: FormLimits
) -> UploadForm:
    """Parse the body from `chunks` into `spool`; raises FormRefused (400, 413, 415)."""
    boundary = boundary_of(content_type)
    reader = _FormReader(SpoolWriter(spool), limits)
    parser = MultipartParser(boundary, reader.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > limits.max_request_bytes:
                raise FormRefused(413, f"the upload passed {limits.max_request_bytes:,} bytes, the limit per "
                                       "request (ATELIER_MAX_REQUEST_BYTES); nothing was imported: send "
                                       "fewer or smaller files per request")  # fmt: skip
            parser.write(chunk)
            await reader.apply()
        parser.finalize()
        await reader.apply()
    except FormParserError as exc:
        raise FormRefused(400, f"malformed multipart body: {exc}") from None
    if not reader.ended:
        raise FormRefused(400, "the multipart body ended before its closing boundary")
    return reader.form
