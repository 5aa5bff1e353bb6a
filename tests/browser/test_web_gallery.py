"""The library as a person browses it in Chromium: session cards, a session's images, the inspector,
the gallery with session lanes, search and saved searches. Found by role and accessible name."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.browser.conftest import sign_in
from tests.polling import until

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def corpus_images(corpus: Path, n: int = 16) -> list[Path]:
    """The first `n` images of the real corpus, as the acceptance check picks them."""
    found = sorted(
        Path(d) / f
        for d, _, fs in os.walk(corpus)
        for f in fs
        if f.lower().endswith((".png", ".jpg", ".jpeg", ".webp"))
    )
    return found[:n]


async def import_files(client, files: list[Path]) -> None:  # type: ignore[no-untyped-def]
    response = await client.post(
        "/api/v1/assets",
        files=[("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in files],
        data={"last_modified": [str(int(p.stat().st_mtime * 1000)) for p in files]},
    )
    assert response.status_code == 200, response.text

    async def settled() -> bool:
        sessions = (await client.get("/api/v1/sessions")).json()
        assets = (await client.get("/api/v1/assets", params={"limit": 500})).json()
        return bool(sessions) and sum(s["asset_count"] for s in sessions) == len(
            [a for a in assets if a["generated_at"]]
        )

    assert await until(settled, within=60.0)


async def test_sessions_detail_inspector_lanes_search_and_saved_search(
    page, gateway_url, new_tenant, corpus, artifacts
) -> None:
    from playwright.async_api import expect

    token, client = await new_tenant()
    await import_files(client, corpus_images(corpus))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    await sign_in(page, gateway_url, token)

    # the home page: session cards, each a link named with its image count
    await page.goto(gateway_url)
    await expect(page).to_have_url(re.compile(r"/app/sessions$"))
    cards = page.get_by_role("link", name=re.compile(r"\d+ images?"))
    await expect(cards.first).to_be_visible(timeout=30_000)
    await page.screenshot(path=str(artifacts / "1-sessions.png"))
    sessions = (await client.get("/api/v1/sessions")).json()
    assert await cards.count() == len(sessions)

    # a session's detail: its images; the first opens the inspector with prompt, model and seed
    await cards.first.click()
    await expect(page).to_have_url(re.compile(r"/app/sessions/[0-9a-f-]{36}$"))
    await expect(page.locator("main img").first).to_be_visible()
    await page.screenshot(path=str(artifacts / "2-detail.png"))
    await page.locator("main img").first.click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    for label in ("Prompt", "Model", "Seed", "Generated"):
        await expect(dialog.get_by_role("term").filter(has_text=re.compile(f"^{label}"))).to_be_visible()
    await expect(dialog.get_by_role("link", name="Download original")).to_be_visible()
    await page.screenshot(path=str(artifacts / "3-inspector.png"))
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()

    # the gallery: every image; the lanes switch shows one lane per session
    await page.get_by_role("link", name="Gallery").click()
    await expect(page.locator("main img").first).to_be_visible()
    total = len((await client.get("/api/v1/assets", params={"limit": 500})).json())
    await expect(page.locator("main img")).to_have_count(total)
    await expect(page.get_by_role("status").filter(has_text=f"{total} images")).to_be_visible()
    lanes = page.get_by_role("switch", name="Session lanes")
    await lanes.click()
    await expect(lanes).to_have_attribute("aria-checked", "true")
    await expect(page.get_by_role("region", name=re.compile(r"^Session "))).to_have_count(len(sessions))
    await page.screenshot(path=str(artifacts / "4-lanes.png"))
    await lanes.click()
    await expect(lanes).to_have_attribute("aria-checked", "false")

    # search a prompt word: only matching images, and the address says so
    matching = (await client.get("/api/v1/assets", params={"q": "duck"})).json()
    assert 0 < len(matching) < total
    box = page.get_by_role("searchbox", name="Search")
    await box.fill("duck")
    await box.press("Enter")
    await expect(page).to_have_url(re.compile(r"[?&]q=duck"))
    await expect(page.locator("main img")).to_have_count(len(matching))
    await page.screenshot(path=str(artifacts / "5-search.png"))

    # save it: it shows in the sidebar and opens the same search later
    await page.get_by_role("button", name="Save search").click()
    await page.get_by_label("Name").fill("Ducks")
    await page.get_by_role("button", name="Save", exact=True).click()
    saved = page.get_by_role("navigation", name="Main").get_by_role("link", name="Ducks")
    await expect(saved).to_be_visible()
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    await saved.click()
    await expect(page.get_by_role("searchbox", name="Search")).to_have_value("duck")
    await expect(page.locator("main img")).to_have_count(len(matching))
    assert errors == []


async def test_images_without_a_time_are_found_by_the_filter(page, gateway_url, new_tenant, corpus) -> None:
    from playwright.async_api import expect

    token, client = await new_tenant()
    untimed = (corpus / "a1111/automatic1111_cropped.png").read_bytes()  # no time inside, none given
    response = await client.post("/api/v1/assets", files=[("files", ("untimed.png", untimed, "image/png"))])
    assert response.json()[0]["status"] == "imported"
    assert await until(lambda: _count(client, {"has_time": "false"}), within=30.0)
    await sign_in(page, gateway_url, token)
    await page.goto(f"{gateway_url}/app/gallery")
    await page.get_by_label("Generation time").select_option(label="Without a generation time")
    await expect(page).to_have_url(re.compile(r"has_time=false"))
    await expect(page.locator("main img")).to_have_count(1)
    await page.locator("main img").click()
    await expect(page.get_by_role("dialog")).to_contain_text("No generation time")


async def _count(client, params: dict[str, str]) -> int:  # type: ignore[no-untyped-def]
    return len((await client.get("/api/v1/assets", params=params)).json())
