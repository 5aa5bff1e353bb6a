"""A small bounded EXIF (TIFF) reader and the UserComment decoder.

Why our own reader and not piexif: generators put text where cameras do not (UserComment
as an ASCII tag in IFD0, ComfyUI graphs in Make/Model), byte orders disagree with the TIFF
header, and a hostile file must cost bounded work. We read IFD0 and the Exif sub-IFD only,
and return JSON-safe values keyed by tag name.
"""

from __future__ import annotations

import struct
from typing import Any

MAX_IFD_ENTRIES = 1024
MAX_VALUE_BYTES = 64 * 1024 * 1024

TAG_NAMES = {
    0x010D: "DocumentName",
    0x010E: "ImageDescription",
    0x010F: "Make",
    0x0110: "Model",
    0x0112: "Orientation",
    0x0131: "Software",
    0x0132: "DateTime",
    0x013B: "Artist",
    0x8298: "Copyright",
    0x8769: "ExifIFD",
    0x9003: "DateTimeOriginal",
    0x9004: "DateTimeDigitized",
    0x9010: "OffsetTime",
    0x9011: "OffsetTimeOriginal",
    0x9286: "UserComment",
    0x927C: "MakerNote",
    0x9C9B: "XPTitle",
    0x9C9C: "XPComment",
    0xA002: "PixelXDimension",
    0xA003: "PixelYDimension",
}
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_TEXT_TAGS = {"UserComment", "MakerNote"}  # UNDEFINED tags that generators fill with text
_XP_TAGS = {"XPTitle", "XPComment"}  # UTF-16LE in BYTE arrays (Windows)


def read_exif(block: bytes) -> dict[str, Any]:
    """Tags of IFD0 and the Exif IFD as {name: value}; unknown tags as "0xNNNN".

    Raises ValueError on a block that is not TIFF at all; damaged entries are skipped.
    """
    if len(block) < 8 or block[:2] not in (b"II", b"MM"):
        raise ValueError("EXIF block has no TIFF header")
    order = "<" if block[:2] == b"II" else ">"
    ifd0 = struct.unpack(order + "I", block[4:8])[0]
    tags: dict[str, Any] = {}
    seen: set[int] = set()
    _read_ifd(block, order, ifd0, tags, seen)
    exif_ifd = tags.pop("ExifIFD", None)
    if isinstance(exif_ifd, int):
        _read_ifd(block, order, exif_ifd, tags, seen)
    return tags


def _read_ifd(block: bytes, order: str, offset: int, tags: dict[str, Any], seen: set[int]) -> None:
    if offset in seen or offset + 2 > len(block):
        return
    seen.add(offset)
    count = struct.unpack(order + "H", block[offset : offset + 2])[0]
    for i in range(min(count, MAX_IFD_ENTRIES)):
        entry = offset + 2 + 12 * i
        if entry + 12 > len(block):
            return
        tag, typ, n = struct.unpack(order + "HHI", block[entry : entry + 8])
        size = _TYPE_SIZES.get(typ)
        if size is None or n * size > MAX_VALUE_BYTES:
            continue
        nbytes = n * size
        if nbytes <= 4:
            raw = block[entry + 8 : entry + 8 + nbytes]
        else:
            at = struct.unpack(order + "I", block[entry + 8 : entry + 12])[0]
            if at + nbytes > len(block):
                continue
            raw = block[at : at + nbytes]
        name = TAG_NAMES.get(tag, f"0x{tag:04X}")
        if name in tags:  # IFD0 first; the Exif IFD does not overwrite it
            continue
        tags[name] = _value(name, typ, n, raw, order)


def _value(name: str, typ: int, n: int, raw: bytes, order: str) -> Any:
    if name == "UserComment":
        return decode_user_comment(raw)
    if name in _XP_TAGS:
        return raw.decode("utf-16-le", errors="replace").rstrip("\x00")
    if typ == 2:
        return _text(raw)
    if typ in (1, 6, 7):
        if name in _TEXT_TAGS:
            return _text(raw)
        return raw.hex() if len(raw) <= 256 else f"<{len(raw)} bytes>"
    fmt = {3: "H", 4: "I", 8: "h", 9: "i", 11: "f", 12: "d"}.get(typ)
    if fmt:
        values = list(struct.unpack(f"{order}{n}{fmt}", raw))
    else:  # rationals
        pairs = struct.unpack(f"{order}{2 * n}{'I' if typ == 5 else 'i'}", raw)
        values = [pairs[i] / pairs[i + 1] if pairs[i + 1] else None for i in range(0, len(pairs), 2)]
    return values[0] if len(values) == 1 else values[:256]


def _text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\x00", "").strip()


def decode_user_comment(raw: bytes) -> str:
    """Decode EXIF UserComment: an 8-byte charset prefix, then the text.

    `UNICODE\\0` is followed by UTF-16 of either byte order whatever the TIFF header says
    (piexif writes BE; SwarmUI LE; Civitai BE inside an II header), so the order is read
    from the text itself.
    """
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\x00":
        return _utf16_any_order(body).replace("\x00", "").strip()
    if prefix == b"ASCII\x00\x00\x00":
        return _text(body)
    if prefix == b"JIS\x00\x00\x00\x00\x00":
        for codec in ("iso2022_jp", "shift_jis", "euc_jp"):
            try:
                return body.decode(codec).replace("\x00", "").strip()
            except UnicodeDecodeError:
                continue
        return _text(body)
    if prefix == b"\x00" * 8:  # "undefined" charset
        return _text(body)
    return _text(raw)  # no prefix at all (ASCII-typed tag written by custom nodes)


def _utf16_any_order(body: bytes) -> str:
    if body[:2] == b"\xff\xfe":
        return body[2:].decode("utf-16-le", errors="replace")
    if body[:2] == b"\xfe\xff":
        return body[2:].decode("utf-16-be", errors="replace")
    sample = body[:2048]
    # ASCII-heavy text has its zero bytes on the high side of each code unit
    zeros_even = sample[0::2].count(0)
    zeros_odd = sample[1::2].count(0)
    if zeros_even == zeros_odd == 0 and len(body) % 2:
        return body.decode("utf-8", errors="replace")  # mislabelled UTF-8
    codec = "utf-16-be" if zeros_even > zeros_odd else "utf-16-le"
    return body[: len(body) - len(body) % 2].decode(codec, errors="replace")
