"""Settings → "Download my library": the browser saves a zip of the workspace, with the images and the
files the README describes."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), ((seed * 53) % 256, (seed * 97) % 256, 120)).save(out, "PNG")
    return out.getvalue()


async def test_download_my_library(page, gateway_url, new_tenant, corpus, artifacts: Path) -> None:
    from playwright.async_api import expect

    token, client = await new_tenant()
    files = [
        ("files", ("garden.png", _png(1), "image/png")),
        ("files", ("garden-2.png", _png(2), "image/png")),
    ]
    files.append(
        ("files", ("cropped.png", (corpus / "a1111/automatic1111_cropped.png").read_bytes(), "image/png"))
    )
    answered = (await client.post("/api/v1/assets", files=files)).json()
    assert {r["status"] for r in answered} == {"imported"}, answered
    expected = {hashlib.sha256(content).hexdigest() for _, (_, content, _) in files}

    await sign_in(page, gateway_url, token)
    await page.goto(f"{gateway_url}/app/settings")
    link = page.get_by_role("link", name="Download my library")
    await expect(link).to_be_visible()
    await page.screenshot(path=str(artifacts / "settings-export.png"), full_page=True)
    async with page.expect_download() as event:
        await link.click()
    download = await event.value
    assert download.suggested_filename.startswith("atelier-") and download.suggested_filename.endswith(".zip")
    saved = artifacts / "library.zip"
    await download.save_as(saved)

    with zipfile.ZipFile(saved) as archive:
        names = set(archive.namelist())
        assert {
            "README.txt",
            "metadata.jsonl",
            "sessions.json",
            "reflections.json",
            "workspace.json",
        } <= names
        lines = [json.loads(line) for line in archive.read("metadata.jsonl").splitlines()]
        assert {hashlib.sha256(archive.read(line["file"])).hexdigest() for line in lines} == expected
        assert {line["filename"] for line in lines} == {"garden.png", "garden-2.png", "cropped.png"}
        assert "metadata.jsonl" in archive.read("README.txt").decode()
