"""Small PNGs for the tests: a colour of their own per seed, and optionally A1111 generation parameters."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image
from PIL.PngImagePlugin import PngInfo


def a1111_png(seed: int, prompt: str | None) -> bytes:
    """16x16, coloured by `seed`; with `prompt`, the A1111 `parameters` text of one generation with that seed."""
    image = Image.new("RGB", (16, 16), ((seed * 53) % 256, (seed * 97) % 256, (seed * 29) % 256))
    info = PngInfo()
    if prompt is not None:
        info.add_text("parameters", f"{prompt}\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: {seed}")
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def with_text_chunk(png: bytes, text: bytes) -> bytes:
    """`png` with a `tEXt` chunk holding `text` (keyword, NUL, value; written as given, however
    malformed) placed right after IHDR, where readers meet it before the pixels."""
    chunk = b"tEXt" + text
    packed = struct.pack(">I", len(text)) + chunk + struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF)
    return png[:33] + packed + png[33:]
