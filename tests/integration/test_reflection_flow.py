"""The paid flow end to end over the real broker, database and object store, through the gateway's API:
quote, confirm with an Idempotency-Key (twice at once: one reflection, one charge), the worker's
reflection naming what changed, the card's summary; 49 images refused; a short balance's 402 problem;
a failing curator's reservation released."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import httpx
import pytest
from PIL import Image, PngImagePlugin

from services.reflection.curators import CuratorFailed
from tests.polling import until

pytestmark = pytest.mark.integration

T0_MS = 1_764_000_000_000
BASE = "a lighthouse on a cliff, dramatic sky, oil painting"


def _png(i: int, prompt: str, cfg: float, model: str, colour: tuple[int, int, int]) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", f"{prompt}\nNegative prompt: blurry\nSteps: 30, Sampler: DPM++ 2M Karras, "
                  f"CFG scale: {cfg}, Seed: {1000 + i}, Size: 64x64, Model: {model}")  # fmt: skip
    out = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def lighthouse_session(n: int = 60, base: str = BASE) -> list[bytes]:
    """60 images with known edits: ', golden hour' and CFG 5 -> 7 from image 31, model switch at 41,
    blue then orange."""
    return [
        _png(i, base + (", golden hour" if i >= 30 else ""), 5 if i < 30 else 7,
             "juggernautXL_v9" if i < 40 else "dreamshaperXL_turbo", (30, 60, 200) if i < 30 else (230, 120, 30))
        for i in range(n)
    ]  # fmt: skip


async def upload_session(client: httpx.AsyncClient, images: list[bytes], start_ms: int, name: str) -> str:
    for k in range(0, len(images), 20):
        chunk = images[k : k + 20]
        files = [("files", (f"{name}-{k + i:03d}.png", data, "image/png")) for i, data in enumerate(chunk)]
        times = [str(start_ms + (k + i) * 40_000) for i in range(len(chunk))]
        response = await client.post("/api/v1/assets", files=files, data={"last_modified": times})
        assert response.status_code == 200, response.text

    async def the_session() -> str | None:
        for s in (await client.get("/api/v1/sessions")).json():
            if s["asset_count"] == len(images) and s["start"].startswith(_day(start_ms)):
                return str(s["id"])
        return None

    session = await until(the_session, within=60.0)
    assert session
    return session


def _day(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


async def _credits(client: httpx.AsyncClient) -> dict[str, Any]:
    return (await client.get("/api/v1/credits")).json()


async def _finished(client: httpx.AsyncClient, reflection_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        doc = (await client.get(f"/api/v1/reflections/{reflection_id}")).json()
        return doc if doc["status"] in ("completed", "failed") else None

    doc = await until(done, within=60.0)
    assert doc
    return doc


async def test_quote_confirm_twice_reflect_and_charge_once(stack, new_tenant) -> None:
    _, client = await new_tenant()
    session = await upload_session(client, lighthouse_session(), T0_MS, "s60")
    short = await upload_session(
        client, lighthouse_session(49, "a red fox in snow"), T0_MS + 6 * 3600_000, "s49"
    )

    refused = await client.post(f"/api/v1/sessions/{short}/reflection/quote")
    assert refused.status_code == 422 and "50 images" in refused.json()["detail"]
    quote = (await client.post(f"/api/v1/sessions/{session}/reflection/quote")).json()
    assert quote["credits"] > 0 and quote["model"]
    before = await _credits(client)

    key = uuid.uuid4().hex
    confirm = lambda: client.post(  # noqa: E731
        f"/api/v1/sessions/{session}/reflections",
        json={"quote_id": quote["quote_id"]},
        headers={"Idempotency-Key": key},
    )
    first, second = await asyncio.gather(confirm(), confirm())
    assert first.status_code == second.status_code == 202, (first.text, second.text)
    reflection_id = first.json()["reflection_id"]
    assert second.json()["reflection_id"] == reflection_id

    doc = await _finished(client, reflection_id)
    assert doc["status"] == "completed", doc
    text = " ".join(
        s["text"] for part in ("summary_statements", "style_patterns", "evolution_notes") for s in doc[part]
    )
    for words in ("lighthouse", "golden hour", "dreamshaperXL_turbo", "CFG 5 → 7"):
        assert words.lower() in text.lower(), (words, text)
    assert all(s["asset_ids"] for s in doc["evolution_notes"])

    async def settled() -> dict[str, Any] | None:
        now = await _credits(client)
        return now if now["reserved"] == before["reserved"] and now["balance"] != before["balance"] else None

    after = await until(settled, within=30.0)
    assert after and before["balance"] - after["balance"] == doc["credits_charged"] <= quote["credits"]
    # the same key again: the same reflection, nothing more charged
    again = await confirm()
    assert again.status_code == 202 and again.json()["reflection_id"] == reflection_id
    assert await _credits(client) == after
    # the same key for another quote is refused
    other = (await client.post(f"/api/v1/sessions/{session}/reflection/quote")).json()
    clash = await client.post(f"/api/v1/sessions/{session}/reflections", json={"quote_id": other["quote_id"]},
                              headers={"Idempotency-Key": key})  # fmt: skip
    assert clash.status_code == 409
    # the card and the list carry it
    card = next(s for s in (await client.get("/api/v1/sessions")).json() if s["id"] == session)
    assert card["reflection_summary"] and "lighthouse" in card["reflection_summary"].lower()
    listed = (await client.get(f"/api/v1/sessions/{session}/reflections")).json()
    assert [r["reflection_id"] for r in listed] == [reflection_id]


async def test_short_balance_is_a_402_problem_and_a_failure_releases(stack, new_tenant, monkeypatch) -> None:
    _, client = await new_tenant()
    session = await upload_session(client, lighthouse_session(), T0_MS, "s60")
    quote = (await client.post(f"/api/v1/sessions/{session}/reflection/quote")).json()
    tenant = (await client.get("/api/v1/me")).json()["workspace_id"]
    credits_api = httpx.AsyncClient(base_url=stack["gateway"].settings.credits_url,
                                    headers={"X-Atelier-Internal-Token": "test-internal-token"})  # fmt: skip
    async with credits_api:
        balance = (await _credits(client))["available"]
        response = await credits_api.post(f"/internal/v1/accounts/{tenant}/grants",
                                          json={"credits": -balance, "reason": "test", "idempotency_key": "empty"})  # fmt: skip
        assert response.status_code == 201, response.text
    key = uuid.uuid4().hex
    body, headers = {"quote_id": quote["quote_id"]}, {"Idempotency-Key": key}
    short = await client.post(f"/api/v1/sessions/{session}/reflections", json=body, headers=headers)
    assert short.status_code == 402 and short.headers["content-type"].startswith("application/problem+json")
    problem = short.json()
    assert problem["type"].endswith("insufficient-credits")
    assert (problem["balance"], problem["price"]) == (0, quote["credits"]) and problem["packs"]

    # buy a pack, send the same key again: accepted now; the curator fails, so the credits come back
    assert (await client.post("/api/v1/billing/checkout", json={"pack": "starter"})).status_code == 200
    service = stack["reflection"].app.state.reflection

    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise CuratorFailed("the model is down")

    monkeypatch.setattr(service.curator, "write", failing)
    accepted = await client.post(f"/api/v1/sessions/{session}/reflections", json=body, headers=headers)
    assert accepted.status_code == 202, accepted.text
    doc = await _finished(client, accepted.json()["reflection_id"])
    assert doc["status"] == "failed" and doc["credits_charged"] in (None, 0)

    async def released() -> dict[str, Any] | None:
        now = await _credits(client)
        return now if now["reserved"] == 0 else None

    assert await until(released, within=30.0) == {
        **(await _credits(client)),
        "available": 100,
        "balance": 100,
        "reserved": 0,
    }
