"""A reflection in Chromium against the real stack: the Reflect button with its price from 50 images,
the cost dialog, progress, the reflection with the images each statement cites, the session card's
summary; on an empty balance the insufficient-credits dialog, a pack bought, and Continue."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest

from tests.browser.conftest import sign_in
from tests.integration.test_reflection_flow import T0_MS, lighthouse_session, upload_session

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# the 402 of a confirm on an empty balance is expected; Chromium logs any failed resource as an error
EXPECTED_402 = "Failed to load resource: the server responded with a status of 402 (Payment Required)"
AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"
PROGRESS = "The AI Museum Curator is looking at your session…"


def _watch(page) -> list[str]:  # type: ignore[no-untyped-def]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.on(
        "console", lambda m: errors.append(m.text) if m.type == "error" and m.text != EXPECTED_402 else None
    )
    return errors


def _confirm_keys(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The Idempotency-Key of every confirm the page sends, in order."""
    keys: list[str] = []

    def seen(request) -> None:  # type: ignore[no-untyped-def]
        if request.method == "POST" and re.search(r"/sessions/[^/]+/reflections$", request.url):
            keys.append(request.headers.get("idempotency-key", ""))

    page.on("request", seen)
    return keys


async def _axe(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Serious or critical accessibility violations (axe-core, evaluated past the page's CSP)."""
    await page.evaluate(AXE.read_text())
    result = await page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def _progress_then_done(page, artifacts, name: str) -> None:  # type: ignore[no-untyped-def]
    """The progress line while the curator works (it may be quick), then the reflection."""
    from playwright.async_api import expect

    summary = page.get_by_role("heading", name="Summary of exploration")
    progress = page.get_by_role("status").filter(has_text=PROGRESS)
    await expect(progress.or_(summary)).to_be_visible()
    await page.screenshot(path=str(artifacts / f"{name}-progress.png"))
    await expect(summary).to_be_visible(timeout=60_000)
    await expect(progress).to_have_count(0)
    # said for screen readers, where the progress was
    await expect(page.get_by_role("status").filter(has_text="The reflection is ready")).to_have_count(1)


async def test_reflect_on_a_session_and_see_it_cited(page, gateway_url, new_tenant, artifacts) -> None:
    from playwright.async_api import expect

    token, client = await new_tenant()
    session = await upload_session(client, lighthouse_session(), T0_MS, "s60")
    short = await upload_session(
        client, lighthouse_session(49, "a red fox in snow"), T0_MS + 6 * 3600_000, "s49"
    )
    errors = _watch(page)
    await sign_in(page, gateway_url, token)

    # the 60-image session: the button carries the quoted price
    await page.goto(f"{gateway_url}/app/sessions/{session}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("60 images")
    reflect = page.get_by_role("button", name=re.compile(r"^Reflect on this session"))
    await expect(reflect).to_have_text("Reflect on this session · 2 credits")
    await page.screenshot(path=str(artifacts / "1-button.png"))

    # the cost dialog: who, what it costs, what is available
    await reflect.click()
    dialog = page.get_by_role("dialog", name="Reflect on this session")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("The AI Museum Curator will look at the 60 images")
    await expect(dialog).to_contain_text("It costs 2 credits; you have 100 available.")
    await page.screenshot(path=str(artifacts / "2-cost-dialog.png"))
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(dialog).to_be_hidden()
    await _progress_then_done(page, artifacts, "3")

    # the reflection: three parts, the evolution as steps each citing its images
    for heading in ("Summary of exploration", "Style patterns", "Evolution notes"):
        await expect(page.get_by_role("heading", name=heading)).to_be_visible()
    view = page.get_by_role("region", name="Reflection")
    await expect(view).to_contain_text("lighthouse")
    await expect(view).to_contain_text("2 credits charged")
    await expect(view).to_contain_text("the AI Museum Curator")
    strip = page.get_by_role("list", name="Evolution notes")
    for words in ("golden hour", "CFG 5 → 7", "dreamshaperXL_turbo"):
        step = strip.get_by_role("listitem").filter(has_text=words).first
        await expect(step).to_be_visible()
        thumbs = step.get_by_role("link", name=re.compile(r"^Open s60-\d{3}\.png$"))
        assert await thumbs.count() > 0, words
    await page.screenshot(path=str(artifacts / "4-reflection.png"), full_page=True)
    assert await _axe(page) == []
    # on a phone the strip scrolls inside itself; the page does not scroll sideways
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.get_by_role("heading", name="Evolution notes").scroll_into_view_if_needed()
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    await page.screenshot(path=str(artifacts / "4-reflection-390.png"))
    await page.set_viewport_size({"width": 1280, "height": 900})

    # a cited thumbnail opens that image in the inspector
    step = strip.get_by_role("listitem").filter(has_text="dreamshaperXL_turbo").first
    thumb = step.get_by_role("link", name=re.compile(r"^Open s60-")).first
    filename = (await thumb.get_attribute("aria-label") or "").removeprefix("Open ")
    await thumb.click()
    inspector = page.get_by_role("dialog", name=filename)
    await expect(inspector).to_be_visible()
    await page.screenshot(path=str(artifacts / "5-cited-image.png"))
    await inspector.get_by_role("button", name="Close").click()
    await expect(inspector).to_be_hidden()

    # the session card carries the summary
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Sessions").click()
    card = page.get_by_role("link", name=re.compile("60 images"))
    await expect(card).to_contain_text("lighthouse")
    await page.screenshot(path=str(artifacts / "6-card.png"))

    # 49 images: no Reflect button
    await page.goto(f"{gateway_url}/app/sessions/{short}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("49 images")
    await expect(page.get_by_role("button", name="Share")).to_be_visible()
    await expect(page.get_by_role("button", name=re.compile("^Reflect"))).to_have_count(0)
    await page.screenshot(path=str(artifacts / "7-49-images.png"))
    assert errors == []


async def test_an_empty_balance_buys_a_pack_and_continues(
    page, gateway_url, new_tenant, stack, artifacts
) -> None:
    from playwright.async_api import expect

    token, client = await new_tenant()
    session = await upload_session(client, lighthouse_session(), T0_MS, "s60")
    tenant = (await client.get("/api/v1/me")).json()["workspace_id"]
    available = (await client.get("/api/v1/credits")).json()["available"]
    async with httpx.AsyncClient(
        base_url=stack["gateway"].settings.credits_url,
        headers={"X-Atelier-Internal-Token": "test-internal-token"},
    ) as credits_api:
        taken = await credits_api.post(
            f"/internal/v1/accounts/{tenant}/grants",
            json={"credits": -available, "reason": "test", "idempotency_key": f"empty-{uuid.uuid4().hex}"},
        )
        assert taken.status_code == 201, taken.text
    errors = _watch(page)
    keys = _confirm_keys(page)
    await sign_in(page, gateway_url, token)

    await page.goto(f"{gateway_url}/app/sessions/{session}")
    reflect = page.get_by_role("button", name=re.compile(r"^Reflect on this session"))
    await expect(reflect).to_have_text("Reflect on this session · 2 credits")
    await reflect.click()
    cost = page.get_by_role("dialog", name="Reflect on this session")
    await expect(cost).to_contain_text("you have 0 available")
    await cost.get_by_role("button", name="Confirm").click()

    # 402: the insufficient-credits dialog, with the price and the packs
    short = page.get_by_role("dialog", name="Not enough credits")
    await expect(short).to_be_visible()
    await expect(cost).to_be_hidden()
    await expect(short).to_contain_text("costs 2 credits")
    await expect(short.get_by_role("button", name=re.compile(r"^Buy "))).not_to_have_count(0)
    await page.screenshot(path=str(artifacts / "1-insufficient.png"))
    await short.get_by_role("button", name=re.compile(r"^Buy Starter")).click()

    # enough now: Continue sends the same confirmation again, and the reflection runs
    enough = page.get_by_role("dialog", name="You have enough credits now")
    await expect(enough).to_be_visible()
    await page.screenshot(path=str(artifacts / "2-bought.png"))
    await enough.get_by_role("button", name="Continue").click()
    await expect(enough).to_be_hidden()
    await _progress_then_done(page, artifacts, "3")
    await expect(page.get_by_role("list", name="Evolution notes")).to_contain_text("golden hour")
    await page.screenshot(path=str(artifacts / "4-reflection.png"), full_page=True)

    # Continue sent the same confirmation: the same Idempotency-Key as the refused one
    assert len(keys) == 2 and keys[0] == keys[1], keys
    # one reflection, charged once
    listed = (await client.get(f"/api/v1/sessions/{session}/reflections")).json()
    assert [r["status"] for r in listed] == ["completed"]
    assert errors == []


async def test_a_failed_reflection_says_the_credits_came_back(
    page, gateway_url, new_tenant, stack, artifacts, monkeypatch
) -> None:
    from playwright.async_api import expect

    from services.reflection.curators import CuratorFailed

    token, client = await new_tenant()
    session = await upload_session(client, lighthouse_session(), T0_MS, "s60")

    async def failing(*args: object, **kwargs: object) -> object:
        raise CuratorFailed("the model is down")

    monkeypatch.setattr(stack["reflection"].app.state.reflection.curator, "write", failing)
    errors = _watch(page)
    await sign_in(page, gateway_url, token)
    await page.goto(f"{gateway_url}/app/sessions/{session}")
    reflect = page.get_by_role("button", name=re.compile(r"^Reflect on this session"))
    await expect(reflect).to_have_text("Reflect on this session · 2 credits")
    await reflect.click()
    await (
        page.get_by_role("dialog", name="Reflect on this session")
        .get_by_role("button", name="Confirm")
        .click()
    )

    failed = page.get_by_role("status").filter(has_text="The reflection failed")
    await expect(failed).to_be_visible(timeout=60_000)
    await expect(failed).to_contain_text("the model is down")
    await expect(failed).to_contain_text("Its 2 credits were given back.")
    await expect(reflect).to_be_enabled()
    await expect(page.get_by_role("heading", name="Summary of exploration")).to_have_count(0)
    await page.screenshot(path=str(artifacts / "failed.png"))
    assert errors == []


async def test_an_expired_quote_is_priced_again_and_confirmed_anew(
    page, gateway_url, new_tenant, artifacts
) -> None:
    from playwright.async_api import expect

    token, client = await new_tenant()
    session = await upload_session(client, lighthouse_session(), T0_MS, "s60")
    # the first confirm meets an expired quote (the gateway's 409); the page must price it again
    expired = "Failed to load resource: the server responded with a status of 409 (Conflict)"
    errors = _watch(page)
    keys = _confirm_keys(page)
    quotes: list[str] = []
    page.on("request", lambda r: quotes.append(r.url) if r.url.endswith("/reflection/quote") else None)
    answered: list[bool] = []

    async def expire_once(route) -> None:  # type: ignore[no-untyped-def]
        if answered or route.request.method != "POST":
            await route.continue_()
            return
        answered.append(True)
        await route.fulfill(status=409, json={"detail": "the quote expired: ask for a new one"})

    await page.route(re.compile(r"/api/v1/sessions/[^/]+/reflections$"), expire_once)
    await sign_in(page, gateway_url, token)
    await page.goto(f"{gateway_url}/app/sessions/{session}")
    reflect = page.get_by_role("button", name=re.compile(r"^Reflect on this session"))
    await expect(reflect).to_have_text("Reflect on this session · 2 credits")
    await reflect.click()
    dialog = page.get_by_role("dialog", name="Reflect on this session")
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(dialog.get_by_role("alert")).to_contain_text(
        "The price quote expired. The new price is 2 credits"
    )
    await expect(dialog).to_be_visible()
    await page.screenshot(path=str(artifacts / "1-expired.png"))
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(dialog).to_be_hidden()
    await _progress_then_done(page, artifacts, "2")
    # a new quote, and the second confirm a new confirmation: a new key
    assert len(quotes) == 2, quotes
    assert len(keys) == 2 and keys[0] != keys[1], keys
    assert [e for e in errors if e != expired] == []
