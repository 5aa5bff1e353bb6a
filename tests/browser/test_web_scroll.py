"""The gallery of a workspace of 100,000 images (bulk-loaded as the API benchmark loads its library)
scrolls to its very end with the DOM staying small: the grid renders only the rows near the screen."""

from __future__ import annotations

import io
import os
import re
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from PIL import Image

from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.browser]

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

N_ASSETS = 100_000
MAX_NODES = 1_500


def _webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (120, 90, 60)).save(out, "WEBP")
    return out.getvalue()


async def test_the_gallery_of_100000_images_scrolls_to_the_end_with_a_small_dom(
    page, gateway_url, stack
) -> None:
    from api_library import load_library

    from services.gateway.auth import ensure_tenant

    pool = stack["gateway"].pool  # type: ignore[attr-defined]
    token = f"tok-{uuid.uuid4().hex}"
    tenant_id = await ensure_tenant(pool, f"heavy-{uuid.uuid4().hex[:8]}", token)
    conn = await asyncpg.connect(
        os.environ["ATELIER_DATABASE_URL"]
    )  # plain codecs, as the bench's COPY wants
    try:
        await load_library(conn, tenant_id=tenant_id, n_assets=N_ASSETS, n_sessions=1_000)
    finally:
        await conn.close()
    # the library's thumbnails are not in the object store: every one is the same small WebP
    thumbnail = _webp()
    await page.route(
        re.compile(r"/api/v1/assets/[0-9a-f-]+/thumbnail"),
        lambda route: route.fulfill(status=200, content_type="image/webp", body=thumbnail),
    )
    await sign_in(page, gateway_url, token)
    await page.goto(f"{gateway_url}/app/gallery")
    await page.locator("main img").first.wait_for()

    most_nodes, last_seen, stalled = 0, -1, 0
    while True:
        await page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
        # the next page arrives and lays out; then the rows at the new bottom render
        seen = await page.evaluate(
            "() => Math.max(...[...document.querySelectorAll('main [data-index]')].map(e => +e.dataset.index))"
        )
        most_nodes = max(most_nodes, await page.evaluate("() => document.getElementsByTagName('*').length"))
        if seen == N_ASSETS - 1:
            break
        stalled = stalled + 1 if seen == last_seen else 0
        assert stalled < 200, f"scrolling stopped at image {seen} of {N_ASSETS}"
        last_seen = seen
        await page.wait_for_timeout(20)
    assert most_nodes < MAX_NODES, most_nodes
    # the bottom is the last image, and the top still works after the long way down
    await page.evaluate("() => window.scrollTo(0, 0)")
    await page.locator('main [data-index="0"]').wait_for()
