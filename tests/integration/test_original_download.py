"""`GET /api/v1/assets/{asset_id}/original` over the real stack: the bytes that were imported, streamed
from the object store as an attachment under the stored file name (RFC 6266, with an RFC 5987
`filename*` for a name that is not plain ASCII) and the media type of the asset's format; 404 for an
asset of another workspace, an unknown id, or a quarantined file."""

from __future__ import annotations

import io
import os
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from PIL import Image

from services.gateway.endpoints import ORIGINAL_CHUNK_BYTES, attachment

pytestmark = pytest.mark.integration

NOBODY = "00000000-0000-4000-8000-000000000000"


def _png(seed: int, size: int = 16, noise: bool = False) -> bytes:
    if noise:  # incompressible: a file of several read chunks
        image = Image.frombytes("RGB", (size, size), os.urandom(size * size * 3))
    else:
        image = Image.new("RGB", (size, size), ((seed * 53) % 256, (seed * 97) % 256, (seed * 29) % 256))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _jpeg(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 12), ((seed * 31) % 256, 90, 200)).save(out, "JPEG", quality=90)
    return out.getvalue()


async def _import(client: httpx.AsyncClient, files: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    response = await client.post(
        "/api/v1/assets", files=[("files", (name, data, "application/octet-stream")) for name, data in files]
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_attachment_header_names_the_file_safely() -> None:
    assert attachment("lighthouse 01.png") == 'attachment; filename="lighthouse 01.png"'
    # not ASCII: an ASCII stand-in, and the name itself in UTF-8 (RFC 5987)
    name = "夕焼け café.png"
    assert (
        attachment(name) == f"attachment; filename=\"___ caf_.png\"; filename*=UTF-8''{quote(name, safe='')}"
    )
    assert "%E5%A4%95" in attachment(name)
    # a quote, a backslash or a line break can neither end the parameter nor the header
    header = attachment('a"b\\c\r\nd/e.png')
    assert header.startswith("attachment; filename=\"a_b_c__d_e.png\"; filename*=UTF-8''")
    assert "\r" not in header and "\n" not in header
    assert attachment("") == 'attachment; filename="original"'


async def test_original_is_the_imported_bytes_as_an_attachment(stack, new_tenant) -> None:
    _, client = await new_tenant()
    _, other = await new_tenant()
    plain, unicode_png, large = _png(1), _png(2), _png(3, size=600, noise=True)
    assert len(large) > 2 * ORIGINAL_CHUNK_BYTES
    photo = _jpeg(4)
    files = [
        ("lighthouse 01.png", plain),
        ("夕焼け «café».png", unicode_png),
        ("noise.png", large),
        ("photo.jpg", photo),
    ]
    results = await _import(client, files)
    assert [r["status"] for r in results] == ["imported"] * len(files), results
    ids = [r["asset_id"] for r in results]

    for (name, data), asset_id, media_type in zip(
        files, ids, ["image/png", "image/png", "image/png", "image/jpeg"], strict=True
    ):
        response = await client.get(f"/api/v1/assets/{asset_id}/original")
        assert response.status_code == 200, response.text
        assert response.content == data, name
        assert response.headers["content-type"] == media_type
        assert response.headers["content-length"] == str(len(data))
        assert response.headers["content-disposition"] == attachment(name)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"].startswith("private")

    assert (await client.get(f"/api/v1/assets/{ids[0]}/original")).headers[
        "content-disposition"
    ] == 'attachment; filename="lighthouse 01.png"'
    disposition = (await client.get(f"/api/v1/assets/{ids[1]}/original")).headers["content-disposition"]
    assert disposition == (
        "attachment; filename=\"___ _caf__.png\"; filename*=UTF-8''" + quote("夕焼け «café».png", safe="")
    )

    # another workspace: 404 for each of these assets, the same as for an id nobody has
    for asset_id in [*ids, NOBODY, str(uuid.uuid4())]:
        response = await other.get(f"/api/v1/assets/{asset_id}/original")
        assert response.status_code == 404, (asset_id, response.text)
        assert response.json() == {"detail": "no such asset"}
    # ... even when it has the same bytes: its own asset, its own original
    [mine] = await _import(other, [("mine.png", plain)])
    assert mine["status"] == "imported" and mine["asset_id"] not in ids
    response = await other.get(f"/api/v1/assets/{mine['asset_id']}/original")
    assert response.status_code == 200 and response.content == plain
    assert response.headers["content-disposition"] == 'attachment; filename="mine.png"'

    # no token: 401
    response = await client.get(f"/api/v1/assets/{ids[0]}/original", headers={"Authorization": ""})
    assert response.status_code == 401


async def test_a_quarantined_file_has_no_original_to_download(stack, new_tenant) -> None:
    _, client = await new_tenant()
    [result] = await _import(client, [("broken.png", b"\x89PNG\r\n\x1a\n not an image at all")])
    assert result["status"] == "rejected", result
    assert result["asset_id"], result
    response = await client.get(f"/api/v1/assets/{result['asset_id']}/original")
    assert response.status_code == 404
