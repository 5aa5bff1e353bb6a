"""A person splits a session by hand in the browser, sees two session cards, and merges them back."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.conftest import sign_in
from tests.integration.test_session_edits import a1111_png
from tests.polling import until

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def test_split_here_makes_two_cards_and_merge_joins_them(
    page, gateway_url, new_tenant, artifacts
) -> None:
    from playwright.async_api import expect

    token, client = await new_tenant()
    # three generations a minute apart: one session (the file times are their only times)
    start = datetime(2024, 2, 3, 20, 0, tzinfo=UTC)
    files = [
        ("files", (f"render-{i}.png", a1111_png(f"a red fox in snow, take {i}", 100 + i), "image/png"))
        for i in range(3)
    ]
    times = [str(int((start + timedelta(minutes=i)).timestamp() * 1000)) for i in range(3)]
    assert (
        await client.post("/api/v1/assets", files=files, data={"last_modified": times})
    ).status_code == 200
    assert await until(lambda: _counts(client, [3]), within=30.0)

    await sign_in(page, gateway_url, token)
    await page.goto(f"{gateway_url}/app/sessions")
    cards = page.get_by_role("link", name=re.compile(r"\d+ images?"))
    await expect(cards).to_have_count(1, timeout=30_000)
    await expect(cards.first).to_contain_text("3 images")

    # open it: no neighbour to merge with; the third image's inspector offers the split
    await cards.first.click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("3 images")
    await expect(page.get_by_role("button", name=re.compile("^Merge with"))).to_have_count(0)
    await page.locator("main img").nth(2).click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("render-2.png")
    await dialog.get_by_role("button", name="Split the session here").click()

    # back on the list: two cards, of 1 and 2 images (newest first)
    await expect(page).to_have_url(re.compile(r"/app/sessions$"))
    await expect(cards).to_have_count(2, timeout=30_000)
    await expect(cards.nth(0)).to_contain_text("1 image")
    await expect(cards.nth(1)).to_contain_text("2 images")
    await page.screenshot(path=str(artifacts / "split.png"))

    # merge them back from the later one
    await cards.first.click()
    await page.get_by_role("button", name="Merge with the previous session").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("3 images", timeout=30_000)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    await expect(cards).to_have_count(1, timeout=30_000)


async def _counts(client, expected: list[int]) -> bool:  # type: ignore[no-untyped-def]
    return [s["asset_count"] for s in (await client.get("/api/v1/sessions")).json()] == expected
