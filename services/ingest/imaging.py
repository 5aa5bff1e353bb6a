"""Pixels: decode an image once, safely, and make what the gallery shows.

Pure functions over bytes (no I/O). Limits are explicit, and ours are the only ones:
- a file that claims more pixels than `max_pixels` is refused before decoding (decompression
  bombs). Pillow's own limit (`Image.MAX_IMAGE_PIXELS`) is set to the same number, so no other
  default (Pillow's 89 M, or a lower one some other code left behind) refuses a file under it;
- a PNG text chunk may inflate to `max_text_chunk` bytes and all of a file's text chunks to
  `max_text_memory` (Pillow's `PngImagePlugin.MAX_TEXT_CHUNK` / `MAX_TEXT_MEMORY`; its default
  of 1 MB per chunk refused real ComfyUI workflows); more is refused as a decompression bomb;
- a PNG with more chunks than the metadata reader walks (`MAX_PNG_CHUNKS`) is refused before
  Pillow walks them all (one Python call per chunk: 200 MB of empty chunks is a minute of CPU).
A file Pillow cannot decode is refused with Pillow's reason. Damage that does not stop the
pixels (EXIF Pillow cannot parse, a broken chunk after a WebP's image data) is imported and
reported in `DecodedImage.problems`.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from libs.lineage.phash import perceptual_hash, pixels_md5
from libs.metadata.containers import MAX_CHUNKS, PNG_SIGNATURE

log = logging.getLogger(__name__)

# formats we import; anything else (PDF, SVG, TIFF scans...) is refused with a reason
SUPPORTED_FORMATS = {"PNG", "JPEG", "WEBP", "GIF", "AVIF", "BMP"}
# the metadata reader stops walking a PNG after this many chunks: an imported PNG was read whole
MAX_PNG_CHUNKS = MAX_CHUNKS
DEFAULT_MAX_PIXELS = 80_000_000
DEFAULT_MAX_TEXT_CHUNK = 16 * 1024 * 1024
DEFAULT_MAX_TEXT_MEMORY = 64 * 1024 * 1024
# PNG text chunks the generators write their parameters in: a PNG without any is a plain picture, maybe an
# init image AUTOMATIC1111 saved under the md5 of its pixels (see `decode_image`)
GENERATION_TEXT_CHUNKS = frozenset(
    {"parameters", "prompt", "workflow", "invokeai_metadata", "sd-metadata", "Dream", "Comment"}
)


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
    # damage that did not stop the pixels, for the user (the import notes it in the record)
    problems: list[str] = field(default_factory=list)
    # lineage: the 64-bit perceptual hash (libs/lineage/phash.py), and the md5 of the decoded pixels of
    # a PNG without generation text (how AUTOMATIC1111 names a saved init image)
    phash: str | None = None
    pixels_md5: str | None = None


def configure_pillow(
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_text_chunk: int = DEFAULT_MAX_TEXT_CHUNK,
    max_text_memory: int = DEFAULT_MAX_TEXT_MEMORY,
) -> None:
    """Set Pillow's process-wide limits to ours. `decode_image` calls it every time (three
    assignments), so whatever else changed them since, the configured limits are the ones that apply."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    PngImagePlugin.MAX_TEXT_CHUNK = max_text_chunk
    PngImagePlugin.MAX_TEXT_MEMORY = max_text_memory


def _too_many_png_chunks(data: bytes, limit: int = MAX_PNG_CHUNKS) -> bool:
    """Whether chunks still follow after `limit` chunk headers (only the headers are read)."""
    pos = len(PNG_SIGNATURE)
    for _ in range(limit):
        if pos + 8 > len(data):
            return False
        length, ctype = struct.unpack_from(">I4s", data, pos)
        if ctype == b"IEND":
            return False
        pos += 12 + length
    return pos + 8 <= len(data)


def _webp_before_damage(data: bytes) -> bytes | None:
    """A WebP whose chunk list breaks after its image data (a chunk claiming more bytes than the
    file holds, as a bad EXIF writer leaves it), cut before the broken chunk: a WebP libwebp
    decodes. None when nothing is broken or the image data is not whole before the break."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    pos, has_image = 12, False
    for _ in range(MAX_CHUNKS):
        if pos + 8 > len(data):
            return None  # the chunk list ends without a broken chunk: some other damage
        ctype, length = struct.unpack_from("<4sI", data, pos)
        if pos + 8 + length > len(data):
            break
        has_image = has_image or ctype in (b"VP8 ", b"VP8L", b"ANMF")
        pos += 8 + length + (length & 1)
    else:
        return None
    if not has_image:
        return None
    body = data[8:pos]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _failure(exc: Exception) -> str:
    text = str(exc)
    if "MAX_TEXT_CHUNK" in text or "MAX_TEXT_MEMORY" in text:
        return (
            f"PNG text chunks inflate to more than the limit ({PngImagePlugin.MAX_TEXT_CHUNK:,} bytes per "
            f"chunk, {PngImagePlugin.MAX_TEXT_MEMORY:,} per file): refused as a decompression bomb"
        )
    return text


def _open_checked(data: bytes, max_pixels: int) -> Image.Image:
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
        # Pillow's own message names twice the limit when it is over that: say the one that applies
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else "the declared size"
        raise ImageRejected(
            f"image too large: {size} exceed {max_pixels:,} pixels (decompression bomb refused)"
        ) from None
    except Exception as exc:
        raise ImageRejected(f"unreadable image: {_failure(exc)}") from None


def _open(data: bytes, max_pixels: int) -> tuple[Image.Image, list[str]]:
    """The opened (not yet decoded) image and the damage it was opened despite."""
    if data.startswith(PNG_SIGNATURE) and _too_many_png_chunks(data):
        raise ImageRejected(f"PNG has more than {MAX_PNG_CHUNKS:,} chunks")
    try:
        return _open_checked(data, max_pixels), []
    except ImageRejected:
        salvaged = _webp_before_damage(data)
        if salvaged is None:
            raise
    image = _open_checked(salvaged, max_pixels)
    return image, [
        "WebP has a damaged chunk after its image data (it claims more bytes than the file holds); "
        "the pixels were read from the chunks before it"
    ]


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
    data: bytes,
    *,
    card_size: int = 384,
    detail_size: int = 1280,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_text_chunk: int = DEFAULT_MAX_TEXT_CHUNK,
    max_text_memory: int = DEFAULT_MAX_TEXT_MEMORY,
) -> DecodedImage:
    """Decode once and produce the card and detail renditions (WebP) and dominant colours."""
    configure_pillow(max_pixels=max_pixels, max_text_chunk=max_text_chunk, max_text_memory=max_text_memory)
    image, problems = _open(data, max_pixels)
    fmt = image.format or "?"
    width, height = image.size
    try:
        if fmt == "JPEG":
            # decode at the smallest scale still larger than the detail rendition
            image.draft("RGB", (detail_size, detail_size))
        image.seek(0)  # animated files: the first frame stands for the file
        image.load()
        content_md5 = _init_image_md5(image, fmt)
        if fmt in ("JPEG", "WEBP"):
            try:
                # in place: the default returns a full copy of the decoded pixels even when there is
                # nothing to rotate (most files), a few ms per image for nothing
                ImageOps.exif_transpose(image, in_place=True)
            except Exception as exc:  # EXIF Pillow cannot parse: the pixels are fine, shown unrotated
                problems.append(f"EXIF could not be read to orient the image ({exc}); shown as stored")
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
        phash = _phash(image)
    except ImageRejected:
        raise
    except Exception as exc:
        raise ImageRejected(f"corrupt image data: {_failure(exc)}") from None
    return DecodedImage(
        format=fmt,
        width=width,
        height=height,
        renditions=renditions,
        dominant_colors=colors,
        problems=problems,
        phash=phash,
        pixels_md5=content_md5,
    )


def _phash(image: Image.Image) -> str | None:
    """The perceptual hash of the card-size pixels: (nearly) the hash the full pixels would give, since it
    works on 32x32 grey, at a fraction of the cost (~2 ms). A failure costs the asset its similarity
    links, not its import."""
    try:
        return perceptual_hash(image)
    except Exception:
        log.exception("perceptual hash failed")
        return None


def _init_image_md5(image: Image.Image, fmt: str) -> str | None:
    """md5 of the full decoded pixels, only for a PNG without generation text: AUTOMATIC1111 saves an
    img2img init image as `<that md5>.png` and writes the md5 into the result, so a renamed init image
    is still found by content. Hashing every file's full pixels would cost ~7 ms per megapixel on the
    import's hot path; generated files (with their text) are found by their own keys instead."""
    if fmt != "PNG" or GENERATION_TEXT_CHUNKS & set(image.info):
        return None
    try:
        return pixels_md5(image)
    except Exception:
        log.exception("pixels md5 failed")
        return None
