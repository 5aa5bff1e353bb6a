"""Features of a thumbnail for the analysis (pure: the caller decodes the image): a 64-bit perceptual
hash (difference hash of a 9x8 grey copy), sharpness (mean edge strength, 0..1) and exposure (mean
luminance, 0..1)."""

from __future__ import annotations

from PIL import Image, ImageFilter, ImageStat


def dhash(image: Image.Image) -> int:
    grey = image.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    px = grey.tobytes()  # one byte per pixel, row by row
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = bits << 1 | (px[row * 9 + col] > px[row * 9 + col + 1])
    return bits


def sharpness(image: Image.Image) -> float:
    grey = image.convert("L")
    grey.thumbnail((256, 256))
    # the filter's outermost pixels see past the border: left out
    edges = grey.filter(ImageFilter.FIND_EDGES).crop((1, 1, grey.width - 1, grey.height - 1))
    return min(1.0, ImageStat.Stat(edges).mean[0] / 40.0)


def exposure(image: Image.Image) -> float:
    grey = image.convert("L")
    grey.thumbnail((128, 128))
    return float(ImageStat.Stat(grey).mean[0]) / 255.0


def features(image: Image.Image) -> dict[str, float | int]:
    """The keyword arguments `AssetInfo` takes from pixels."""
    return {"phash": dhash(image), "sharpness": sharpness(image), "exposure": exposure(image)}
