"""The product as a new person meets it, in Chromium, found by role and accessible name: sign up, import
corpus files with the file input, see a session card arrive live, open it, read an image's prompt in the
inspector, switch to session lanes, search a prompt word, save the search, share the session and open
the link signed out, sign out. A screenshot per step in test-artifacts/."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser.test_web_gallery import corpus_images

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def test_a_new_person_signs_up_imports_browses_searches_shares_and_signs_out(
    browser, gateway_url, corpus, artifacts
) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    step = 0

    async def shot(name: str) -> None:
        nonlocal step
        step += 1
        await page.screenshot(path=str(artifacts / f"{step:02d}-{name}.png"))

    # sign up: the front door sends a signed-out person to sign in, which links to sign up
    await page.goto(gateway_url)
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.get_by_role("link", name="Sign up").click()
    await page.get_by_label("Email").fill(f"new-{uuid.uuid4().hex[:8]}@example.com")
    await page.get_by_label("Password", exact=True).fill("short")
    await page.get_by_label("Name").fill("Ada Lovelace")
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.get_by_role("alert")).to_contain_text("at least 10 characters")  # the API's reason
    await page.get_by_label("Password", exact=True).fill("correct horse battery staple 9")
    await shot("sign-up")
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.get_by_role("heading", name="No sessions yet")).to_be_visible()
    await expect(page.get_by_role("navigation", name="Main")).to_contain_text("Ada Lovelace")
    errors.clear()  # the weak password's 422, asked for above
    await shot("empty-sessions")

    # import by the file input, and wait for every file's answer
    files = corpus_images(corpus)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Import").click()
    await page.get_by_label("Choose files").set_input_files([str(p) for p in files])
    await expect(
        page.get_by_role("status").filter(has_text=f"{len(files)} of {len(files)} files answered")
    ).to_be_visible(timeout=60_000)
    await shot("imported")

    # the sessions page fills in by itself: cards arrive from the live feed, no reload
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    cards = page.get_by_role("link", name=re.compile(r"\d+ images?"))
    await expect(cards.first).to_be_visible(timeout=60_000)
    await shot("sessions")

    # a session, and an image in the inspector
    await cards.first.click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("image")
    await page.locator("main img").first.click()
    inspector = page.get_by_role("dialog")
    for label in ("Prompt", "Model", "Seed"):
        await expect(inspector).to_contain_text(label)
    await shot("inspector")
    await page.keyboard.press("Escape")
    await expect(inspector).to_be_hidden()

    # share it, and open the link in a browser that is not signed in
    await page.get_by_role("button", name="Share").click()
    share = page.get_by_role("dialog", name="Share session")
    await share.get_by_role("button", name="Create link").click()
    link = await share.get_by_label("Share link").input_value()
    assert re.search(r"/s/[A-Za-z0-9_-]{40,}$", link), link
    await shot("share")
    await share.get_by_role("button", name="Close").click()
    stranger = await browser.new_context()
    shared = await stranger.new_page()
    await shared.goto(link)
    await expect(shared.locator("main img").first).to_be_visible()
    await expect(shared.get_by_role("button", name="Sign out")).to_have_count(0)
    await shared.screenshot(path=str(artifacts / f"{step + 1:02d}-shared-page.png"))
    await stranger.close()

    # the gallery: lanes, then a search that narrows it, saved to the sidebar
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Gallery").click()
    await expect(page.locator("main img")).to_have_count(len(files))
    lanes = page.get_by_role("switch", name="Session lanes")
    await lanes.click()
    await expect(lanes).to_have_attribute("aria-checked", "true")
    await expect(page.get_by_role("region", name=re.compile("^Session ")).first).to_be_visible()
    await shot("lanes")
    await lanes.click()
    box = page.get_by_role("searchbox", name="Search")
    await box.fill("duck")
    await box.press("Enter")
    await expect(page).to_have_url(re.compile(r"q=duck"))
    await expect(page.locator("main img").first).to_be_visible()
    found = await page.locator("main img").count()
    assert 0 < found < len(files)
    await page.get_by_role("button", name="Save search").click()
    await page.get_by_label("Name").fill("Ducks")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Ducks")
    ).to_be_visible()
    await shot("search-saved")

    # sign out: the pages are closed to this browser again
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.goto(f"{gateway_url}/app/gallery")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await shot("signed-out")
    await context.close()
    # not even a 401: signed out, the app does not ask who is signed in
    assert errors == []
