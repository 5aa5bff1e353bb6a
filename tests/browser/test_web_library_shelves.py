"""Refused files are listed with their reason on the Import page, and the workspace's time zone is set
from the browser's own in Settings. (Images without a time, in the gallery, are tested with the gallery.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def test_refused_files_are_listed_and_the_zone_is_set_from_the_browser(
    browser, gateway_url, new_tenant, corpus, artifacts: Path
) -> None:
    from playwright.async_api import expect

    token, client = await new_tenant()
    broken = (corpus / "novelai/sample-0316.png").read_bytes()[:3000]
    cut_jpeg = (
        corpus / "civitai/68295CAE9DE493031ACD8C135AD863E5E7C53D368852AD5FC14F661E6D489A58.jpeg"
    ).read_bytes()
    results = (
        await client.post(
            "/api/v1/assets",
            files=[("files", ("broken.png", broken)), ("files", ("cut.jpeg", cut_jpeg[:2000]))],
        )
    ).json()
    assert [r["status"] for r in results] == ["rejected", "rejected"]
    reasons = {r["filename"]: r["reason"] for r in results}

    context = await browser.new_context(timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    try:
        await sign_in(page, gateway_url, token)
        await page.goto(f"{gateway_url}/app/import")
        refused = page.get_by_role("list", name="Refused files").get_by_role("listitem")
        await expect(refused).to_have_count(2)
        for name, reason in reasons.items():
            item = refused.filter(has_text=name)
            await expect(item).to_contain_text(reason)
        await page.screenshot(path=str(artifacts / "1-refused.png"), full_page=True)

        # the workspace starts in UTC; one click adopts the browser's zone, and the button goes away
        await page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
        zone = page.get_by_role("combobox", name="Time zone")
        await expect(zone).to_have_value("UTC")
        adopt = page.get_by_role("button", name="Use this browser's zone (Europe/Paris)")
        await page.screenshot(path=str(artifacts / "2-zone-utc.png"), full_page=True)
        await adopt.click()
        await expect(page.get_by_role("status").filter(has_text="Time zone saved")).to_have_text(
            "Time zone saved: Europe/Paris."
        )
        await expect(zone).to_have_value("Europe/Paris")
        await expect(adopt).to_be_hidden()
        await page.screenshot(path=str(artifacts / "3-zone-paris.png"), full_page=True)

        # another zone from the list, saved with its button
        await zone.select_option("Asia/Tokyo")
        await page.get_by_role("button", name="Save time zone").click()
        await expect(page.get_by_role("status").filter(has_text="Time zone saved")).to_have_text(
            "Time zone saved: Asia/Tokyo."
        )
        assert (await client.get("/api/v1/me")).json()["time_zone"] == "Asia/Tokyo"
        # a reload reads it back, and offers the browser's zone again
        await page.reload()
        await expect(zone).to_have_value("Asia/Tokyo")
        await expect(adopt).to_be_visible()
    finally:
        await context.close()
    assert not errors, errors
    refused_zone = await client.put("/api/v1/settings/time-zone", json={"time_zone": "Mars/Olympus"})
    # the standard 422: a list of what is wrong, each with its message
    assert refused_zone.status_code == 422 and "IANA" in refused_zone.json()["detail"][0]["msg"]
