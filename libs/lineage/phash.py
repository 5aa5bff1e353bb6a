"""Perceptual hash: the same picture re-encoded, resized or lightly cropped keeps (nearly) the same hash.

A 64-bit DCT hash (the classic pHash): grey, 32×32, the 8×8 lowest frequencies of the 2-D DCT,
one bit per coefficient above their median. Low frequencies survive re-encoding and resizing, so
the Hamming distance between two hashes says whether two files show the same content. Pure Python
(no numpy in the product's dependencies): only the 8 rows of the DCT that are kept are computed.
"""

from __future__ import annotations

import hashlib
import math

from PIL import Image

HASH_SIDE = 8  # 8×8 = 64 bits
SAMPLE_SIDE = 32  # the picture is reduced to 32×32 before the DCT
FLAT = 32.0  # largest low-frequency coefficient of a picture with no visible shape (grey levels × 32)

# The first 8 DCT-II basis rows over 32 samples, computed once.
_DCT_ROWS: tuple[tuple[float, ...], ...] = tuple(
    tuple(math.cos(math.pi * (2 * x + 1) * u / (2 * SAMPLE_SIDE)) for x in range(SAMPLE_SIDE))
    for u in range(HASH_SIDE)
)


def perceptual_hash(image: Image.Image) -> str:
    """The 64-bit DCT hash of the picture as 16 hex digits."""
    grey = image.convert("L").resize((SAMPLE_SIDE, SAMPLE_SIDE), Image.Resampling.LANCZOS)
    raw = grey.tobytes()
    rows = [raw[y * SAMPLE_SIDE : (y + 1) * SAMPLE_SIDE] for y in range(SAMPLE_SIDE)]
    # DCT along x for every row, keeping the 8 lowest frequencies: 32×8
    along_x = [[sum(c * p for c, p in zip(basis, row, strict=True)) for basis in _DCT_ROWS] for row in rows]
    # then along y: 8×8
    coefficients = [
        sum(basis[y] * along_x[y][u] for y in range(SAMPLE_SIDE))
        for basis in _DCT_ROWS
        for u in range(HASH_SIDE)
    ]
    if max(abs(c) for c in coefficients[1:]) < FLAT:
        # a flat picture (one colour, a placeholder) has no shape to compare: its bits would be
        # rounding noise, so it gets the all-zero hash, which the rules never match
        return "0" * 16
    median = sorted(coefficients)[len(coefficients) // 2 - 1 : len(coefficients) // 2 + 1]
    threshold = (median[0] + median[1]) / 2
    value = 0
    for coefficient in coefficients:
        value = (value << 1) | (1 if coefficient > threshold else 0)
    return f"{value:016x}"


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes (0 = same picture, 64 = opposite)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def pixels_md5(image: Image.Image) -> str:
    """md5 of the decoded pixels, as AUTOMATIC1111 names a saved init image ("Init image hash").

    A1111 writes `hashlib.md5(init_image.tobytes()).hexdigest()` into the img2img result's infotext
    and, with "save init images" on, saves the init image as `<that md5>.png`: the key lets the
    child find its parent by content even when the saved file was renamed."""
    return hashlib.md5(image.tobytes(), usedforsecurity=False).hexdigest()
