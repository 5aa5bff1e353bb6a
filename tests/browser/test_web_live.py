"""Live: a new import's session card appears on an open sessions page without a reload, sooner than the
page's fallback poll, and what the person was looking at stays where it was."""

from __future__ import annotations

import os
import re
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.browser.conftest import sign_in
from tests.integration.test_session_edits import a1111_png

pytestmark = [pytest.mark.integration, pytest.mark.browser]

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))


async def test_a_new_session_arrives_live_and_the_view_stays_put(page, gateway_url, stack) -> None:
    from api_library import load_library
    from playwright.async_api import expect

    from services.gateway.auth import ensure_tenant

    token = f"tok-{uuid.uuid4().hex}"
    tenant_id = await ensure_tenant(stack["gateway"].pool, f"live-{uuid.uuid4().hex[:8]}", token)  # type: ignore[attr-defined]
    conn = await asyncpg.connect(os.environ["ATELIER_DATABASE_URL"])
    try:  # 60 older sessions: a page to scroll
        await load_library(conn, tenant_id=tenant_id, n_assets=600, n_sessions=60)
    finally:
        await conn.close()
    await sign_in(page, gateway_url, token)
    await page.goto(f"{gateway_url}/app/sessions")
    cards = page.get_by_role("link", name=re.compile(r"\d+ images?"))
    await expect(cards.first).to_be_visible()
    before = await cards.count()

    # scroll down; note the card at the top of the screen and where it is
    await page.mouse.wheel(0, 1500)
    await page.wait_for_function("() => window.scrollY > 1000")
    # a wheel scroll animates and mouse.wheel does not wait for it: note the card once the page is still
    # (scrollY the same for 10 frames in a row), or the rest of the animation counts as the card moving
    await page.evaluate(
        """() => new Promise(done => { let last = -1, still = 0;
             const look = () => { still = window.scrollY === last ? still + 1 : 0; last = window.scrollY;
                                  still >= 10 ? done() : requestAnimationFrame(look); };
             requestAnimationFrame(look); })"""
    )
    anchor = await page.evaluate(
        """() => { const c = [...document.querySelectorAll('a[data-session-id]')]
                     .find(a => a.getBoundingClientRect().top > 0);
                   return [c.dataset.sessionId, c.getBoundingClientRect().top]; }"""
    )

    # a new image, generated now, imported through the API: a session of today, at the top of the list
    now = int(datetime.now(UTC).timestamp() * 1000)
    async with httpx.AsyncClient(
        base_url=gateway_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        response = await client.post(
            "/api/v1/assets",
            files=[("files", ("now.png", a1111_png("a lighthouse made live", 7), "image/png"))],
            data={"last_modified": [str(now)]},
        )
        assert response.json()[0]["status"] == "imported"

    # it arrives within 10 s (the poll would take 30), without a reload
    await expect(cards).to_have_count(before + 1, timeout=10_000)
    await expect(page.get_by_role("heading", name="Today")).to_have_count(1)
    assert await page.evaluate("() => performance.getEntriesByType('navigation').length") == 1
    # the card the person was looking at is still where it was on the screen
    top = await page.evaluate(
        "id => document.querySelector(`a[data-session-id='${id}']`).getBoundingClientRect().top", anchor[0]
    )
    assert abs(top - anchor[1]) < 5, (top, anchor[1])
