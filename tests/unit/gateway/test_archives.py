"""archives.expand_zip on archives built in memory: what is staged, what is refused and why."""

from __future__ import annotations

import io
import json
import stat
import struct
import zipfile
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from services.gateway.archives import RefusedEntry, ZipLimits, expand_zip, is_zip, nested_archive_kind
from services.gateway.uploads import IncomingFile

PARIS = ZoneInfo("Europe/Paris")


def png(seed: int = 0) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (seed % 256, 10, 20)).save(out, "PNG")
    return out.getvalue()


def build_zip(
    entries: list[tuple[str | zipfile.ZipInfo, bytes]], compression: int = zipfile.ZIP_DEFLATED
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def expand(data: bytes, limits: ZipLimits | None = None) -> tuple[list[IncomingFile], dict[str, str]]:
    """Staged files, and refusals by entry name ("" for the archive)."""
    staged: list[IncomingFile] = []
    refused: dict[str, str] = {}
    for item in expand_zip(io.BytesIO(data), zone=PARIS, limits=limits):
        if isinstance(item, RefusedEntry):
            refused[item.name] = item.reason
        else:
            staged.append(item)
    return staged, refused


def patch_headers(
    data: bytes, name: str, *, local_offset: int, central_offset: int, fmt: str, value: int
) -> bytes:
    """Overwrite one field of an entry's local and central headers (to craft what zipfile would not write)."""
    patched = bytearray(data)
    encoded = name.encode()
    local = patched.find(b"PK\x03\x04")
    while local >= 0 and patched[local + 30 : local + 30 + len(encoded)] != encoded:
        local = patched.find(b"PK\x03\x04", local + 4)
    central = patched.find(b"PK\x01\x02")
    while central >= 0 and patched[central + 46 : central + 46 + len(encoded)] != encoded:
        central = patched.find(b"PK\x01\x02", central + 4)
    assert local >= 0 and central >= 0
    struct.pack_into(fmt, patched, local + local_offset, value)
    struct.pack_into(fmt, patched, central + central_offset, value)
    return bytes(patched)


def test_images_are_staged_with_folder_name_source_and_local_mtime() -> None:
    info = zipfile.ZipInfo("renders/2024-07-01/cat.png", date_time=(2024, 7, 1, 12, 0, 0))
    staged, refused = expand(build_zip([(info, png(1)), ("top.png", png(2))]))
    assert refused == {}
    first, second = staged
    assert (first.filename, first.folder, first.source) == ("cat.png", "renders/2024-07-01", "zip")
    assert first.body.read_bytes() == png(1)
    # DOS time has no zone: read as wall-clock time where the tenant lives (Paris is UTC+2 in July)
    assert first.file_mtime == datetime(2024, 7, 1, 10, 0, tzinfo=UTC)
    assert (second.filename, second.folder) == ("top.png", None)


def test_extended_timestamp_field_is_a_utc_instant() -> None:
    info = zipfile.ZipInfo("a.png", date_time=(2024, 7, 1, 12, 0, 0))
    seconds = int(datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp())
    info.extra = struct.pack("<HHBi", 0x5455, 5, 1, seconds)
    [item], _ = expand(build_zip([(info, png())]))
    assert item.file_mtime == datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_zip_epoch_means_no_time() -> None:
    [item], _ = expand(build_zip([(zipfile.ZipInfo("a.png", date_time=(1980, 1, 1, 0, 0, 0)), png())]))
    assert item.file_mtime is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.png", "path traversal"),
        ("ok/../../evil.png", "path traversal"),
        ("/etc/evil.png", "absolute path"),
        ("C:/Windows/evil.png", "drive letter"),
        ("c:evil.png", "drive letter"),
        ("..\\..\\evil.png", "path traversal"),
        ("\\\\server\\share\\evil.png", "absolute path"),
    ],
)
def test_names_leading_out_of_the_archive_are_refused(name: str, reason: str) -> None:
    staged, refused = expand(build_zip([(zipfile.ZipInfo(name), png()), ("good.png", png(1))]))
    assert [s.filename for s in staged] == ["good.png"]
    assert reason in refused[name]


def test_nested_archives_are_refused_by_content_not_extension() -> None:
    inner_zip = build_zip([("x.png", png())])
    tar_like = bytes(257) + b"ustar" + bytes(250)
    entries = [
        ("inner.zip", inner_zip),
        ("disguised.png", inner_zip),
        ("a.7z", b"7z\xbc\xaf\x27\x1c" + bytes(40)),
        ("b.gz", b"\x1f\x8b\x08" + bytes(40)),
        ("c.rar", b"Rar!\x1a\x07\x00" + bytes(40)),
        ("d.png", tar_like),
        ("real.png", png()),
    ]
    staged, refused = expand(build_zip(entries))
    assert [s.filename for s in staged] == ["real.png"]
    for name, kind in [
        ("inner.zip", "zip"),
        ("disguised.png", "zip"),
        ("a.7z", "7z"),
        ("b.gz", "gzip"),
        ("c.rar", "rar"),
        ("d.png", "tar"),
    ]:
        assert f"nested archive ({kind})" in refused[name]


def test_a_highly_compressible_entry_is_refused_as_a_bomb() -> None:
    bomb = bytes(30 * 1024 * 1024)  # deflates about 1000:1
    staged, refused = expand(build_zip([("bomb.png", bomb), ("ok.png", png())]))
    assert [s.filename for s in staged] == ["ok.png"]
    assert "compression ratio" in refused["bomb.png"]


def test_an_entry_over_the_size_cap_is_refused() -> None:
    limits = ZipLimits(max_entry_bytes=100_000)
    staged, refused = expand(build_zip([("big.png", png() + bytes(200_000))]), limits)
    assert staged == [] and "the limit is 100,000" in refused["big.png"]


def test_a_header_that_understates_the_size_does_not_let_more_bytes_through() -> None:
    # the real entry is 5 MB of zeros; both headers claim 1,000 bytes
    data = build_zip([("liar.png", bytes(5 * 1024 * 1024))])
    data = patch_headers(data, "liar.png", local_offset=22, central_offset=24, fmt="<I", value=1000)
    staged, refused = expand(data)
    assert staged == []
    assert "corrupt entry" in refused["liar.png"]


def test_total_decompressed_bytes_are_capped_across_entries() -> None:
    # each entry passes the per-entry cap; together they pass the archive's cap
    entries = [(f"{i}.png", png(i) + bytes(40_000)) for i in range(5)]
    limits = ZipLimits(max_total_bytes=100_000)
    staged, refused = expand(build_zip(entries, zipfile.ZIP_STORED), limits)
    assert [s.filename for s in staged] == ["0.png", "1.png"]
    assert "beyond 100,000 bytes in total" in refused["2.png"]
    assert refused["3.png"].startswith("not read:") and refused["4.png"].startswith("not read:")


def test_encrypted_entries_are_refused() -> None:
    data = patch_headers(
        build_zip([("secret.png", png())]),
        "secret.png",
        local_offset=6,
        central_offset=8,
        fmt="<H",
        value=0x1,
    )
    staged, refused = expand(data)
    assert staged == [] and "encrypted" in refused["secret.png"]


def test_unsupported_compression_methods_are_refused() -> None:
    # 9 is Deflate64, which the standard library cannot decompress
    data = patch_headers(
        build_zip([("odd.png", png())]), "odd.png", local_offset=8, central_offset=10, fmt="<H", value=9
    )
    staged, refused = expand(data)
    assert staged == [] and "compression method 9" in refused["odd.png"]


def test_symlink_entries_are_refused() -> None:
    link = zipfile.ZipInfo("link.png")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    staged, refused = expand(build_zip([(link, b"/etc/passwd"), ("ok.png", png())]))
    assert [s.filename for s in staged] == ["ok.png"]
    assert "symbolic link" in refused["link.png"]


def test_too_many_entries_refuses_the_archive() -> None:
    staged, refused = expand(build_zip([(f"{i}.png", png(i)) for i in range(6)]), ZipLimits(max_entries=5))
    assert staged == []
    assert refused == {"": "archive has 6 entries; the limit is 5"}


def test_overlapping_entries_refuse_the_archive() -> None:
    data = bytearray(build_zip([("a.png", png(1)), ("b.png", png(2))]))
    # point b's central directory record at a's local header: one block of data, two entries
    second = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4)
    struct.pack_into("<I", data, second + 42, 0)
    staged, refused = expand(bytes(data))
    assert staged == [] and "overlap" in refused[""]


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_truncated_archive_is_one_refusal(cut: float) -> None:
    data = build_zip([(f"{i}.png", png(i)) for i in range(3)])
    staged, refused = expand(data[: int(len(data) * cut)])
    assert staged == [] and list(refused) == [""] and "corrupt zip archive" in refused[""]


def test_a_bad_central_directory_is_one_refusal() -> None:
    data = bytearray(build_zip([("a.png", png())]))
    central = data.find(b"PK\x01\x02")
    data[central : central + 4] = b"XXXX"
    staged, refused = expand(bytes(data))
    assert staged == [] and "corrupt zip archive" in refused[""]


def test_sidecars_travel_with_their_image() -> None:
    entries = [
        ("out/a.png", png(1)),
        ("out/a.png.json", json.dumps({"created_at": "2024-05-01T10:00:00Z"}).encode()),
        ("out/b.json", json.dumps({"enqueue_time": "2024-05-02 11:00:00"}).encode()),
        ("out/b.png", png(2)),
        ("notes.json", b'{"not": "a sidecar"}'),
    ]
    staged, refused = expand(build_zip(entries))
    by_name = {s.filename: s for s in staged}
    assert by_name["a.png"].sidecar == {"created_at": "2024-05-01T10:00:00Z"}
    assert by_name["b.png"].sidecar == {"enqueue_time": "2024-05-02 11:00:00"}
    # a JSON file nobody claims is just another file (the gateway will say it is not an image)
    assert set(by_name) == {"a.png", "b.png", "notes.json"} and refused == {}


def test_an_oversized_or_invalid_sidecar_is_ignored_with_a_reason_and_the_image_still_comes() -> None:
    big = json.dumps({"created_at": "2024-05-01T10:00:00Z", "pad": "x" * 5000}).encode()
    entries = [("a.png", png(1)), ("a.png.json", big), ("b.png", png(2)), ("b.json", b"[1, 2]")]
    staged, refused = expand(build_zip(entries), ZipLimits(max_sidecar_bytes=1000))
    assert [(s.filename, s.sidecar) for s in staged] == [("a.png", None), ("b.png", None)]
    assert refused["a.png.json"].startswith("sidecar ignored") and "1,000" in refused["a.png.json"]
    assert refused["b.json"] == "sidecar ignored: sidecar is not a JSON object"


def test_directories_and_os_junk_are_skipped_silently() -> None:
    entries = [
        ("photos/", b""),
        ("__MACOSX/photos/._a.png", b"\x00\x05\x16\x07"),
        ("photos/.DS_Store", b"junk"),
        ("photos/Thumbs.db", b"junk"),
        ("photos/._a.png", b"junk"),
        ("photos/a.png", png()),
    ]
    staged, refused = expand(build_zip(entries))
    assert [s.filename for s in staged] == ["a.png"] and refused == {}


def test_stored_bzip2_and_lzma_entries_are_read() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i, method in enumerate([zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]):
            archive.writestr(f"{i}.png", png(i), compress_type=method)
    staged, refused = expand(buffer.getvalue())
    assert [s.body.read_bytes() for s in staged] == [png(0), png(1), png(2)] and refused == {}


def test_magic_bytes() -> None:
    assert is_zip(build_zip([])) and is_zip(build_zip([("a.png", png())]))
    assert not is_zip(png()) and nested_archive_kind(png()) is None
    assert nested_archive_kind(b"BZh91AY&SY") == "bzip2"
    assert nested_archive_kind(b"\xfd7zXZ\x00\x00") == "xz"
