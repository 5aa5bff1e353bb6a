"""A zip through POST /api/v1/assets over the real broker, database and object store: every image
inside arrives once with the right tool, bad entries are refused with a reason, a second upload
of the same zip changes nothing."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tests.polling import until

pytestmark = pytest.mark.integration

ARCHIVE = "corpus.zip"


def corpus_zip(corpus: Path) -> tuple[bytes, list[str]]:
    """Every corpus image under its `tool/name` path, plus a traversal name and a nested zip."""
    images = sorted(str(p.relative_to(corpus)) for p in corpus.glob("*/*") if p.is_file())
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as nested:
        nested.write(corpus / images[0], "inside.png")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in images:
            archive.write(corpus / name, name)
        archive.writestr(zipfile.ZipInfo("../escape.png"), (corpus / images[1]).read_bytes())
        archive.writestr("more/nested.zip", inner.getvalue())
        archive.writestr("__MACOSX/._x", b"junk")
    return buffer.getvalue(), images


async def test_zip_of_the_corpus_imports_each_image_once_and_refuses_bad_entries(new_tenant, corpus) -> None:
    _, client = await new_tenant()
    expected = json.loads((corpus / "EXPECTED.json").read_text())
    data, images = corpus_zip(corpus)
    assert set(images) == set(expected)

    response = await client.post(
        "/api/v1/assets", params={"wait": "false"}, files=[("files", (ARCHIVE, data, "application/zip"))]
    )
    assert response.status_code == 200
    results = {r["filename"]: r for r in response.json()}
    assert set(results) == {f"{ARCHIVE}/{name}" for name in images} | {
        f"{ARCHIVE}/../escape.png",
        f"{ARCHIVE}/more/nested.zip",
    }
    assert results[f"{ARCHIVE}/../escape.png"]["status"] == "rejected"
    assert "path traversal" in results[f"{ARCHIVE}/../escape.png"]["reason"]
    assert results[f"{ARCHIVE}/more/nested.zip"]["status"] == "rejected"
    assert "nested archive (zip)" in results[f"{ARCHIVE}/more/nested.zip"]["reason"]
    # wait=false: staged and queued for the pipeline, not yet imported
    for name in images:
        assert results[f"{ARCHIVE}/{name}"]["status"] == "queued", results[f"{ARCHIVE}/{name}"]

    async def every_asset():
        assets = (await client.get("/api/v1/assets", params={"limit": 500})).json()
        return assets if len(assets) >= len(images) else None

    assets = await until(every_asset, within=60.0)
    assert assets is not None, "the pipeline did not import every image in time"
    assert len(assets) == len(images)
    for name in images:
        asset_id = results[f"{ARCHIVE}/{name}"]["asset_id"]
        asset = (await client.get(f"/api/v1/assets/{asset_id}")).json()
        want = expected[name]["tool"]
        assert asset["tool"] == (None if want == "_negative" else want), name
        assert asset["filename"] == Path(name).name

    again = (
        await client.post("/api/v1/assets", files=[("files", (ARCHIVE, data, "application/zip"))])
    ).json()
    again_by_name = {r["filename"]: r for r in again}
    for name in images:
        row = again_by_name[f"{ARCHIVE}/{name}"]
        assert row["status"] == "duplicate" and row["asset_id"] == results[f"{ARCHIVE}/{name}"]["asset_id"]
    assert len((await client.get("/api/v1/assets", params={"limit": 500})).json()) == len(images)


async def test_zip_next_to_plain_files_and_a_corrupt_zip_in_one_request(new_tenant, corpus) -> None:
    _, client = await new_tenant(time_zone="Europe/Paris")
    image = (corpus / "novelai/sample-0316.png").read_bytes()
    sidecar = json.dumps({"created_at": "2024-05-01T10:00:00Z"}).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("2024-05-01/night.png", (corpus / "a1111/automatic1111_cropped.png").read_bytes())
        archive.writestr("2024-05-01/night.png.json", sidecar)
    good_zip = buffer.getvalue()
    files = [
        ("files", ("broken.zip", good_zip[: len(good_zip) // 2], "application/zip")),
        ("files", ("photos.zip", good_zip, "application/zip")),
        ("files", ("plain.png", image, "image/png")),
    ]
    before = {outcome: _archive_entries(outcome) for outcome in ("queued", "rejected")}
    results = (await client.post("/api/v1/assets", files=files)).json()
    by_name = {r["filename"]: r for r in results}
    assert set(by_name) == {"broken.zip", "photos.zip/2024-05-01/night.png", "plain.png"}
    assert by_name["broken.zip"]["status"] == "rejected" and "corrupt zip" in by_name["broken.zip"]["reason"]
    assert by_name["photos.zip/2024-05-01/night.png"]["status"] == "imported"
    assert by_name["plain.png"]["status"] == "imported"

    # the sidecar travelled with its image into the pipeline
    asset_id = by_name["photos.zip/2024-05-01/night.png"]["asset_id"]
    asset = (await client.get(f"/api/v1/assets/{asset_id}")).json()
    assert (asset["generated_at"], asset["timestamp_source"]) == (
        "2024-05-01T10:00:00+00:00",
        "sidecar:created_at",
    )

    # one entry staged from photos.zip, one refusal for broken.zip; the plain file is not an archive entry
    assert _archive_entries("queued") - before["queued"] == 1
    assert _archive_entries("rejected") - before["rejected"] == 1
    assert "atelier_gateway_archive_entries_total" in (await client.get("/metrics")).text


def _archive_entries(outcome: str) -> float:
    return REGISTRY.get_sample_value("atelier_gateway_archive_entries_total", {"outcome": outcome}) or 0.0
