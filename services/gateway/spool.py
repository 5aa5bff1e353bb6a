"""Uploaded bytes on local disk, never whole in memory.

An upload's file parts and the entries of a zip in it wait in temporary files (`tempfile.TemporaryFile`:
unlinked from the start, so the system reclaims them when they are closed, or when the process dies),
each hashed while it is written. What the rest of the gateway holds is a `SpooledBytes`: where the bytes
are, how many, their SHA-256 and their first bytes (enough to recognise a format or an archive).

Why local disk rather than S3 multipart for the spool: an upload's per-file form fields (`folder`,
`sidecar`, `last_modified`) may come after the file in the body, a zip must be seekable to be read
(its directory is at the end), and the SHA-256 is needed before deciding whether to put the bytes at all
(a tenant's duplicate is never stored twice; the key is `<tenant>/<sha256>`). A spool on disk gives all
three for the price of one local write and read.

Readers use `os.pread` on the file's descriptor, so several threads (S3 puts, a zip being read) can read
different windows of one spool at once without sharing a file position.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import tempfile
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import BinaryIO, TypeVar, cast

T = TypeVar("T")

# the first bytes kept with every spooled file: enough for every format sniff and archive magic
# (tar's is at offset 257); `archives.SNIFF_BYTES` is the same figure
HEAD_BYTES = 512


def new_spool_file(directory: str | None = None) -> BinaryIO:
    """An anonymous temporary file, unbuffered (what is written is at once visible to `pread`)."""
    return tempfile.TemporaryFile(dir=directory, buffering=0)


class FileWindow(io.RawIOBase):
    """A read-only, seekable view of `size` bytes of `file` from `offset`, read with `os.pread`."""

    def __init__(self, file: BinaryIO, offset: int, size: int) -> None:
        super().__init__()
        self._fd = file.fileno()
        self._file = file  # the descriptor stays valid while the view is alive
        self._offset, self._size, self._pos = offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._file.closed:
            raise ValueError("read from a closed spool")
        wanted = min(len(buffer), self._size - self._pos)
        if wanted <= 0:
            return 0
        data = os.pread(self._fd, wanted, self._offset + self._pos)
        n = len(data)
        memoryview(buffer)[:n] = data
        self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes in one `pread` (RawIOBase's default would copy through a bytearray)."""
        if self._file.closed:
            raise ValueError("read from a closed spool")
        remaining = self._size - self._pos
        wanted = remaining if size is None or size < 0 else min(size, remaining)
        if wanted <= 0:
            return b""
        data = os.pread(self._fd, wanted, self._offset + self._pos)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)


@dataclass(eq=False)
class SpooledBytes:
    """`size` bytes of `file` from `offset`, their SHA-256 (hex) and first bytes.

    `owned`: the file holds only these bytes (a zip entry) and `close()` closes it; otherwise the file
    is a request's spool, closed once the whole request is handled.
    """

    file: BinaryIO
    offset: int
    size: int
    sha256: str
    head: bytes
    owned: bool = False

    def reader(self) -> BinaryIO:
        """A file object over these bytes alone (a `FileWindow`), for S3 puts and zipfile."""
        return cast(BinaryIO, FileWindow(self.file, self.offset, self.size))

    def read_bytes(self) -> bytes:
        """All the bytes at once: for tests and small files only."""
        return self.reader().read()

    def close(self) -> None:
        if self.owned:
            self.file.close()


class SpoolWriter:
    """Appends parts one after another to a spool file, hashing each as it is written.

    Blocking (file I/O and hashing): call it from a worker thread for anything large.
    """

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.end = file.seek(0, io.SEEK_END)
        self._start = self.end
        self._hash = hashlib.sha256()
        self._head = bytearray()

    @property
    def part_size(self) -> int:
        return self.end - self._start

    def begin(self) -> None:
        self._start = self.end
        self._hash = hashlib.sha256()
        self._head = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        if len(self._head) < HEAD_BYTES:
            self._head += view[: HEAD_BYTES - len(self._head)]
        self._hash.update(view)
        while view:
            written = self.file.write(view)
            if not written:  # a regular file never does this; a full disk raises instead
                raise OSError("the spool file took no bytes")
            view = view[written:]
            self.end += written

    def discard(self) -> None:
        """Drop the current part's bytes (a file over its limit): the spool gives the disk back."""
        self.file.truncate(self._start)
        self.end = self.file.seek(self._start)

    def finish(self, *, owned: bool = False) -> SpooledBytes:
        return SpooledBytes(
            self.file, self._start, self.part_size, self._hash.hexdigest(), bytes(self._head), owned
        )


def spool_bytes(chunks: list[bytes] | tuple[bytes, ...], directory: str | None = None) -> SpooledBytes:
    """Small bytes as a spooled file of their own (tests, and callers that already hold the bytes)."""
    file = new_spool_file(directory)
    writer = SpoolWriter(file)
    for chunk in chunks:
        writer.write(chunk)
    return writer.finish(owned=True)


async def settled(work: Awaitable[T]) -> T:
    """Await `work` (typically `asyncio.to_thread(...)`); if this task is cancelled meanwhile, wait for
    the work to end before passing the cancellation on. A thread cannot be stopped: returning early
    would let the caller close a spool the thread is still reading."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise
