"""A person shares a session from its page (the Share dialog: make a link, copy it, see it listed, revoke
it), and a visitor who is not signed in opens a link at /s/{token}: the session's time range, count and
images, the prompts only when the owner allowed them, none of the images the owner rejected, and one clear
page for a link that is unknown, expired or revoked.

The visitor's part needs GET /s/{token} to answer the web app (web/dist/index.html) while the link is
valid, as services/gateway/sharing/endpoints.py `shared_page` is to do; the dialog's part needs the session
page to place the ShareDialog behind a button named Share."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.browser.conftest import sign_in
from tests.integration.test_session_edits import a1111_png
from tests.polling import until

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PROMPTS = ["a red fox in snow, dawn light", "a red fox in snow, at dusk"]


async def _one_session(client) -> str:  # type: ignore[no-untyped-def]
    """Two generations a minute apart (their file times are their only times): one session; its id."""
    start = datetime(2024, 2, 3, 20, 0, tzinfo=UTC)
    parts = [("files", (f"fox-{i}.png", a1111_png(p, 300 + i), "image/png")) for i, p in enumerate(PROMPTS)]
    times = [str(int((start + timedelta(minutes=i)).timestamp() * 1000)) for i in range(len(PROMPTS))]
    results = (await client.post("/api/v1/assets", files=parts, data={"last_modified": times})).json()
    assert [r["status"] for r in results] == ["imported", "imported"], results

    async def complete():  # type: ignore[no-untyped-def]
        sessions = (await client.get("/api/v1/sessions")).json()
        return sessions if len(sessions) == 1 and sessions[0]["asset_count"] == 2 else None

    [session] = await until(complete)
    return str(session["id"])


def _console_errors(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The app's console errors; a refused request the page expects (a gone link's 404) is the browser's
    own "Failed to load resource" line, not the app's error."""
    errors: list[str] = []
    page.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    return errors


async def test_a_visitor_opens_a_shared_session_and_a_gone_link(
    browser, gateway_url, new_tenant, artifacts: Path
) -> None:
    from playwright.async_api import expect

    _, client = await new_tenant()
    session_id = await _one_session(client)
    with_prompts = (
        await client.post(
            f"/api/v1/sessions/{session_id}/share", json={"expires_in_days": 7, "show_prompts": True}
        )
    ).json()
    without = (await client.post(f"/api/v1/sessions/{session_id}/share", json={"expires_in_days": 1})).json()

    # a visitor: a fresh browser, never signed in, in their own zone
    context = await browser.new_context(timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors = _console_errors(page)
    try:
        await page.goto(f"{gateway_url}/s/{with_prompts['token']}")
        # the range in the visitor's zone (20:00 UTC is 21:00 in Paris), the count, no sidebar
        await expect(page.get_by_role("heading", level=1)).to_have_text("Sat, 3 Feb 2024, 21:00–21:01")
        await expect(page.get_by_text("2 images")).to_be_visible()
        await expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
        images = page.get_by_role("list", name="Images").get_by_role("listitem")
        await expect(images).to_have_count(2)
        for prompt in PROMPTS:
            await expect(page.get_by_role("img", name=prompt)).to_be_visible()
            await expect(page.get_by_text(prompt, exact=True)).to_be_visible()
        first = page.get_by_role("img", name=PROMPTS[0])
        await expect(first).to_have_js_property("complete", True)
        assert await first.evaluate("img => img.naturalWidth > 0")
        assert (await first.get_attribute("src") or "").startswith(f"/s/{with_prompts['token']}/assets/")
        await page.screenshot(path=str(artifacts / "1-shared-with-prompts.png"), full_page=True)

        # the link without prompts shows the images and no prompt anywhere
        await page.goto(f"{gateway_url}/s/{without['token']}")
        await expect(images).to_have_count(2)
        await expect(page.get_by_role("img", name="Image 1 of 2")).to_be_visible()
        assert "red fox" not in await page.locator("body").inner_text()
        await page.screenshot(path=str(artifacts / "2-shared-without-prompts.png"), full_page=True)

        # at a phone's width it reflows into one narrow column
        await page.set_viewport_size({"width": 390, "height": 844})
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await page.screenshot(path=str(artifacts / "3-shared-narrow.png"), full_page=True)
        await page.emulate_media(color_scheme="dark")
        await page.screenshot(path=str(artifacts / "3-shared-narrow-dark.png"), full_page=True)

        # the owner rejects the second image: the visitor sees the first alone, counted as one, at its time
        detail = (await client.get(f"/api/v1/sessions/{session_id}")).json()
        response = await client.put(
            f"/api/v1/assets/{detail['assets'][1]['asset_id']}/flag", json={"flag": "reject"}
        )
        assert response.status_code == 200, response.text
        await page.goto(f"{gateway_url}/s/{with_prompts['token']}")
        await expect(page.get_by_text("1 image", exact=True)).to_be_visible()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Sat, 3 Feb 2024, 21:00")
        await expect(images).to_have_count(1)
        await expect(page.get_by_role("img", name=PROMPTS[0])).to_be_visible()
        assert PROMPTS[1] not in await page.locator("body").inner_text()
        await page.screenshot(path=str(artifacts / "4-shared-without-the-reject.png"), full_page=True)

        # revoked, or never made: the same clear page
        assert (await client.delete(f"/api/v1/shares/{without['id']}")).status_code == 204
        gone = page.get_by_role("heading", name="This link has expired or was revoked")
        for token in (without["token"], "no-such-link-" + "x" * 30):
            await page.goto(f"{gateway_url}/s/{token}")
            await expect(gone).to_be_visible()
            await expect(page.get_by_role("list", name="Images")).to_have_count(0)
        await page.screenshot(path=str(artifacts / "5-gone.png"), full_page=True)
    finally:
        await context.close()
    assert not errors, errors


async def test_the_share_dialog_makes_copies_lists_and_revokes_links(
    page, gateway_url, new_tenant, artifacts: Path
) -> None:
    from playwright.async_api import expect

    token, client = await new_tenant()
    session_id = await _one_session(client)
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway_url)
    errors = _console_errors(page)
    await sign_in(page, gateway_url, token)
    await page.goto(f"{gateway_url}/app/sessions/{session_id}")

    await page.get_by_role("button", name=re.compile(r"^Share")).click()
    dialog = page.get_by_role("dialog", name="Share session")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_text("No links yet.")).to_be_visible()
    days = dialog.get_by_label("Expires in (days)")
    await expect(days).to_have_value("7")

    # an impossible expiry is refused on the page
    await days.fill("400")
    await dialog.get_by_role("button", name="Create link").click()
    await expect(dialog.get_by_role("alert")).to_have_text("Give a whole number of days from 1 to 365.")

    # a link for 30 days with the prompts: shown once, copied, listed with its expiry
    await days.fill("30")
    await dialog.get_by_label("Show prompts").check()
    await dialog.get_by_role("button", name="Create link").click()
    link = dialog.get_by_label("Share link")
    await expect(link).to_have_value(re.compile(rf"^{re.escape(gateway_url)}/s/[A-Za-z0-9_-]+$"))
    url = await link.input_value()
    await dialog.get_by_role("button", name="Copy link").click()
    await expect(dialog.get_by_text("Copied")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == url
    await expect(dialog.get_by_role("link", name="Open it")).to_have_attribute("href", url)
    links = dialog.get_by_role("list", name="Links to this session").get_by_role("listitem")
    await expect(links).to_have_count(1)
    expires = (datetime.now(UTC) + timedelta(days=30)).strftime("%-d %b %Y")
    await expect(links.first).to_contain_text(f"expires {expires}")
    await expect(links.first).to_contain_text("with prompts")
    [share] = (await client.get(f"/api/v1/sessions/{session_id}/shares")).json()
    assert share["show_prompts"] is True and url.rsplit("/", 1)[1].startswith(share["prefix"])
    await page.screenshot(path=str(artifacts / "1-link-made.png"), full_page=True)

    # the link answers the visitor's API; revoked, it does not
    token_of_link = url.rsplit("/", 1)[1]
    assert (await client.get(f"/s/{token_of_link}/session")).status_code == 200
    await dialog.get_by_role("button", name=f"Revoke link {share['prefix']}…").click()
    await expect(dialog.get_by_role("status").filter(has_text="Revoked")).to_contain_text("no longer opens")
    await expect(dialog.get_by_text("No links yet.")).to_be_visible()
    assert (await client.get(f"/s/{token_of_link}/session")).status_code == 404
    await page.screenshot(path=str(artifacts / "2-link-revoked.png"), full_page=True)
    await page.emulate_media(color_scheme="dark")
    await page.screenshot(path=str(artifacts / "3-link-revoked-dark.png"), full_page=True)

    # Escape closes the dialog
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    assert not errors, errors
