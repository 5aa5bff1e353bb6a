"""Content across an ambiguous gap, end to end: what the images say decides a pause the time rule
alone would call the other way, through the real pipeline (upload, ingest's metadata and lineage facts
on `asset.imported`, clustering's default rule)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from tests.polling import until

pytestmark = pytest.mark.integration

T0_MS = 1_767_261_600_000  # 2026-01-01 10:00 UTC


def _png(prompt: str, seed: int, model: str, colour: tuple[int, int, int]) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", f"{prompt}\nSteps: 30, Sampler: Euler a, CFG scale: 6, Seed: {seed}, "
                                f"Size: 64x64, Model: {model}")  # fmt: skip
    out = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(out, "PNG", pnginfo=info)
    return out.getvalue()


async def _upload(client: Any, name: str, images: list[tuple[bytes, int]]) -> None:
    files = [("files", (f"{name}-{i:03d}.png", data, "image/png")) for i, (data, _) in enumerate(images)]
    r = await client.post("/api/v1/assets", files=files, data={"last_modified": [str(t) for _, t in images]})
    assert r.status_code == 200, r.text


async def _session_sizes(client: Any, expected_total: int) -> list[int] | None:
    sessions = (await client.get("/api/v1/sessions")).json()
    sizes = sorted(s["asset_count"] for s in sessions)
    return sizes if sum(sizes) == expected_total else None


async def test_the_same_work_continuing_across_a_long_pause_is_one_session(new_tenant: Any) -> None:
    """12 images 40 s apart, a 50-minute pause, 12 more of the same prompt, model and seed run: the
    time rule alone cuts at 50 minutes after such a quick tempo; the images say it is one session."""
    from libs.sessions.segmentation import DEFAULT_RULE, Moment, segment

    _, client = await new_tenant()
    prompt = "a lighthouse on a cliff at dusk, oil painting, dramatic sky"
    times = [T0_MS + i * 40_000 for i in range(12)] + [
        T0_MS + 11 * 40_000 + 50 * 60_000 + i * 40_000 for i in range(12)
    ]
    images = [(_png(prompt, 5000 + i, "juggernautXL_v9", (30, 60, 200)), t) for i, t in enumerate(times)]
    # what the time rule alone says of these times: two sessions (so content is what joins them)
    from datetime import UTC, datetime

    moments = [Moment(str(i), datetime.fromtimestamp(t / 1000, UTC)) for i, t in enumerate(times)]
    assert [len(s) for s in segment(moments, DEFAULT_RULE)] == [12, 12]
    await _upload(client, "continuing", images)
    assert await until(lambda: _session_sizes(client, 24), within=60.0) == [24]


async def test_other_work_after_a_short_pause_is_another_session(new_tenant: Any) -> None:
    """12 images of one subject, model and tool, a 25-minute pause, then 12 of another subject on
    another model: the time rule alone keeps one session; the images say two."""
    from datetime import UTC, datetime

    from libs.sessions.segmentation import DEFAULT_RULE, Moment, segment

    _, client = await new_tenant()
    first = [(_png("a lighthouse on a cliff at dusk, oil painting", 5000 + i, "juggernautXL_v9", (30, 60, 200)),
              T0_MS + i * 40_000) for i in range(12)]  # fmt: skip
    start = T0_MS + 11 * 40_000 + 25 * 60_000
    second = [(_png("isometric pixel art city block, neon signs, night", 90 + i * 7919, "pixelArtXL_v2",
                    (220, 40, 160)), start + i * 40_000) for i in range(12)]  # fmt: skip
    moments = [
        Moment(str(i), datetime.fromtimestamp(t / 1000, UTC)) for i, (_, t) in enumerate(first + second)
    ]
    assert [len(s) for s in segment(moments, DEFAULT_RULE)] == [24]
    await _upload(client, "switching", first + second)
    assert await until(lambda: _session_sizes(client, 24), within=60.0) == [12, 12]
