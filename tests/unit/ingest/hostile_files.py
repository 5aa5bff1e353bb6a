"""Small in-memory writers of valid-but-unusual and hostile image files, after the outside tester's
generator (mkhostile.py), so the unit tests make their own files instead of reading /tmp."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from libs.common.events import AssetUploaded

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def png(
    width: int = 32, height: int = 32, colour: tuple[int, int, int] = (9, 90, 9), extra: bytes = b""
) -> bytes:
    """A PNG written by Pillow with `extra` chunks right after IHDR (byte 33)."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    data = out.getvalue()
    return data[:33] + extra + data[33:]


def declared_png(width: int, height: int, rows: int) -> bytes:
    """A PNG whose header claims `width` x `height` but whose IDAT holds only `rows` zero rows."""
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * width)
    idat = b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush()
    return PNG_SIGNATURE + ihdr + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def near_limit_png(side: int = 8944) -> bytes:
    """side x side black RGB pixels, all of them really there (8944² = 79,995,136 < 80 M)."""
    return declared_png(side, side, side)


def comfy_workflow(size: int = 2 * 1024 * 1024) -> bytes:
    """A ComfyUI-style UI workflow of about `size` bytes (cut there, like the tester's)."""
    rnd = random.Random(1)
    nodes = ",".join(
        f'{{"id": {i}, "type": "KSampler", "widgets_values": [{rnd.randrange(10**9)}, "randomize", 20, 7.0,'
        f' "euler", "normal", 1.0], "note": "{"x" * rnd.randrange(40, 200)}"}}'
        for i in range(size // 100)
    )
    return ('{"nodes": [' + nodes + "]}").encode()[:size]


def ztxt_png(key: str, text: bytes) -> bytes:
    return png(extra=chunk(b"zTXt", key.encode("latin-1") + b"\x00\x00" + zlib.compress(text, 9)))


def itxt_compressed_png(key: str, text: bytes) -> bytes:
    return png(extra=chunk(b"iTXt", key.encode("latin-1") + b"\x00\x01\x00\x00\x00" + zlib.compress(text, 9)))


def text_png(key: str, text: bytes) -> bytes:
    return png(extra=chunk(b"tEXt", key.encode("latin-1") + b"\x00" + text))


def _webp_with_exif() -> tuple[bytes, int, int]:
    """A WebP with a small valid EXIF chunk; returns it, the offset of the EXIF chunk and its length."""
    out = io.BytesIO()
    exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00"
    Image.new("RGB", (64, 64), (90, 60, 30)).save(out, "WEBP", exif=exif)
    data = out.getvalue()
    at = data.find(b"EXIF")
    return data, at, struct.unpack("<I", data[at + 4 : at + 8])[0]


def garbage_exif_webp() -> bytes:
    """The EXIF chunk's bytes replaced by random garbage of the same length."""
    data, at, length = _webp_with_exif()
    garbage = bytes(random.Random(1).randrange(256) for _ in range(length))
    return data[: at + 8] + garbage + data[at + 8 + length :]


def huge_exif_length_webp() -> bytes:
    """The EXIF chunk (after the image data) claims 2 GB."""
    data, at, _ = _webp_with_exif()
    return data[: at + 4] + struct.pack("<I", 0x7FFFFFF0) + data[at + 8 :]


def garbage_exif_jpeg() -> bytes:
    """A JPEG whose APP1 Exif segment holds the same kind of garbage."""
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (30, 60, 90)).save(out, "JPEG")
    data = out.getvalue()
    body = b"Exif\x00\x00" + bytes(random.Random(1).randrange(256) for _ in range(28))
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + data[2:]


def huge_gif() -> bytes:
    """A GIF whose logical screen and only frame claim 65535 x 65535."""
    return (
        b"GIF89a"
        + struct.pack("<HH", 65535, 65535)
        + b"\x00\x00\x00,\x00\x00\x00\x00\xff\xff\xff\xff\x00\x02\x02D\x01\x00;"
    )


def many_chunks_png(count: int = 150_000) -> bytes:
    return png(16, 16, (9, 9, 9), chunk(b"tEXt", b"k\x00v") * count)


def text_chunks_png(count: int = 10, size: int = 1 << 20) -> bytes:
    return png(
        32,
        32,
        (5, 99, 5),
        b"".join(chunk(b"tEXt", b"parameters%d\x00" % i + b"A" * size) for i in range(count)),
    )


def exif_float_jpeg(value: float) -> bytes:
    """A JPEG whose IFD0 has one FLOAT (type 11) tag 0x9999 holding `value` (NaN: a float no JSON holds)."""
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHI", 0x9999, 11, 1) + struct.pack("<f", value) + struct.pack("<I", 0)
    body = b"Exif\x00\x00" + tiff
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(out, "JPEG")
    data = out.getvalue()
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + data[2:]


def uploaded(
    data: bytes,
    filename: str = "file.png",
    *,
    folder: str | None = None,
    sidecar: dict[str, Any] | None = None,
    source: str = "upload",
) -> AssetUploaded:
    return AssetUploaded(
        asset_id=uuid.uuid4(),
        sha256=hashlib.sha256(data).hexdigest(),
        object_key=f"t/{hashlib.sha256(data).hexdigest()}",
        filename=filename,
        size=len(data),
        source=source,  # type: ignore[arg-type]
        folder=folder,
        file_mtime=datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
        sidecar=sidecar,
    )


def strings(value: Any) -> list[str]:
    """Every string in a JSON-like value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings(v)]
    return []


def unstorable(value: Any) -> list[str]:
    """The strings PostgreSQL text/jsonb would refuse: with a NUL, or not encodable as UTF-8."""
    bad = []
    for s in strings(value):
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            bad.append(s)
            continue
        if "\x00" in s:
            bad.append(s)
    return bad
