"""The upload's multipart body read as a stream (upload_form.py) into a spool on disk (spool.py): what
is kept, what is cut, what is refused, and that memory holds pieces, never files."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
import zipfile
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

import pytest

from services.gateway.spool import FileWindow, SpoolWriter, new_spool_file, spool_bytes
from services.gateway.upload_form import FormLimits, FormRefused, UploadForm, read_form
from services.gateway.upload_route import file_mtime, folder_label, sidecar_doc

BOUNDARY = "b0undary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
PNG = b"\x89PNG\r\n\x1a\n"
LIMITS = FormLimits(max_request_bytes=10 * 1024 * 1024, max_file_bytes=1024 * 1024)


def part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def generated(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def read(data: bytes, *, chunk: int = 7, limits: FormLimits = LIMITS) -> tuple[UploadForm, io.FileIO]:
    spool = new_spool_file()
    return await read_form(pieces(data, chunk), CONTENT_TYPE, spool, limits), spool  # type: ignore[return-value]


async def test_files_and_fields_arrive_whatever_the_chunking() -> None:
    first, second = PNG + b"one" * 1000, PNG + b"two"
    data = body(
        part("folder", b"renders/2025-03-21"),
        part("files", first, "a.png"),
        part("last_modified", b"1700000000000"),
        part("files", second, "b.png"),
        part("sidecar", b'{"creation_date": "2020-01-01"}'),
        part("other", b"ignored"),
        part("elsewhere", b"ignored too", "x.png"),
    )
    for chunk in (1, 7, 4096, len(data)):
        form, spool = await read(data, chunk=chunk)
        with spool:
            assert [f.filename for f in form.files] == ["a.png", "b.png"]
            for file, expected in zip(form.files, (first, second), strict=True):
                assert file.body is not None and file.refused is None
                assert (file.size, file.body.size) == (len(expected), len(expected))
                assert file.body.sha256 == hashlib.sha256(expected).hexdigest()
                assert file.body.read_bytes() == expected and file.body.head == expected[:512]
            assert form.value("folder", 0) == "renders/2025-03-21" and form.value("folder", 1) == ""
            assert form.value("last_modified", 0) == "1700000000000"
            assert form.value("sidecar", 0) == '{"creation_date": "2020-01-01"}'
            # only the two files' bytes are on disk
            assert spool.seek(0, io.SEEK_END) == len(first) + len(second)


async def test_nul_and_lone_surrogates_are_cleaned_and_names_cut() -> None:
    data = body(
        part("files", PNG, "ni\x00ght.png"),
        part("files", PNG + b"2", "x" * 300 + ".png"),
        part("files", PNG + b"3", ""),
        part("folder", "a\x00b/\udcff".encode("utf-8", "surrogatepass")),
    )
    form, spool = await read(data)
    spool.close()
    assert [f.filename for f in form.files] == ["night.png", "x" * 255, "upload"]
    assert form.value("folder", 0) == "ab/\ufffd\ufffd\ufffd"


async def test_a_file_over_its_limit_is_refused_its_bytes_dropped_and_the_rest_kept() -> None:
    limits = FormLimits(max_request_bytes=10 * 1024 * 1024, max_file_bytes=100_000)
    big, small = PNG + bytes(200_000), PNG + b"small"
    form, spool = await read(body(part("files", big, "big.png"), part("files", small, "s.png")), chunk=4096,
                             limits=limits)  # fmt: skip
    with spool:
        refused, kept = form.files
        assert refused.body is None and refused.size == len(big)
        assert refused.refused is not None and "too large" in refused.refused and "100,000" in refused.refused
        assert kept.body is not None and kept.body.read_bytes() == small
        assert spool.seek(0, io.SEEK_END) == len(small), "the refused file's bytes stayed on disk"


async def test_a_zip_is_held_to_the_request_limit_only() -> None:
    limits = FormLimits(max_request_bytes=10 * 1024 * 1024, max_file_bytes=1000)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.png", PNG + bytes(5000))
    form, spool = await read(body(part("files", archive.getvalue(), "a.zip")), chunk=512, limits=limits)
    with spool:
        [file] = form.files
        assert file.refused is None and file.body is not None and file.body.read_bytes() == archive.getvalue()


async def test_a_body_over_the_request_limit_is_refused_as_it_streams() -> None:
    limits = FormLimits(max_request_bytes=64 * 1024, max_file_bytes=1024 * 1024)
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield part("files", PNG, "a.png")[:-2]
        while True:
            pulled += 4096
            yield bytes(4096)

    with new_spool_file() as spool, pytest.raises(FormRefused) as refused:
        await read_form(endless(), CONTENT_TYPE, spool, limits)
    assert refused.value.status == 413 and "65,536" in refused.value.detail
    assert pulled <= 64 * 1024 + 4096


@pytest.mark.parametrize(
    ("content_type", "status"),
    [("application/json", 415), ("multipart/form-data", 400), (None, 415), ("text/plain; boundary=x", 415)],
)
async def test_not_a_multipart_body(content_type: str | None, status: int) -> None:
    with new_spool_file() as spool, pytest.raises(FormRefused) as refused:
        await read_form(pieces(b"{}", 10), content_type, spool, LIMITS)
    assert refused.value.status == status


async def test_a_truncated_or_malformed_body_is_a_400() -> None:
    whole = body(part("files", PNG + b"x" * 100, "a.png"))
    with new_spool_file() as spool, pytest.raises(FormRefused) as refused:
        await read_form(pieces(whole[:-30], 9), CONTENT_TYPE, spool, LIMITS)
    assert refused.value.status == 400 and "closing boundary" in refused.value.detail
    with new_spool_file() as spool, pytest.raises(FormRefused) as refused:
        await read_form(pieces(b"garbage without a boundary" * 10, 9), CONTENT_TYPE, spool, LIMITS)
    assert refused.value.status == 400


async def test_counts_and_sizes_of_fields_are_capped() -> None:
    limits = FormLimits(max_request_bytes=10 * 1024 * 1024, max_file_bytes=1024, max_files=2, max_fields=3,
                        max_field_bytes=10, max_fields_total_bytes=100, max_header_bytes=200)  # fmt: skip

    async def refusal(data: bytes) -> FormRefused:
        with new_spool_file() as spool, pytest.raises(FormRefused) as refused:
            await read_form(pieces(data, 64), CONTENT_TYPE, spool, limits)
        return refused.value

    assert (await refusal(body(*(part("files", PNG, f"{i}.png") for i in range(3))))).status == 413
    assert (await refusal(body(*(part("folder", b"x") for _ in range(4))))).status == 413
    assert (await refusal(body(part("other", bytes(101))))).status == 413
    long_header = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="folder"; x="{"y" * 300}"\r\n\r\nv\r\n'
    )
    assert (await refusal(body(long_header.encode()))).status == 413

    form, spool = await read(body(part("files", PNG, "a.png"), part("folder", b"0123456789abcdef"),
                                  part("sidecar", b'{"a": "0123456789"}')), limits=limits)  # fmt: skip
    spool.close()
    assert form.value("folder", 0) == "0123456789"  # cut
    assert form.value("sidecar", 0) == ""  # ignored: cut JSON would be wrong JSON


async def test_memory_holds_pieces_not_files() -> None:
    size = 48 * 1024 * 1024
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="big.png"\r\n\r\n'.encode()
    )
    chunk = bytes(64 * 1024)
    chunks = [head, PNG, *(chunk for _ in range(size // len(chunk))), f"\r\n--{BOUNDARY}--\r\n".encode()]
    limits = FormLimits(max_request_bytes=2 * size, max_file_bytes=2 * size)
    tracemalloc.start()
    try:
        with new_spool_file() as spool:
            form = await read_form(generated(chunks), CONTENT_TYPE, spool, limits)
            _, peak = tracemalloc.get_traced_memory()
            assert form.files[0].size == len(PNG) + size
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak:,} bytes for a {size:,}-byte file"


# -------------------------------------------------------------------------------------- spool
def test_a_window_reads_only_its_bytes_and_serves_zipfile() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a/b.png", PNG + b"inside")
    with new_spool_file() as file:
        writer = SpoolWriter(file)
        writer.write(b"before")
        writer.begin()
        writer.write(archive.getvalue())
        spooled = writer.finish()
        writer.begin()
        writer.write(b"after")
        window = spooled.reader()
        assert window.read(4) == b"PK\x03\x04" and window.tell() == 4
        assert window.seek(0, io.SEEK_END) == len(archive.getvalue()) and window.read() == b""
        window.seek(0)
        with zipfile.ZipFile(window) as z:
            assert z.read("a/b.png") == PNG + b"inside"
        assert (
            isinstance(window, FileWindow)
            and spooled.sha256 == hashlib.sha256(archive.getvalue()).hexdigest()
        )


def test_an_owned_spool_is_closed_with_its_bytes() -> None:
    spooled = spool_bytes([b"ab", b"cd"])
    assert spooled.read_bytes() == b"abcd" and spooled.size == 4
    spooled.close()
    with pytest.raises(ValueError):
        spooled.reader().read()


# ------------------------------------------------------------------------------- field helpers
def test_field_helpers() -> None:
    assert folder_label(" \\renders\\2025-03-21/ ") == "renders/2025-03-21"
    assert folder_label("x" * 2000) == "x" * 1000 and folder_label("  ") is None
    assert sidecar_doc('{"note\\u0000": "a\\u0000b", "d": ["\\ud800"]}', 1000) == {
        "note": "ab",
        "d": ["\ufffd"],
    }
    assert sidecar_doc("[1]", 1000) is None and sidecar_doc("{", 1000) is None
    assert sidecar_doc('{"a": "' + "x" * 2000 + '"}', 1000) is None
    assert file_mtime("1700000000000") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert file_mtime("2024-05-01T10:00:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)
    # far out of range: no time rather than a 500
    assert file_mtime("9" * 30) is None and file_mtime("-" + "9" * 20) is None and file_mtime("") is None
