"""A person makes an API token in Settings (shown once), sees it listed, revokes it, and the API refuses it;
then sets a fixed session gap and goes back to automatic."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def test_create_list_and_revoke_a_token(page, gateway_url, new_tenant, artifacts: Path) -> None:
    from playwright.async_api import expect

    token, client = await new_tenant()
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway_url)
    # no error from the app, and no refused request (the browser's own favicon.ico miss is not the app's)
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    await sign_in(page, gateway_url, token)
    await page.goto(f"{gateway_url}/app/sessions")
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    await expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    tokens = page.get_by_role("list", name="Your API tokens").get_by_role("listitem")
    await expect(tokens).to_have_count(1)  # the one this workspace was made with
    await page.screenshot(path=str(artifacts / "1-settings.png"), full_page=True)

    # a new token, shown once with a Copy button
    await page.get_by_label("Token label").fill("ci script")
    await page.get_by_role("button", name="Create token").click()
    await expect(page.get_by_text("Copy it now: it is not shown again.")).to_be_visible()
    made = await page.get_by_label("New token").input_value()
    assert made and made != token
    await page.get_by_role("button", name="Copy token").click()
    await expect(page.get_by_text("Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == made
    await page.screenshot(path=str(artifacts / "2-token-made.png"), full_page=True)

    # it is listed by its label and first characters (never the token), and it works
    await expect(tokens).to_have_count(2)
    listed = tokens.filter(has_text="ci script")
    await expect(listed).to_contain_text("never used")
    assert made not in await page.get_by_role("list", name="Your API tokens").inner_text()
    async with httpx.AsyncClient(
        base_url=gateway_url, headers={"Authorization": f"Bearer {made}"}
    ) as program:
        assert (await program.get("/api/v1/me")).status_code == 200

        # revoke asks first; Cancel keeps it
        await page.get_by_role("button", name="Revoke ci script").click()
        await expect(page.get_by_role("button", name="Yes, revoke")).to_be_focused()
        await page.screenshot(path=str(artifacts / "3-confirm.png"), full_page=True)
        await page.get_by_role("button", name="Cancel").click()
        await expect(tokens).to_have_count(2)
        await page.get_by_role("button", name="Revoke ci script").click()
        await page.get_by_role("button", name="Yes, revoke").click()
        await expect(page.get_by_role("status").filter(has_text="Revoked")).to_have_text(
            "Revoked “ci script”."
        )
        await expect(tokens).to_have_count(1)
        await expect(page.get_by_label("New token")).to_be_hidden()
        await page.screenshot(path=str(artifacts / "4-revoked.png"), full_page=True)
        await page.emulate_media(color_scheme="dark")
        await page.screenshot(path=str(artifacts / "5-revoked-dark.png"), full_page=True)

        # the revoked token is refused by the API
        assert (await program.get("/api/v1/me")).status_code == 401
    assert [t["label"] for t in (await client.get("/api/v1/tokens")).json()] != ["ci script"]
    assert not errors, errors


async def test_session_gap_fixed_then_automatic(page, gateway_url, new_tenant, artifacts: Path) -> None:
    from playwright.async_api import expect

    token, client = await new_tenant()
    await sign_in(page, gateway_url, token)
    await page.goto(f"{gateway_url}/app/settings")
    automatic = page.get_by_role("radio", name="Automatic: Atelier finds the pauses in your work")
    await expect(automatic).to_be_checked()
    minutes = page.get_by_label("Minutes of pause")
    await expect(minutes).to_be_disabled()

    await page.get_by_role("radio", name="A fixed pause").check()
    await minutes.fill("45")
    await page.get_by_role("button", name="Save session setting").click()
    await expect(page.get_by_role("status").filter(has_text="Saved")).to_contain_text("45", timeout=30_000)
    assert (await client.get("/api/v1/settings/sessions")).json() == {"gap_minutes": 45}
    await page.screenshot(path=str(artifacts / "1-fixed.png"), full_page=True)

    # an impossible number is refused on the page, before any request
    await minutes.fill("0")
    await page.get_by_role("button", name="Save session setting").click()
    await expect(page.get_by_role("alert")).to_contain_text("1 to 1440")

    # back to automatic; a reload shows what is saved
    await automatic.check()
    await page.get_by_role("button", name="Save session setting").click()
    await expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible(timeout=30_000)
    assert (await client.get("/api/v1/settings/sessions")).json() == {"gap_minutes": None}
    await page.reload()
    await expect(automatic).to_be_checked()
