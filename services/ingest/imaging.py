"""Pixels: decode an image once, safely, and make what the gallery shows.

Pure functions over bytes (no I/O). Limits are explicit: a file that claims more
pixels than `max_pixels` is refused before decoding (decompression bombs), and a
file Pillow cannot decode is refused with Pillow's reason.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

# formats we import; anything else (PDF, SVG, TIFF scans...) is refused with a reason
SUPPORTED_FORMATS = {"PNG", "JPEG", "WEBP", "GIF", "AVIF", "BMP"}


class ImageRejected(Exception):
    """The bytes are not an image we can show; the message is the user-facing reason."""


@dataclass(frozen=True)
class Rendition:
    size: str  # "card" | "detail"
    data: bytes
    width: int
    height: int


@dataclass(frozen=True)
class DecodedImage:
    format: str
    width: int
    height: int
    renditions: list[Rendition]
    dominant_colors: list[str]  # "#rrggbb", most common first


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in SUPPORTED_FORMATS:
                raise ImageRejected(f"unsupported image format {image.format}")
            if image.width * image.height > max_pixels:
                raise ImageRejected(
                    f"image too large: {image.width}x{image.height} exceeds {max_pixels:,} pixels"
                )
            return image
    except ImageRejected:
        raise
    except UnidentifiedImageError:
        raise ImageRejected("not an image (unrecognised file content)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"decompression bomb refused: {exc}") from None
    except Exception as exc:
        raise ImageRejected(f"unreadable image: {exc}") from None


def _shrink(image: Image.Image, longest: int) -> None:
    """In place: no copy of the larger pixels, which are not needed once they have been shrunk."""
    image.thumbnail((longest, longest), Image.Resampling.BILINEAR, reducing_gap=2.0)


def _webp(image: Image.Image, size: str) -> Rendition:
    out = io.BytesIO()
    image.save(out, "WEBP", quality=80, method=0)
    return Rendition(size, out.getvalue(), image.width, image.height)


def dominant_colors(image: Image.Image, count: int = 5) -> list[str]:
    """The most common colours of a small copy, after median-cut quantisation."""
    small = image.convert("RGB")
    small.thumbnail((64, 64))
    quantised = small.quantize(colors=count, method=Image.Quantize.MEDIANCUT)
    palette = quantised.getpalette() or []
    ranked: list[tuple[int, int]] = sorted(quantised.getcolors() or [], reverse=True)  # type: ignore[arg-type]
    return ["#{:02x}{:02x}{:02x}".format(*palette[i * 3 : i * 3 + 3]) for _, i in ranked]


def decode_image(
    data: bytes, *, card_size: int = 384, detail_size: int = 1280, max_pixels: int = 80_000_000
) -> DecodedImage:
    """Decode once and produce the card and detail renditions (WebP) and dominant colours."""
    image = _open(data, max_pixels)
    fmt = image.format or "?"
    width, height = image.size
    try:
        if fmt == "JPEG":
            # decode at the smallest scale still larger than the detail rendition
            image.draft("RGB", (detail_size, detail_size))
        image.seek(0)  # animated files: the first frame stands for the file
        image.load()
        if fmt in ("JPEG", "WEBP"):
            # in place: the default returns a full copy of the decoded pixels even when there is
            # nothing to rotate (most files), a few ms per image for nothing
            ImageOps.exif_transpose(image, in_place=True)
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert(
                "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"
            )
        # one image shrunk in place, twice: the detail is encoded before the card is made from it
        # (far fewer pixels to resample than from the original); copies were ~3 ms per image
        _shrink(image, detail_size)
        detail = _webp(image, "detail")
        _shrink(image, card_size)
        renditions = [_webp(image, "card"), detail]
        colors = dominant_colors(image)
    except ImageRejected:
        raise
    except Exception as exc:
        raise ImageRejected(f"corrupt image data: {exc}") from None
    return DecodedImage(
        format=fmt,
        width=width,
        height=height,
        renditions=renditions,
        dominant_colors=colors,
    )
