"""Builders for the lineage tests: real files read the way ingest reads them, and generations."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image, ImageDraw, PngImagePlugin

from libs.lineage.evidence import lineage_facts
from libs.lineage.facts import Generation, LineageFacts
from libs.lineage.phash import perceptual_hash, pixels_md5
from libs.metadata.reader import read_generation

REPO = Path(__file__).resolve().parents[3]
REAL = REPO.parent / "shared" / "corpus" / "real"
EXAMPLES = REPO.parent / "shared" / "corpus" / "comfyui_examples"
T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


def generation_of_bytes(
    data: bytes, filename: str, *, asset_id: str | None = None, at: datetime | None = None
) -> Generation:
    """What ingest makes of an uploaded file: the record, the pixels' hashes, the lineage facts."""
    record = read_generation(data, filename=filename)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        phash = perceptual_hash(image)
        md5 = pixels_md5(image)
        width, height = image.size
    facts = lineage_facts(
        record, sha256=hashlib.sha256(data).hexdigest(), filename=filename, phash=phash, pixels_md5=md5
    )
    return Generation(
        asset_id=asset_id or filename,
        generated_at=at,
        tool=record.tool,
        prompt=record.prompt,
        model=record.model,
        width=width,
        height=height,
        facts=facts,
    )


def generation_of_file(path: Path, *, at: datetime | None = None) -> Generation:
    return generation_of_bytes(
        path.read_bytes(), path.name, asset_id=str(path.relative_to(path.parents[1])), at=at
    )


def picture(seed: int, size: tuple[int, int] = (256, 256)) -> Image.Image:
    """A picture with a few shapes; another seed gives another picture."""
    import random

    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))  # type: ignore[arg-type]
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.uniform(0, size[0]), rng.uniform(0, size[1])
        box = (x, y, x + rng.uniform(20, size[0] / 2), y + rng.uniform(20, size[1] / 2))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)  # type: ignore[arg-type]
    return image


def png(image: Image.Image, texts: dict[str, str] | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, text in (texts or {}).items():
        info.add_text(key, text)
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def gen(
    asset_id: str,
    prompt: str | None,
    seed: int | None,
    *,
    minutes: float = 0,
    tool: str | None = "a1111",
    model: str | None = "dreamshaperXL_turbo",
    size: tuple[int, int] = (1024, 1024),
    phash: str | None = None,
    at: datetime | None = None,
    **facts: object,
) -> Generation:
    """A generation as the rules see it, with sensible defaults (A1111, one model, 1024², t0+minutes)."""
    fields: dict[str, object] = {"seed": seed, "steps": 30, "cfg": 7.0, "sampler": "DPM++ 2M Karras"}
    fields.update(facts)
    if phash is not None:
        fields["phash"] = phash
    return Generation(
        asset_id=asset_id,
        generated_at=at if at is not None else T0 + timedelta(minutes=minutes),
        tool=tool,
        prompt=prompt,
        model=model,
        width=size[0],
        height=size[1],
        facts=LineageFacts(**fields),  # type: ignore[arg-type]
    )
