"""Images with no usable time are shown (in no session), refused files are listed with their reason,
and the library's time zone can be set from the browser's own."""

from __future__ import annotations

import pytest

from tests.polling import until

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def test_untimed_and_refused_files_are_shown_and_the_zone_is_set(
    browser, gateway_url, new_tenant, corpus
) -> None:
    from playwright.async_api import expect

    token, client = await new_tenant()
    untimed = (corpus / "a1111/automatic1111_cropped.png").read_bytes()  # no time inside, none given
    broken = (corpus / "novelai/sample-0316.png").read_bytes()[:3000]
    results = (
        await client.post(
            "/api/v1/assets", files=[("files", ("plain.png", untimed)), ("files", ("broken.png", broken))]
        )
    ).json()
    assert [r["status"] for r in results] == ["imported", "rejected"]

    async def listed_without_time():  # type: ignore[no-untyped-def]
        return (await client.get("/api/v1/assets", params={"without_time": "true"})).json()

    [asset] = await until(listed_without_time)
    assert asset["filename"] == "plain.png" and asset["generated_at"] is None and asset["session_id"] is None
    assert (await client.get("/api/v1/sessions")).json() == []

    context = await browser.new_context(timezone_id="Europe/Paris")
    page = await context.new_page()
    try:
        await page.goto(gateway_url)
        await page.fill("#token", token)
        await page.click("#signin-form button[type=submit]")
        await expect(page.locator("#untimed")).to_be_visible()
        await expect(page.locator("#untimed-assets figure")).to_have_count(1)
        await expect(page.locator("#untimed-assets figcaption")).to_have_text("plain.png")
        await expect(page.locator("#quarantine-list li")).to_contain_text("broken.png:")

        # the library starts in UTC; one click adopts the browser's zone
        await expect(page.locator("#time-zone")).to_have_value("UTC")
        await page.click("#zone-browser")
        await expect(page.locator("#time-zone")).to_have_value("Europe/Paris")
        await expect(page.locator("#zone-browser")).to_be_hidden()
    finally:
        await context.close()
    assert (await client.get("/api/v1/settings/time-zone")).json() == {"time_zone": "Europe/Paris"}
    assert (await client.get("/api/v1/me")).json()["time_zone"] == "Europe/Paris"
    refused = await client.put("/api/v1/settings/time-zone", json={"time_zone": "Mars/Olympus"})
    # the standard 422: a list of what is wrong, each with its message
    assert refused.status_code == 422 and "IANA" in refused.json()["detail"][0]["msg"]
