"""A person splits a session by hand on the web page and sees two session cards."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.test_session_edits import a1111_png

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def test_split_here_makes_two_cards(page, gateway_url, new_tenant, tmp_path: Path) -> None:
    from playwright.async_api import expect

    token, _ = await new_tenant()
    # three generations a minute apart: one session (the file times are their only times)
    start = datetime(2024, 2, 3, 20, 0, tzinfo=UTC)
    files = []
    for i in range(3):
        path = tmp_path / f"render-{i}.png"
        path.write_bytes(a1111_png(f"a red fox in snow, take {i}", 100 + i))
        at = (start + timedelta(minutes=i)).timestamp()
        os.utime(path, (at, at))
        files.append(str(path))

    await page.goto(gateway_url)
    await page.fill("#token", token)
    await page.click("#signin-form button[type=submit]")
    await expect(page.locator("#library")).to_be_visible()
    await expect(page.locator("#gap-minutes")).to_have_value("")  # automatic

    await page.set_input_files("#files", files)
    await expect(page.locator("#upload-results li[data-status=imported]")).to_have_count(3, timeout=30_000)
    cards = page.locator(".card")
    await expect(cards).to_have_count(1, timeout=30_000)
    await expect(cards.first.locator(".count")).to_have_text("3 images", timeout=30_000)

    # open it: every image but the first offers "Split here"; there is no neighbour to merge with
    await cards.first.click()
    await expect(page.locator("#session-detail")).to_be_visible()
    split_buttons = page.locator(".asset button.split")
    await expect(split_buttons).to_have_count(2)
    await expect(page.locator("#merge-previous")).to_be_hidden()
    await expect(page.locator("#merge-next")).to_be_hidden()

    # split before the third image: back on the list, two cards of 2 and 1 images
    await split_buttons.nth(1).click()
    await expect(page.locator("#sessions")).to_be_visible()
    await expect(cards).to_have_count(2, timeout=30_000)
    await expect(page.locator(".card .count")).to_have_text(["1 image", "2 images"])

    # and merge them back from the later one's detail view
    await cards.first.click()
    await expect(page.locator("#merge-previous")).to_be_visible()
    await page.click("#merge-previous")
    await expect(page.locator("#session-title")).to_contain_text("3 images", timeout=30_000)
    await page.click("#back")
    await expect(cards).to_have_count(1, timeout=30_000)
