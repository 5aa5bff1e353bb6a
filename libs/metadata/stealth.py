"""Read "stealth pnginfo": generation text hidden in the least significant bits of the pixels.

Written by the sd-webui-stealth-pnginfo extension and by NovelAI. The bits run column by
column (x outer, y inner), from the alpha channel (`stealth_pnginfo` / `stealth_pngcomp`)
or from R, G, B in turn (`stealth_rgbinfo` / `stealth_rgbcomp`): a 15-byte magic, a 32-bit
big-endian payload length in *bits*, then the payload (gzip for the *comp magics).

Decoding pixels is the expensive part, so we first probe cheaply: the magic sits in the
first column, and the first pixel of each PNG row can be un-filtered from the pixel above
it alone. We inflate only the first rows of IDAT and look at column 0; Pillow decodes the
whole image only when the magic is really there.
"""

from __future__ import annotations

import io
import warnings
import zlib
from dataclasses import dataclass

from .containers import ContainerData
from .record import MetadataError

MAGIC_BYTES = 15
ALPHA_MAGICS = {b"stealth_pnginfo": False, b"stealth_pngcomp": True}  # magic → gzip-compressed
RGB_MAGICS = {b"stealth_rgbinfo": False, b"stealth_rgbcomp": True}
# pixels decoded to look for hidden text at most; checked on the header's size before decoding.
# Pillow's process-wide Image.MAX_IMAGE_PIXELS is not touched: it is the ingest service's image
# limit (imaging.py), and setting it here made every later import refuse images over 64 M pixels
MAX_STEALTH_PIXELS = 64 * 1024 * 1024
MAX_STEALTH_FILE_BYTES = 128 * 1024 * 1024
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
MAX_INFLATED_BYTES = 64 * 1024 * 1024
PROBE_ROWS = MAGIC_BYTES * 8  # alpha mode needs 120 rows of column 0; RGB mode needs 40


@dataclass
class StealthText:
    text: str
    mode: str  # "alpha" | "rgb"
    compressed: bool


def read_stealth(data: bytes, container: ContainerData) -> StealthText | None:
    """The hidden text of a PNG, or None; raises MetadataError on a damaged payload."""
    if container.format != "PNG" or not container.width or not container.height:
        return None
    if container.width * container.height > MAX_STEALTH_PIXELS or len(data) > MAX_STEALTH_FILE_BYTES:
        return None
    if container.png_color_type not in (2, 6):
        return None
    probe = _probe_first_column(data, container)
    if probe is False:
        return None
    # probe is True (magic seen) or None (could not probe cheaply: small or interlaced image)
    return _decode_with_pillow(data)


def _probe_first_column(data: bytes, c: ContainerData) -> bool | None:
    """Cheap magic test on column 0: True/False, or None when the probe does not apply."""
    assert c.width and c.height
    if c.png_bit_depth != 8 or c.png_interlaced or c.height < PROBE_ROWS:
        return None
    bpp = 4 if c.png_color_type == 6 else 3
    stride = 1 + c.width * bpp
    want = stride * PROBE_ROWS
    inflater = zlib.decompressobj()
    raw = bytearray()
    try:
        for start, length in c.idat_chunks:
            raw += inflater.decompress(data[start : start + length], want - len(raw))
            if len(raw) >= want:
                break
    except zlib.error:
        return False
    if len(raw) < want:
        return False
    column: list[bytes] = []
    above = bytes(bpp)
    for row in range(PROBE_ROWS):
        at = row * stride
        filter_type, pixel = raw[at], bytes(raw[at + 1 : at + 1 + bpp])
        # first pixel of a row: left and upper-left are 0, so Up/Paeth add `above`, Avg adds above//2
        if filter_type in (2, 4):
            pixel = bytes((p + b) & 0xFF for p, b in zip(pixel, above, strict=True))
        elif filter_type == 3:
            pixel = bytes((p + (b >> 1)) & 0xFF for p, b in zip(pixel, above, strict=True))
        column.append(pixel)
        above = pixel
    alpha_bits = [px[3] & 1 for px in column] if bpp == 4 else []
    rgb_bits = [px[i] & 1 for px in column[: PROBE_ROWS // 3] for i in range(3)]
    if alpha_bits and _bits_to_bytes(alpha_bits) in ALPHA_MAGICS:
        return True
    return _bits_to_bytes(rgb_bits) in RGB_MAGICS


def _bits_to_bytes(bits: list[int]) -> bytes:
    value = int("".join(map(str, bits)) or "0", 2)
    return value.to_bytes(len(bits) // 8, "big")


_LSB_AS_DIGIT = bytes(ord("0") + (i & 1) for i in range(256))


def _decode_with_pillow(data: bytes) -> StealthText | None:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_STEALTH_PIXELS:
                return None
            image.load()
    except Exception as exc:  # Pillow raises many types on damaged data
        raise MetadataError(f"could not decode pixels to look for stealth metadata ({exc})") from None
    planes = []
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        alpha = image.convert("RGBA").getchannel("A")
        planes.append(("alpha", alpha.transpose(Image.Transpose.TRANSPOSE).tobytes(), ALPHA_MAGICS))
    rgb = image.convert("RGB").transpose(Image.Transpose.TRANSPOSE).tobytes()
    planes.append(("rgb", rgb, RGB_MAGICS))
    for mode, plane, magics in planes:
        found = _parse_bitstream(plane, magics)
        if found:
            payload, compressed = found
            return StealthText(text=_payload_text(payload, compressed), mode=mode, compressed=compressed)
    return None


def _parse_bitstream(samples: bytes, magics: dict[bytes, bool]) -> tuple[bytes, bool] | None:
    """Given column-major channel samples, read magic, 32-bit bit length and the payload."""
    digits = samples[: MAGIC_BYTES * 8 + 32].translate(_LSB_AS_DIGIT)
    if len(digits) < MAGIC_BYTES * 8 + 32:
        return None
    magic = int(digits[: MAGIC_BYTES * 8], 2).to_bytes(MAGIC_BYTES, "big")
    if magic not in magics:
        return None
    bit_length = int(digits[MAGIC_BYTES * 8 :], 2)
    if bit_length > MAX_PAYLOAD_BYTES * 8:
        raise MetadataError(f"stealth metadata claims {bit_length // 8} bytes; over the limit")
    start = MAGIC_BYTES * 8 + 32
    body = samples[start : start + bit_length].translate(_LSB_AS_DIGIT)
    if len(body) < bit_length:
        raise MetadataError("stealth metadata is longer than the image")
    nbytes = bit_length // 8
    payload = int(body[: nbytes * 8] or b"0", 2).to_bytes(nbytes, "big")
    return payload, magics[magic]


def _payload_text(payload: bytes, compressed: bool) -> str:
    if compressed:
        inflater = zlib.decompressobj(wbits=31)  # gzip container
        try:
            payload = inflater.decompress(payload, MAX_INFLATED_BYTES)
        except zlib.error as exc:
            raise MetadataError(f"stealth metadata is not valid gzip ({exc})") from None
        if inflater.unconsumed_tail:
            raise MetadataError("stealth metadata inflates past the limit (decompression bomb)")
    return payload.decode("utf-8", errors="replace")
