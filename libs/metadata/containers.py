"""Walk image containers (PNG chunks, JPEG segments, WebP RIFF chunks) and collect metadata blocks.

Pure Python over bytes already in memory, with bounded work: every length is checked
against the data left, text blocks and decompressed text are capped, and the number of
chunks/segments walked is capped. Pixels are never decoded here; the image size comes
from the headers. The result, `ContainerData`, is raw material for the tool readers
(`formats.py`): text chunks, the EXIF TIFF block, the XMP packet, a JPEG comment, and
whether a C2PA manifest box is present.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from libs.common.assets import PNG_SIGNATURE, sniff_format

from .record import MetadataError

# --- limits (hostile input) ---
MAX_TEXT_CHUNK_BYTES = 64 * 1024 * 1024  # a ComfyUI workflow is a few MiB at most
MAX_DECOMPRESSED_TEXT_BYTES = 64 * 1024 * 1024  # zTXt/iTXt bomb guard
MAX_TOTAL_TEXT_BYTES = 128 * 1024 * 1024  # all text chunks of one file together
MAX_CHUNKS = 100_000  # PNG chunks / JPEG segments / RIFF chunks walked per file
MAX_XMP_BYTES = 16 * 1024 * 1024

XMP_JPEG_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
PNG_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}


@dataclass
class ContainerData:
    format: str
    width: int | None = None
    height: int | None = None
    texts: dict[str, str] = field(default_factory=dict)  # PNG text chunks, keyword → text
    exif: bytes | None = None  # TIFF block (no "Exif\0\0" prefix)
    xmp: str | None = None
    comment: str | None = None  # JPEG COM / GIF comment
    has_c2pa: bool = False
    png_time: str | None = None  # tIME as ISO text (file modification time by definition)
    png_color_type: int | None = None
    png_bit_depth: int | None = None
    png_interlaced: bool = False
    idat_chunks: list[tuple[int, int]] = field(default_factory=list)  # (offset, length) of IDAT data
    animated: bool = False
    problems: list[str] = field(default_factory=list)  # non-fatal damage found while walking


def read_container(data: bytes) -> ContainerData:
    """Walk the container of `data`; raises MetadataError when it is not an image we can walk."""
    fmt = sniff_format(data)
    if fmt is None:
        raise MetadataError("not an image: unknown file signature")
    if fmt == "PNG":
        return read_png(data)
    if fmt == "JPEG":
        return read_jpeg(data)
    if fmt == "WEBP":
        return read_webp(data)
    if fmt == "GIF":
        return read_gif(data)
    if fmt == "TIFF":
        return ContainerData(format="TIFF", exif=data)
    return ContainerData(format=fmt)


# ----------------------------------------------------------------------------- PNG


def read_png(data: bytes) -> ContainerData:
    out = ContainerData(format="PNG")
    pos = len(PNG_SIGNATURE)
    total_text = 0
    for _ in range(MAX_CHUNKS):
        if pos == len(data):
            out.problems.append("PNG ends without an IEND chunk")
            return out
        if pos + 8 > len(data):
            out.problems.append(f"PNG truncated inside a chunk header at byte {pos}")
            return out
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        start, end = pos + 8, pos + 8 + length
        if end + 4 > len(data):
            if ctype == b"IDAT" or ctype == b"IEND":
                out.problems.append(f"PNG truncated in chunk {_name(ctype)} at byte {pos}")
            else:
                out.problems.append(
                    f"PNG chunk {_name(ctype)} at byte {pos} claims {length} bytes, more than the file holds"
                )
            return out
        if ctype == b"IDAT":
            out.idat_chunks.append((start, length))
        elif ctype == b"IEND":
            return out
        else:
            body = data[start:end]
            crc_ok = zlib.crc32(data[pos + 4 : end]) == struct.unpack(">I", data[end : end + 4])[0]
            if not crc_ok:
                # a metadata chunk with a bad CRC is not trusted: skip it and say so
                out.problems.append(f"PNG chunk {_name(ctype)} at byte {pos} has a bad CRC; skipped")
            elif ctype == b"IHDR" and length >= 13:
                w, h, depth, color, _c, _f, interlace = struct.unpack(">IIBBBBB", body[:13])
                out.width, out.height = w, h
                out.png_bit_depth, out.png_color_type, out.png_interlaced = depth, color, interlace == 1
            elif ctype in PNG_TEXT_CHUNKS:
                if length > MAX_TEXT_CHUNK_BYTES or total_text > MAX_TOTAL_TEXT_BYTES:
                    out.problems.append(
                        f"PNG text chunk at byte {pos} is too large ({length} bytes); skipped"
                    )
                else:
                    try:
                        key, text = _png_text(ctype, body)
                    except MetadataError as exc:
                        out.problems.append(str(exc))
                    else:
                        total_text += len(text)
                        if key == "XML:com.adobe.xmp":
                            out.xmp = text
                        elif key not in out.texts:  # first wins, like Pillow
                            out.texts[key] = text
            elif ctype == b"eXIf":
                out.exif = _strip_exif_prefix(body)
            elif ctype == b"caBX":
                out.has_c2pa = True
            elif ctype == b"tIME" and length == 7:
                y, mo, d, h, mi, s = struct.unpack(">HBBBBB", body)
                out.png_time = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}Z"
            elif ctype == b"acTL":
                out.animated = True
        pos = end + 4
    out.problems.append(f"PNG has more than {MAX_CHUNKS} chunks; stopped walking")
    return out


def _name(ctype: bytes) -> str:
    return ctype.decode("latin-1") if ctype.isalpha() else ctype.hex()


def _png_text(ctype: bytes, body: bytes) -> tuple[str, str]:
    """Keyword and text of one tEXt / zTXt / iTXt chunk."""
    key_end = body.find(b"\x00")
    if key_end < 0 or key_end > 79:
        raise MetadataError(f"PNG {_name(ctype)} chunk has no valid keyword; skipped")
    key = body[:key_end].decode("latin-1")
    rest = body[key_end + 1 :]
    if ctype == b"tEXt":
        # the PNG spec says Latin-1, but A1111/ComfyUI write UTF-8 into tEXt: try UTF-8 first
        return key, _decode_text(rest)
    if ctype == b"zTXt":
        if not rest or rest[0] != 0:
            raise MetadataError(f"PNG zTXt {key!r} uses an unknown compression method; skipped")
        return key, _decode_text(inflate_bounded(rest[1:], what=f"zTXt {key!r}"))
    # iTXt: compression flag, method, language tag\0, translated keyword\0, text (UTF-8)
    if len(rest) < 2:
        raise MetadataError(f"PNG iTXt {key!r} is truncated; skipped")
    compressed, method = rest[0], rest[1]
    lang_end = rest.find(b"\x00", 2)
    trans_end = rest.find(b"\x00", lang_end + 1) if lang_end >= 0 else -1
    if trans_end < 0:
        raise MetadataError(f"PNG iTXt {key!r} is truncated; skipped")
    payload = rest[trans_end + 1 :]
    if compressed:
        if method != 0:
            raise MetadataError(f"PNG iTXt {key!r} uses an unknown compression method; skipped")
        payload = inflate_bounded(payload, what=f"iTXt {key!r}")
    return key, payload.decode("utf-8", errors="replace")


def _decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def inflate_bounded(payload: bytes, *, what: str, limit: int = MAX_DECOMPRESSED_TEXT_BYTES) -> bytes:
    """zlib-inflate at most `limit` bytes; a bigger result is a decompression bomb."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(payload, limit)
    except zlib.error as exc:
        raise MetadataError(f"PNG {what} is not valid zlib data ({exc}); skipped") from None
    if inflater.unconsumed_tail:
        raise MetadataError(f"PNG {what} inflates to more than {limit} bytes (decompression bomb); skipped")
    return out


def _strip_exif_prefix(block: bytes) -> bytes:
    return block[6:] if block.startswith(b"Exif\x00\x00") else block


# ----------------------------------------------------------------------------- JPEG

# SOFn markers that carry the frame size (C4 = DHT, C8 = JPG, CC = DAC are not frames)
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def read_jpeg(data: bytes) -> ContainerData:
    out = ContainerData(format="JPEG")
    pos = 2
    comments: list[str] = []
    for _ in range(MAX_CHUNKS):
        # skip fill bytes between segments
        while pos < len(data) and data[pos] == 0xFF and pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1
        if pos + 2 > len(data):
            out.problems.append("JPEG truncated before the image data")
            break
        if data[pos] != 0xFF:
            out.problems.append(f"JPEG segment marker expected at byte {pos}")
            break
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        if marker == 0xD9:  # EOI
            break
        if pos + 4 > len(data):
            out.problems.append("JPEG truncated inside a segment header")
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if length < 2 or pos + 2 + length > len(data):
            out.problems.append(
                f"JPEG segment 0x{marker:02X} at byte {pos} claims more bytes than the file holds"
            )
            break
        body = data[pos + 4 : pos + 2 + length]
        if marker == 0xDA:  # start of scan: metadata segments come before it
            break
        if marker in _SOF_MARKERS and len(body) >= 5 and out.width is None:
            out.height, out.width = struct.unpack(">HH", body[1:5])
        elif marker == 0xE1:
            if body.startswith(b"Exif\x00\x00") and out.exif is None:
                out.exif = body[6:]
            elif body.startswith(XMP_JPEG_PREFIX) and out.xmp is None:
                out.xmp = body[len(XMP_JPEG_PREFIX) :].decode("utf-8", errors="replace")
        elif marker == 0xEB and body[:2] == b"JP":  # APP11 JUMBF: C2PA manifest store
            out.has_c2pa = True
        elif marker == 0xFE:
            comments.append(_decode_text(body).rstrip("\x00"))
        pos += 2 + length
    if comments:
        out.comment = "\n".join(comments)
    return out


# ----------------------------------------------------------------------------- WebP


def read_webp(data: bytes) -> ContainerData:
    out = ContainerData(format="WEBP")
    riff_end = min(len(data), 8 + struct.unpack("<I", data[4:8])[0])
    if riff_end < 8 + struct.unpack("<I", data[4:8])[0]:
        out.problems.append("WebP is truncated (RIFF size larger than the file)")
    pos = 12
    for _ in range(MAX_CHUNKS):
        if pos + 8 > riff_end:
            break
        ctype, length = struct.unpack("<4sI", data[pos : pos + 8])
        start, end = pos + 8, pos + 8 + length
        if end > riff_end:
            out.problems.append(
                f"WebP chunk {_name(ctype)} at byte {pos} claims more bytes than the file holds"
            )
            break
        body = data[start:end]
        if ctype == b"VP8X" and length >= 10:
            out.animated = bool(body[0] & 0x02)
            out.width = 1 + int.from_bytes(body[4:7], "little")
            out.height = 1 + int.from_bytes(body[7:10], "little")
        elif ctype == b"VP8 " and length >= 10 and out.width is None:
            w, h = struct.unpack("<HH", body[6:10])
            out.width, out.height = w & 0x3FFF, h & 0x3FFF
        elif ctype == b"VP8L" and length >= 5 and out.width is None:
            bits = int.from_bytes(body[1:5], "little")
            out.width, out.height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        elif ctype == b"EXIF":
            out.exif = _strip_exif_prefix(body)
        elif ctype == b"XMP ":
            out.xmp = body[:MAX_XMP_BYTES].decode("utf-8", errors="replace")
        elif ctype == b"C2PA":
            out.has_c2pa = True
        pos = end + (length & 1)  # chunks are padded to an even size
    return out


# ----------------------------------------------------------------------------- GIF


def read_gif(data: bytes) -> ContainerData:
    out = ContainerData(format="GIF")
    if len(data) >= 10:
        out.width, out.height = struct.unpack("<HH", data[6:10])
    return out
