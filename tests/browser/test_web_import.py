"""A person signs in with their token, imports images, and sees their sessions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def test_sign_in_import_and_open_a_session(
    page, gateway_url, new_tenant, corpus, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    token, _ = await new_tenant()
    await page.goto(gateway_url)

    # a wrong token is refused with a message, the right one opens the library
    await page.fill("#token", "not-a-token")
    await page.click("#signin-form button[type=submit]")
    await expect(page.locator("#signin-error")).to_contain_text("not accepted")
    await page.fill("#token", token)
    await page.click("#signin-form button[type=submit]")
    await expect(page.locator("#library")).to_be_visible()
    await expect(page.locator("#no-sessions")).to_be_visible()

    # import two files through the file chooser, as a person would
    files = []
    for rel in (
        "midjourney/image-description.png",
        "civitai/68295CAE9DE493031ACD8C135AD863E5E7C53D368852AD5FC14F661E6D489A58.jpeg",
    ):
        target = tmp_path / Path(rel).name
        shutil.copy(corpus / rel, target)
        files.append(str(target))
    await page.set_input_files("#files", files)
    results = page.locator("#upload-results li")
    await expect(results).to_have_count(2, timeout=30_000)
    await expect(page.locator("#upload-results li[data-status=imported]")).to_have_count(2)

    # two generations years apart: two session cards, each with its cover thumbnail loaded
    cards = page.locator(".card")
    await expect(cards).to_have_count(2, timeout=30_000)
    first_cover = cards.first.locator(".cover img").first
    await expect(first_cover).to_be_visible()
    assert await first_cover.evaluate("img => img.complete && img.naturalWidth > 0")
    await expect(page.locator("#groups h3")).to_have_text(["Earlier"])

    # open the Midjourney session: its image and prompt are listed
    await page.locator(".card", has_text="2026").first.click()
    await expect(page.locator("#session-detail")).to_be_visible()
    await expect(page.locator(".asset figcaption")).to_contain_text("dream caused by the buzz of a bee")
    await page.screenshot(path=str(tmp_path / "session.png"))

    # uploading the same file again says duplicate
    await page.click("#back")
    await page.set_input_files("#files", files[:1])
    await expect(page.locator("#upload-results li[data-status=duplicate]")).to_have_count(1, timeout=30_000)
