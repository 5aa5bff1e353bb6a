"""Every page, checked without the network as Lighthouse would: no console errors or failed requests,
no serious or critical accessibility violation (axe-core, in light and in dark), a layout that reflows
at 390 px, and a banner while the API cannot be reached."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.conftest import sign_in
from tests.browser.test_web_gallery import corpus_images, import_files

pytestmark = [pytest.mark.integration, pytest.mark.browser]

AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"


async def _library(new_tenant, corpus):  # type: ignore[no-untyped-def]
    token, client = await new_tenant()
    await import_files(client, corpus_images(corpus, 8))
    session = (await client.get("/api/v1/sessions")).json()[0]["id"]
    share = (await client.post(f"/api/v1/sessions/{session}/share", json={"expires_in_days": 1})).json()
    return token, session, "/s/" + share["url"].rsplit("/s/", 1)[1]


async def _axe(page) -> list[str]:  # type: ignore[no-untyped-def]
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def test_every_page_is_clean_and_accessible_in_light_and_dark(
    browser, gateway_url, new_tenant, corpus
) -> None:
    token, session, share_url = await _library(new_tenant, corpus)
    pages = {
        "sessions": ("/app/sessions", "link", re.compile(r"\d+ images?")),
        "session": (f"/app/sessions/{session}", "heading", re.compile("images?")),
        "gallery": ("/app/gallery", "switch", "Session lanes"),
        "lanes": ("/app/gallery?view=lanes", "region", re.compile("^Session ")),
        "search": ("/app/gallery?q=girl", "searchbox", "Search"),
        "import": ("/app/import", "button", re.compile("Choose files|Create a token", re.I)),
        "settings": ("/app/settings", "heading", "Settings"),
    }
    problems: dict[str, list[str]] = {}
    for scheme in ("light", "dark"):
        # bypass_csp: axe is injected as a script of the test, which the shared page's CSP would refuse
        context = await browser.new_context(
            viewport={"width": 1280, "height": 900}, color_scheme=scheme, bypass_csp=True
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e, errors=errors: errors.append(f"uncaught: {e}"))
        page.on(
            "response",
            lambda r, errors=errors: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        # signed out first: the sign-in and sign-up pages, and the shared link
        for name, path in (("signin", "/app/signin"), ("signup", "/app/signup"), ("shared", share_url)):
            await page.goto(path if path.startswith("http") else gateway_url + path)
            await page.get_by_role("heading", level=1).first.wait_for()
            await page.wait_for_load_state("networkidle")
            problems[f"{name}/{scheme}"] = await _axe(page) + errors[:]
            errors.clear()
        await sign_in(page, gateway_url, token)
        for name, (path, role, label) in pages.items():
            await page.goto(gateway_url + path)
            await page.get_by_role(role, name=label).first.wait_for()  # type: ignore[arg-type]
            await page.wait_for_load_state("networkidle")
            problems[f"{name}/{scheme}"] = await _axe(page) + errors[:]
            errors.clear()
        # the inspector, open over the gallery
        await page.goto(gateway_url + "/app/gallery")
        await page.locator("main img").first.click()
        await page.get_by_role("dialog").wait_for()
        problems[f"inspector/{scheme}"] = await _axe(page) + errors[:]
        await context.close()
    assert {k: v for k, v in problems.items() if v} == {}


async def test_pages_reflow_on_a_phone(browser, gateway_url, new_tenant, corpus) -> None:
    token, session, _ = await _library(new_tenant, corpus)
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    await sign_in(page, gateway_url, token)
    wide = {}
    for path in ("/app/sessions", f"/app/sessions/{session}", "/app/gallery", "/app/gallery?view=lanes",
                 "/app/import", "/app/settings"):  # fmt: skip
        await page.goto(gateway_url + path)
        await page.get_by_role("heading", level=1).first.wait_for()
        await page.wait_for_load_state("networkidle")
        width = await page.evaluate("() => document.documentElement.scrollWidth")
        if width > 390:
            wide[path] = width
    # the navigation stays reachable
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Gallery").click()
    await page.get_by_role("switch", name="Session lanes").wait_for()
    await context.close()
    assert wide == {}


async def test_a_lost_network_shows_a_banner_and_recovers(browser, gateway_url, new_tenant, corpus) -> None:
    from playwright.async_api import expect

    token, _, _ = await _library(new_tenant, corpus)
    context = await browser.new_context()
    page = await context.new_page()
    await sign_in(page, gateway_url, token)
    await page.goto(gateway_url + "/app/sessions")
    await page.get_by_role("link", name=re.compile(r"\d+ images?")).first.wait_for()
    banner = page.get_by_role("alert").filter(has_text="cannot be reached")
    await context.set_offline(True)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Gallery").click()
    await expect(banner).to_be_visible()
    await context.set_offline(False)
    await expect(banner).to_be_hidden(timeout=10_000)
    # and the page it could not load comes back by itself
    await expect(page.locator("main img").first).to_be_visible(timeout=10_000)
    await context.close()
