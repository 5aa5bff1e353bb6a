"""Credits in Settings, in Chromium: the balance after the starting grant, buying a pack (the built-in
test provider), and the history saying what changed."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def test_buy_a_pack_and_see_it_in_the_history(page, gateway_url, new_tenant, artifacts) -> None:
    from playwright.async_api import expect

    token, _ = await new_tenant()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await sign_in(page, gateway_url, token)
    await page.goto(f"{gateway_url}/app/settings")
    section = page.get_by_role("region", name="Credits")
    await expect(section).to_contain_text("100 credits available")
    history = section.get_by_role("list", name="History")
    await expect(history.get_by_role("listitem")).to_have_count(1)
    await expect(history).to_contain_text("Granted")

    await section.get_by_role("button", name=re.compile(r"^Buy Studio: 500 credits for \$20\.00")).click()
    await expect(section.get_by_role("status").filter(has_text="500 credits added")).to_be_visible()
    await expect(section).to_contain_text("600 credits available")
    await expect(history.get_by_role("listitem")).to_have_count(2)
    await expect(history.get_by_role("listitem").first).to_contain_text("Bought")
    await expect(history.get_by_role("listitem").first).to_contain_text("+500")
    await page.screenshot(path=str(artifacts / "credits.png"))
    assert errors == []
