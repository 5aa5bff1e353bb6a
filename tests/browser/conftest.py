"""A real headless Chromium (Debian's, driven by Playwright) against the gateway over HTTP."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# without the background-networking flags Chromium keeps dialling out on a closed network
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def page(browser) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()


async def sign_in(page, gateway_url: str, token: str) -> None:  # type: ignore[no-untyped-def]
    """Open a browser session for `token`'s workspace, as the sign-in page's "Sign in with an API token"
    does (the cookie lands in the page's context), without clicking through it."""
    response = await page.request.post(
        f"{gateway_url}/api/v1/login", data={"token": token}, headers={"Origin": gateway_url}
    )
    assert response.status == 200, await response.text()


@pytest.fixture
def artifacts(request) -> Path:  # type: ignore[no-untyped-def]
    """A folder for this test's screenshots: test-artifacts/<test name>/ (kept out of git)."""
    folder = Path(__file__).resolve().parents[2] / "test-artifacts" / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
