"""Tiny in-memory image writers for tests: PNG with text chunks, JPEG with EXIF, stealth alpha."""

from __future__ import annotations

import gzip
import io
import struct
import zlib

import piexif
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(ctype: bytes, body: bytes, *, crc: int | None = None) -> bytes:
    value = zlib.crc32(ctype + body) if crc is None else crc
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", value)


def text_chunk(key: str, text: str, kind: str = "tEXt") -> bytes:
    if kind == "tEXt":
        return png_chunk(b"tEXt", key.encode("latin-1") + b"\x00" + text.encode("utf-8"))
    if kind == "zTXt":
        return png_chunk(b"zTXt", key.encode("latin-1") + b"\x00\x00" + zlib.compress(text.encode("utf-8")))
    if kind == "iTXt":
        return png_chunk(b"iTXt", key.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8"))
    if kind == "iTXt-z":
        body = key.encode("latin-1") + b"\x00\x01\x00\x00\x00" + zlib.compress(text.encode("utf-8"))
        return png_chunk(b"iTXt", body)
    raise ValueError(kind)


def png_bytes(*chunks: bytes, width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG (black pixels) with `chunks` between IHDR and IDAT."""
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    rows = b"".join(b"\x00" + b"\x00" * (3 * width) for _ in range(height))
    idat = png_chunk(b"IDAT", zlib.compress(rows))
    return PNG_SIGNATURE + ihdr + b"".join(chunks) + idat + png_chunk(b"IEND", b"")


def jpeg_with_exif(exif: dict, size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "white").save(out, "JPEG", exif=piexif.dump(exif))
    return out.getvalue()


def user_comment(text: str, byte_order: str) -> bytes:
    codec = "utf-16-be" if byte_order == "BE" else "utf-16-le"
    return b"UNICODE\x00" + text.encode(codec)


def stealth_png(
    text: str, *, compressed: bool, mode: str = "alpha", size: tuple[int, int] = (160, 160)
) -> bytes:
    """Hide `text` the way sd-webui-stealth-pnginfo does: LSBs, column-major, magic + bit length."""
    payload = gzip.compress(text.encode()) if compressed else text.encode()
    if mode == "alpha":
        magic = b"stealth_pngcomp" if compressed else b"stealth_pnginfo"
    else:
        magic = b"stealth_rgbcomp" if compressed else b"stealth_rgbinfo"
    bits = (
        "".join(f"{b:08b}" for b in magic) + f"{len(payload) * 8:032b}" + "".join(f"{b:08b}" for b in payload)
    )
    width, height = size
    image = Image.new(
        "RGBA" if mode == "alpha" else "RGB", size, (120, 130, 140, 255)[: 4 if mode == "alpha" else 3]
    )
    pixels = image.load()
    assert pixels is not None
    index = 0
    for x in range(width):
        for y in range(height):
            if index >= len(bits):
                break
            pixel = list(pixels[x, y])  # type: ignore[arg-type]  # RGB(A) images give tuples
            channels = [3] if mode == "alpha" else [0, 1, 2]
            for c in channels:
                if index < len(bits):
                    pixel[c] = (pixel[c] & ~1) | int(bits[index])
                    index += 1
            pixels[x, y] = tuple(pixel)
    assert index == len(bits), "image too small for the payload"
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
