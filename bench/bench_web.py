"""Web app figures (issue 11), in Debian's headless Chromium against the real gateway serving the built
app, for one workspace of 100,000 images in 1,000 sessions (bulk-loaded as `bench_api` loads its library):

- `web.gallery.first_thumbnail_ms` (p50, p95): from navigating to /app/gallery, signed in, to the first
  thumbnail painted (`img.complete` and a natural width), read from the page's own clock
  (`performance.now()`, which starts at navigation). 20 navigations, each in a new tab of one browser
  (the app's files cached, as for a person coming back). Target: within 1 s. Baseline, same run: the
  browser's floor for the same picture, navigating to that first thumbnail's URL itself.
- `web.gallery.max_dom_elements`: the most elements the page held while scrolling the gallery to its last
  image (target: under 1,500); baseline: the images scrolled past.

The newest 300 images get real WebP thumbnails in the object store (what the first screens show); the
rest have none (their requests answer 404, which the scroll does not wait for).
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_api import gateway_process
from fixtures import REPO, percentile

N_ASSETS = int(os.environ.get("BENCH_WEB_ASSETS", "100000"))
N_SESSIONS = max(1, N_ASSETS // 100)
NAVIGATIONS = 20
WARM_UP = 3
TOKEN = "bench-web-token"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]  # fmt: skip
FIRST_THUMBNAIL = """() => {
    const img = document.querySelector('main img');
    return img && img.complete && img.naturalWidth > 0 ? performance.now() : false;
}"""


async def _thumbnails(infra: Any, pool: Any, tenant_id: Any) -> None:
    from PIL import Image

    from libs.common.settings import CommonSettings
    from libs.common.storage import ObjectStore

    store = ObjectStore(
        CommonSettings(**{k.removeprefix("ATELIER_").lower(): v for k, v in infra.env().items()})
    )
    await store.ensure_buckets()
    rows = await pool.fetch(
        "SELECT card_key, dominant_colors FROM ingest.assets WHERE tenant_id = $1 "
        "ORDER BY generated_at DESC NULLS LAST, asset_id DESC LIMIT 300",
        tenant_id,
    )
    for row in rows:
        out = io.BytesIO()
        colour = row["dominant_colors"][0] if row["dominant_colors"] else "#808080"
        Image.new("RGB", (256, 256), colour).save(out, "WEBP", quality=80)
        await store.put(store.thumbnails, row["card_key"], out.getvalue(), "image/webp")


async def _browse(base: str) -> tuple[list[float], list[float], int, int]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        context = await browser.new_context(viewport={"width": 1366, "height": 900})
        response = await context.request.post(
            f"{base}/api/v1/login", data={"token": TOKEN}, headers={"Origin": base}
        )
        assert response.status == 200, await response.text()
        ours: list[float] = []
        floor: list[float] = []
        first_url = ""
        for i in range(WARM_UP + NAVIGATIONS):
            page = await context.new_page()
            await page.goto(f"{base}/app/gallery", wait_until="commit")
            painted = await (
                await page.wait_for_function(FIRST_THUMBNAIL, polling="raf", timeout=30_000)
            ).json_value()
            first_url = first_url or await page.evaluate("() => document.querySelector('main img').src")
            await page.close()
            page = await context.new_page()
            await page.goto(first_url, wait_until="commit")
            shown = await (await page.wait_for_function(
                "() => { const i = document.querySelector('img'); return i && i.complete && i.naturalWidth > 0 ? performance.now() : false }",
                polling="raf", timeout=30_000)).json_value()  # fmt: skip
            await page.close()
            if i >= WARM_UP:
                ours.append(float(painted))
                floor.append(float(shown))

        page = await context.new_page()
        await page.goto(f"{base}/app/gallery")
        await page.wait_for_function(FIRST_THUMBNAIL, polling="raf")
        most, seen, last, stalled = 0, -1, -1, 0
        while seen < N_ASSETS - 1 and stalled < 500:
            await page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
            seen = await page.evaluate(
                "() => Math.max(...[...document.querySelectorAll('main [data-index]')].map(e => +e.dataset.index))"
            )
            most = max(most, await page.evaluate("() => document.getElementsByTagName('*').length"))
            stalled = stalled + 1 if seen == last else 0
            last = seen
            await page.wait_for_timeout(20)
        await browser.close()
        return ours, floor, most, seen + 1


async def run_async() -> list[dict[str, Any]]:
    import asyncpg
    from api_library import load_library

    from libs.common.db import create_pool, migrate
    from libs.stack.infra import LocalInfra
    from services.gateway.auth import ensure_tenant

    with tempfile.TemporaryDirectory() as tmp, LocalInfra(Path(tmp) / "infra") as infra:
        pool = await create_pool(infra.database_url)
        for name in ("gateway", "ingest", "clustering"):
            await migrate(pool, name, REPO / "services" / name / "migrations")
        tenant_id = await ensure_tenant(pool, "heavy-user", TOKEN)
        conn = await asyncpg.connect(infra.database_url)
        started = time.perf_counter()
        await load_library(conn, tenant_id=tenant_id, n_assets=N_ASSETS, n_sessions=N_SESSIONS)
        await conn.close()
        await _thumbnails(infra, pool, tenant_id)
        print(f"   loaded {N_ASSETS:,} assets in {time.perf_counter() - started:.0f} s", flush=True)
        await pool.close()

        async with gateway_process(infra, tmp) as base:
            ours, floor, most, scrolled = await _browse(base)

    p50, p95 = percentile(ours, 50), percentile(ours, 95)
    f50, f95 = percentile(floor, 50), percentile(floor, 95)
    print(f"   first thumbnail p50 {p50:.0f} ms  p95 {p95:.0f} ms  (the thumbnail alone: p50 {f50:.0f}, p95 {f95:.0f})"
          f"  most elements while scrolling {scrolled:,} images: {most}", flush=True)  # fmt: skip
    base_name = "the browser showing that thumbnail alone"
    return [
        {"name": "web.gallery.first_thumbnail_ms.p50", "value": round(p50, 1), "unit": "ms",
         "baseline": base_name, "baseline_value": round(f50, 1), "ratio": round(p50 / f50, 2)},
        {"name": "web.gallery.first_thumbnail_ms.p95", "value": round(p95, 1), "unit": "ms",
         "baseline": base_name, "baseline_value": round(f95, 1), "ratio": round(p95 / f95, 2)},
        {"name": "web.gallery.max_dom_elements", "value": most, "unit": "elements",
         "baseline": "images scrolled past", "baseline_value": scrolled, "ratio": round(most / scrolled, 4)},
    ]  # fmt: skip


def run() -> list[dict[str, Any]]:
    return asyncio.run(run_async())
