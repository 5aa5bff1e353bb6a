"""The foundation's thin slice, end to end over the real broker, database and object store:
upload -> ingest stores and records -> clustering makes a session -> the gateway lists it."""

from __future__ import annotations

import uuid

import pytest

from tests.polling import until

pytestmark = pytest.mark.integration

MIDJOURNEY = "midjourney/image-description.png"


async def test_health_reports_every_dependency(api) -> None:
    response = await api.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "object_store": "ok"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}])
async def test_api_refuses_missing_or_wrong_token(api, headers) -> None:
    response = await api.get("/api/v1/sessions", headers={"Authorization": ""} | headers)
    assert response.status_code == 401


async def test_upload_makes_a_session(api, stack, corpus) -> None:
    data = (corpus / MIDJOURNEY).read_bytes()
    response = await api.post(
        "/api/v1/assets", files=[("files", ("image-description.png", data, "image/png"))]
    )
    assert response.status_code == 200
    [result] = response.json()
    assert result["status"] == "imported", result
    asset_id = result["asset_id"]
    uuid.UUID(asset_id)

    # the original is in S3 under the tenant, the asset row carries the metadata
    asset = (await api.get(f"/api/v1/assets/{asset_id}")).json()
    assert asset["tool"] == "midjourney"
    assert asset["generated_at"].startswith("2026-06-25T01:46:47")
    assert asset["prompt"].startswith("dream caused by the buzz of a bee")
    thumb = await api.get(asset["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.content[:4] == b"RIFF"

    async def session_listed():
        sessions = (await api.get("/api/v1/sessions")).json()
        return [s for s in sessions if any(c["asset_id"] == asset_id for c in s["cover"])]

    [session] = await until(session_listed, within=20.0)
    assert session["asset_count"] == 1
    assert session["start"].startswith("2026-06-25T01:46:47")
    detail = (await api.get(f"/api/v1/sessions/{session['id']}")).json()
    assert [a["asset_id"] for a in detail["assets"]] == [asset_id]


async def test_same_bytes_twice_is_a_duplicate(api, corpus) -> None:
    data = (corpus / "a1111/automatic1111_cropped.png").read_bytes()
    first = (await api.post("/api/v1/assets", files=[("files", ("a.png", data, "image/png"))])).json()[0]
    again = (await api.post("/api/v1/assets", files=[("files", ("a-copy.png", data, "image/png"))])).json()[0]
    assert first["status"] == "imported"
    assert again == {"filename": "a-copy.png", "status": "duplicate", "asset_id": first["asset_id"]}


async def test_bad_files_are_rejected_and_the_batch_goes_on(api, corpus) -> None:
    good = (corpus / "novelai/sample-0316.png").read_bytes()
    truncated_png = good[: len(good) // 3]
    files = [
        ("files", ("notes.txt", b"just some text, not an image", "text/plain")),
        ("files", ("broken.png", truncated_png, "image/png")),
        ("files", ("empty.png", b"", "image/png")),
        ("files", ("good.png", good, "image/png")),
    ]
    results = {r["filename"]: r for r in (await api.post("/api/v1/assets", files=files)).json()}
    assert results["notes.txt"]["status"] == "rejected" and "not an image" in results["notes.txt"]["reason"]
    assert results["empty.png"]["status"] == "rejected"
    assert results["broken.png"]["status"] == "rejected", results["broken.png"]
    assert results["broken.png"]["reason"]
    assert results["good.png"]["status"] == "imported"
    quarantine = (await api.get("/api/v1/assets/quarantine")).json()
    assert any(q["filename"] == "broken.png" for q in quarantine)


async def test_metrics_count_requests_by_route_and_liveness_needs_no_dependency(api) -> None:
    assert (await api.get("/livez")).json() == {"status": "alive"}
    await api.get("/api/v1/sessions")
    await api.get("/healthz")
    text = (await api.get("/metrics")).text
    assert (
        'atelier_http_requests_total{method="GET",route="/api/v1/sessions",service="gateway",status="200"}'
        in text
    )
    assert 'atelier_dependency_up{dependency="broker",service="gateway"} 1.0' in text
    assert "atelier_consumer_batches_failed_total" in text
