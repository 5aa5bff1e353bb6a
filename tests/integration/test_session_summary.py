"""Clustering keeps each session's summary (top prompt phrases, tools, models) as images arrive."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image, PngImagePlugin

from tests.polling import until

pytestmark = pytest.mark.integration

T0 = 1_732_540_000_000  # ms


def _a1111_png(seed: int, prompt: str, model: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters", f"{prompt}\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: {seed}, Model: {model}"
    )
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (seed % 256, 40, 90)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


async def test_a_session_summary_follows_its_images(stack, new_tenant) -> None:
    _, client = await new_tenant()
    me = (await client.get("/api/v1/me")).json()
    tenant_id = uuid.UUID(me.get("workspace_id") or me["tenant_id"])
    prompts = ["a lighthouse at dusk, oil painting"] * 3 + ["a lighthouse at dusk, watercolor"] * 2
    files = [
        ("files", (f"s{i}.png", _a1111_png(i + 1, p, "juggernautXL"), "image/png"))
        for i, p in enumerate(prompts)
    ]
    mtimes = {"last_modified": [str(T0 + i * 60_000) for i in range(len(prompts))]}
    response = await client.post("/api/v1/assets", files=files, data=mtimes)
    assert response.status_code == 200, response.text

    pool = stack["gateway"].pool

    async def summary() -> dict[str, object] | None:
        row = await pool.fetchrow(
            "SELECT asset_count, summary FROM clustering.session_cards WHERE tenant_id = $1", tenant_id
        )
        return row["summary"] if row and row["asset_count"] == len(prompts) else None

    found = await until(summary, within=30.0)
    expected = {
        "phrases": ["a lighthouse at dusk", "oil painting", "watercolor"],
        "tools": [{"name": "a1111", "count": 5}],
        "models": [{"name": "juggernautXL", "count": 5}],
    }
    assert found == expected
    # the card and the detail carry it
    [card] = (await client.get("/api/v1/sessions")).json()
    assert card["summary"] == expected
    assert (await client.get(f"/api/v1/sessions/{card['id']}")).json()["summary"] == expected
