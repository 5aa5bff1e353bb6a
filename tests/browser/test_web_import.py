"""A person imports images on the Import page: two files imported, the same one again a duplicate, a broken
one rejected with its reason and listed among the refused files; a folder connected and disconnected; the
`atelier sync` command with a token made for it."""

from __future__ import annotations

import base64
import io
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.browser.conftest import sign_in
from tests.integration.test_session_edits import a1111_png

pytestmark = [pytest.mark.integration, pytest.mark.browser]

MIDJOURNEY = "midjourney/image-description.png"
CIVITAI = "civitai/68295CAE9DE493031ACD8C135AD863E5E7C53D368852AD5FC14F661E6D489A58.jpeg"


async def test_import_files_see_results_and_refused_files(
    page, gateway_url, new_tenant, corpus, artifacts: Path, tmp_path: Path, folder_root: Path
) -> None:
    from playwright.async_api import expect

    token, client = await new_tenant()
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway_url)
    errors: list[str] = []
    # a refused request is logged by the browser itself ("Failed to load resource"): not the app's error
    page.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None
        ),
    )
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    await sign_in(page, gateway_url, token)
    await page.goto(f"{gateway_url}/app/sessions")

    # to the Import page by the sidebar
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Import").click()
    await expect(page.get_by_role("heading", name="Import", level=1)).to_be_visible()
    await expect(page.get_by_text("No refused files.")).to_be_visible()
    await page.screenshot(path=str(artifacts / "1-import-page.png"), full_page=True)

    # two files through the file chooser: both imported
    files = []
    for rel in (MIDJOURNEY, CIVITAI):
        target = tmp_path / Path(rel).name
        shutil.copy(corpus / rel, target)
        files.append(str(target))
    await page.get_by_label("Choose files").set_input_files(files)
    # one row per file chosen (a zip's entries are a list inside its row)
    uploads = page.get_by_role("list", name="Uploads").locator(":scope > li")
    await expect(uploads).to_have_count(2)
    for path in files:
        item = uploads.filter(has_text=Path(path).name)
        await expect(item).to_contain_text("imported", timeout=30_000)
    await expect(page.get_by_role("status").filter(has_text="files answered")).to_have_text(
        "2 of 2 files answered: 2 imported."
    )
    await page.screenshot(path=str(artifacts / "2-two-imported.png"), full_page=True)

    # the same file again, over a slow connection: its progress shows while it goes up, then "duplicate"
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    slow = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 100 * 1024}
    await cdp.send("Network.emulateNetworkConditions", slow)
    await page.get_by_label("Choose files").set_input_files(files[:1])
    await expect(uploads).to_have_count(3)
    progress = page.get_by_role("progressbar", name="Uploading image-description.png")
    await expect(progress).to_be_visible()
    await expect(progress).to_have_attribute(
        "aria-valuetext", re.compile(r"^([1-9]\d?)% sent$"), timeout=15_000
    )
    await page.screenshot(path=str(artifacts / "3-progress.png"), full_page=True)
    await cdp.send("Network.emulateNetworkConditions", {**slow, "uploadThroughput": -1})
    await expect(progress).to_be_hidden(timeout=30_000)
    await expect(uploads.first).to_contain_text("image-description.png")
    await expect(uploads.first).to_contain_text("duplicate", timeout=30_000)
    await page.screenshot(path=str(artifacts / "3-duplicate.png"), full_page=True)

    # with the network gone the file is not sent, and says why; it goes by itself once Atelier answers
    await page.context.set_offline(True)
    await page.get_by_label("Choose files").set_input_files(files[1:])
    await expect(uploads).to_have_count(4)
    await expect(uploads.first).to_contain_text("not sent: the server could not be reached")
    await expect(page.get_by_role("alert").filter(has_text="cannot be reached")).to_be_visible()
    await page.screenshot(path=str(artifacts / "3-offline.png"), full_page=True)
    await page.context.set_offline(False)
    await expect(uploads.first).to_contain_text("duplicate", timeout=30_000)

    # a broken PNG (its first 3000 bytes): rejected with the reason, and listed among the refused files
    broken = tmp_path / "broken.png"
    broken.write_bytes((corpus / "novelai/sample-0316.png").read_bytes()[:3000])
    await page.get_by_label("Choose files").set_input_files(str(broken))
    await expect(uploads).to_have_count(5)
    await expect(uploads.first).to_contain_text("rejected: ", timeout=30_000)
    [result] = (await client.get("/api/v1/assets/quarantine")).json()
    assert result["filename"] == "broken.png" and result["reason"]
    await expect(uploads.first).to_contain_text(f"rejected: {result['reason']}")
    refused = page.get_by_role("list", name="Refused files").get_by_role("listitem")
    await expect(refused).to_have_count(1)
    await expect(refused.first).to_contain_text("broken.png")
    await expect(refused.first).to_contain_text(result["reason"])
    await page.screenshot(path=str(artifacts / "4-rejected-and-refused.png"), full_page=True)

    # a zip dropped on the page (as a file manager's drag would deliver it): a result per entry inside
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("renders/fox.png", a1111_png("a red fox in snow", 7))
        z.writestr("renders/again.png", (corpus / MIDJOURNEY).read_bytes())
    await page.evaluate(
        """([name, data]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "application/zip" }));
            const zone = document.querySelector("main");
            for (const type of ["dragenter", "dragover", "drop"])
                zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }""",
        ["renders.zip", base64.b64encode(archive.getvalue()).decode()],
    )
    await expect(uploads).to_have_count(6)
    await expect(uploads.first).to_contain_text("renders.zip")
    await expect(uploads.first).to_contain_text("1 imported, 1 duplicate", timeout=30_000)
    await uploads.first.get_by_text("2 files in the archive").click()
    await expect(uploads.first.get_by_role("listitem")).to_have_text(
        ["renders/fox.png: imported", "renders/again.png: duplicate"]
    )
    await page.screenshot(path=str(artifacts / "5-zip-dropped.png"), full_page=True)

    # an image with its JSON sidecar (which dates it) and a file that is not an image: the sidecar rides
    # with its image, the other file is skipped, never sent
    plain = tmp_path / "plain.png"
    shutil.copy(corpus / "a1111/automatic1111_cropped.png", plain)  # no time inside
    (tmp_path / "plain.png.json").write_text('{"creation_date": "2025-03-21T10:00:00Z"}')
    (tmp_path / "notes.txt").write_text("not an image")
    await page.get_by_label("Choose files").set_input_files(
        [str(plain), str(tmp_path / "plain.png.json"), str(tmp_path / "notes.txt")]
    )
    await expect(uploads).to_have_count(8)
    await expect(uploads.filter(has_text="notes.txt")).to_contain_text("skipped: not an image or a zip")
    await expect(uploads.filter(has_text="plain.png")).to_contain_text("imported", timeout=30_000)
    await expect(uploads.filter(has_text="plain.png.json")).to_have_count(0)
    await expect(page.get_by_role("status").filter(has_text="files answered")).to_contain_text(
        "1 skipped (not images or zips)"
    )
    [dated] = [a for a in (await client.get("/api/v1/assets")).json() if a["filename"] == "plain.png"]
    assert dated["generated_at"].startswith("2025-03-21T10:00:00"), dated

    # a folder the server can read: connected, watched, disconnected
    renders = folder_root / f"renders-{token[-6:]}"
    renders.mkdir()
    await page.get_by_label("Folder path on the server").fill(str(renders))
    await page.get_by_role("button", name="Connect folder").click()
    folders = page.get_by_role("list", name="Connected folders").get_by_role("listitem")
    await expect(folders).to_have_count(1)
    await expect(folders.first).to_contain_text(str(renders))
    await expect(folders.first).to_contain_text("Watching", timeout=30_000)
    await page.screenshot(path=str(artifacts / "6-folder.png"), full_page=True)
    await page.get_by_role("button", name=f"Disconnect {renders}").click()
    await expect(page.get_by_text("No connected folders.")).to_be_visible()
    # a path outside the allowed roots is refused with the server's reason
    await page.get_by_label("Folder path on the server").fill(str(tmp_path))
    await page.get_by_role("button", name="Connect folder").click()
    await expect(page.get_by_role("alert")).to_be_visible()

    # desktop sync: the command names this server; a token made for it goes into the command
    command = page.locator("pre")
    await expect(command).to_contain_text(f"atelier sync ~/Pictures --server {gateway_url}")
    await page.get_by_label("Folder on your computer").fill("~/My Renders")
    await expect(command).to_contain_text("atelier sync ~/'My Renders'")
    await page.get_by_role("button", name="Create a token for atelier sync").click()
    new_token = await page.get_by_label("New token").input_value()
    assert new_token and new_token != token
    await expect(command).to_contain_text(f"--token {new_token}")
    await page.get_by_role("button", name="Copy command").click()
    await expect(page.get_by_text("Copied")).to_be_visible()
    assert new_token in await page.evaluate("navigator.clipboard.readText()")
    tokens = (await client.get("/api/v1/tokens")).json()
    assert "atelier sync" in [t["label"] for t in tokens]
    await page.screenshot(path=str(artifacts / "7-sync.png"), full_page=True)

    # and at a phone's width everything is still in one column, no sideways scrolling
    await page.set_viewport_size({"width": 390, "height": 844})
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await page.screenshot(path=str(artifacts / "8-narrow.png"), full_page=True)
    # and in the dark, as the system asks
    await page.emulate_media(color_scheme="dark")
    await page.screenshot(path=str(artifacts / "9-narrow-dark.png"), full_page=True)
    assert not errors, errors
