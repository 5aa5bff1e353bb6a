"""The perceptual hash: the same picture re-encoded or resized stays close; other pictures are far."""

from __future__ import annotations

import hashlib
import io

from PIL import Image

from libs.lineage.linking import PHASH_SAME
from libs.lineage.phash import hamming, perceptual_hash, pixels_md5

from .making import picture


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue()))


def test_same_picture_resized_reencoded_or_lightly_cropped_is_close() -> None:
    for seed in range(8):
        image = picture(seed, (512, 512))
        h = perceptual_hash(image)
        assert len(h) == 16 and int(h, 16) >= 0
        assert hamming(h, perceptual_hash(image.resize((2048, 2048), Image.Resampling.LANCZOS))) <= PHASH_SAME
        assert hamming(h, perceptual_hash(image.resize((200, 200)))) <= PHASH_SAME
        assert hamming(h, perceptual_hash(_jpeg(image, 60))) <= PHASH_SAME
        assert hamming(h, perceptual_hash(image.crop((8, 8, 504, 504)))) <= PHASH_SAME
        assert hamming(h, perceptual_hash(image.convert("RGBA"))) == 0


def test_other_pictures_are_far() -> None:
    hashes = [perceptual_hash(picture(seed, (512, 512))) for seed in range(30)]
    distances = [hamming(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    assert min(distances) > 2 * PHASH_SAME


def test_a_flat_picture_has_the_zero_hash() -> None:
    assert perceptual_hash(Image.new("RGB", (64, 64), (128, 128, 128))) == "0" * 16


def test_hamming_and_pixels_md5() -> None:
    assert hamming("0" * 16, "f" * 16) == 64 and hamming("a872df25e2c97684", "a872df25e2c97685") == 1
    image = picture(1)
    assert pixels_md5(image) == hashlib.md5(image.tobytes()).hexdigest()
