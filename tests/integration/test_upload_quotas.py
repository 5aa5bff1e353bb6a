"""Per-workspace upload limits through the HTTP API (services/gateway/quotas.py): requests and files per
minute and files waiting to be imported each answer 429 with Retry-After and a problem body naming the
limit, for that workspace only; the counts live in PostgreSQL, so concurrent admissions (as from several
gateway replicas) never let more through than the limit; a busy workspace's uploads take the bulk lane."""

from __future__ import annotations

import asyncio
import io
import random
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from prometheus_client import REGISTRY

from services.gateway.quotas import UploadQuota, UploadThrottled, admit_upload
from tests.polling import until

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway_settings(stack: dict[str, Any]) -> Iterator[Any]:
    """The running gateway's settings, put back as they were after the test."""
    settings = stack["gateway"].settings
    saved = settings.model_dump()
    try:
        yield settings
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)


def _png(seed: int, size: int = 16) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (seed % 256, seed // 256 % 256, 77)).save(out, "PNG")
    return out.getvalue()


def _noise_png(seed: int, size: int = 640) -> bytes:
    """An image that takes ingest a while (no compression to speak of, thumbnails to make)."""
    out = io.BytesIO()
    Image.frombytes("RGB", (size, size), random.Random(seed).randbytes(size * size * 3)).save(out, "PNG")
    return out.getvalue()


def _files(prefix: str, images: list[bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (f"{prefix}-{i}.png", data, "image/png")) for i, data in enumerate(images)]


async def _upload(client: httpx.AsyncClient, prefix: str, images: list[bytes]) -> httpx.Response:
    return await client.post("/api/v1/assets", params={"wait": "false"}, files=_files(prefix, images))


def _throttled_count(limit: str) -> float:
    return REGISTRY.get_sample_value("atelier_gateway_throttled_total", {"limit": limit}) or 0.0


def _assert_problem(response: httpx.Response, limit: str) -> int:
    """The 429's problem body names the limit; returns Retry-After."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["status"], problem["limit"]) == (429, limit)
    assert problem["detail"] and problem["type"].endswith(f"upload-limit-{limit}")
    retry_after = int(response.headers["Retry-After"])
    assert problem["retry_after"] == retry_after >= 1
    return retry_after


async def test_requests_per_minute_answers_429_for_that_workspace_only(new_tenant, gateway_settings) -> None:
    gateway_settings.upload_requests_per_minute = 3
    _, client = await new_tenant()
    _, neighbour = await new_tenant()
    before = _throttled_count("requests")
    for i in range(3):
        assert (await _upload(client, f"req{i}", [_png(i)])).status_code == 200
    refused = await _upload(client, "req3", [_png(3)])
    # one request's token refills in 60 / 3 = 20 s
    assert 1 <= _assert_problem(refused, "requests") <= 20
    assert "3 upload requests in a minute" in refused.json()["detail"]
    assert _throttled_count("requests") == before + 1
    # nothing of the refused request was staged
    names = {a["filename"] for a in (await client.get("/api/v1/assets", params={"limit": 50})).json()}
    assert "req3-0.png" not in names
    assert (await _upload(neighbour, "other", [_png(10)])).status_code == 200


async def test_files_per_minute_lets_a_request_in_then_makes_the_next_wait_out_its_files(
    new_tenant, gateway_settings
) -> None:
    gateway_settings.upload_files_per_minute = 5
    _, client = await new_tenant()
    first = await _upload(client, "files", [_png(100 + i) for i in range(8)])
    assert first.status_code == 200 and [r["status"] for r in first.json()] == ["queued"] * 8
    refused = await _upload(client, "more", [_png(200)])
    # 8 files taken from 5 tokens: 3 in debt, 1 more needed, at 5 a minute: up to 48 s
    assert 30 <= _assert_problem(refused, "files") <= 48


async def test_files_waiting_to_be_imported_are_capped_until_they_are_imported(
    new_tenant, gateway_settings
) -> None:
    gateway_settings.upload_max_queued_files = 3
    gateway_settings.upload_queued_retry_seconds = 7
    _, client = await new_tenant()
    images = await asyncio.to_thread(lambda: [_noise_png(300 + i) for i in range(12)])
    assert (await _upload(client, "backlog", images)).status_code == 200
    refused = await _upload(client, "later", [_png(400)])
    assert _assert_problem(refused, "queued") == 7
    assert "files waiting to be imported; the limit is 3" in refused.json()["detail"]

    async def imported() -> bool:
        assets = (await client.get("/api/v1/assets", params={"limit": 50})).json()
        return len([a for a in assets if a["filename"].startswith("backlog-")]) == 12

    assert await until(imported, within=60.0)
    assert (await _upload(client, "later", [_png(400)])).status_code == 200  # the cap let go as they landed


async def test_concurrent_admissions_share_one_count(stack: dict[str, Any]) -> None:
    """Twenty requests of one workspace at once, each on its own connection (as several gateway replicas
    would be): the PostgreSQL bucket lets exactly its five through."""
    pool = stack["gateway"].pool
    tenant = uuid.uuid4()
    quota = UploadQuota(
        requests_per_minute=5, files_per_minute=1000, max_queued_files=1000, queued_retry_seconds=5
    )

    async def one() -> str:
        try:
            await admit_upload(pool, tenant, quota)
        except UploadThrottled as exc:
            return exc.limit
        return "admitted"

    outcomes = await asyncio.gather(*(one() for _ in range(20)))
    assert sorted(outcomes).count("admitted") == 5 and outcomes.count("requests") == 15


async def test_a_busy_workspace_uploads_in_the_bulk_lane(new_tenant, gateway_settings, stack) -> None:
    _, quiet = await new_tenant()
    _, busy = await new_tenant()
    tenant_of = {}
    for name, client in (("quiet", quiet), ("busy", busy)):
        tenant_of[name] = (await client.get("/api/v1/me")).json()["tenant_id"]
    assert (await _upload(quiet, "lane-quiet", [_png(500)])).status_code == 200
    gateway_settings.upload_bulk_after_files = 0  # any file waiting makes it busy: every upload
    assert (await _upload(busy, "lane-busy", [_png(501), _png(502)])).status_code == 200

    async def topics(tenant_id: str) -> list[tuple[str, bytes]]:
        rows = await stack["gateway"].pool.fetch(
            "SELECT topic, key FROM gateway.outbox WHERE convert_from(body, 'UTF8')::jsonb ->> 'tenant_id' = $1",
            tenant_id,
        )
        return [(r["topic"], r["key"]) for r in rows]

    [(quiet_topic, quiet_key)] = await topics(tenant_of["quiet"])
    busy_rows = await topics(tenant_of["busy"])
    assert quiet_topic == "asset.uploaded" and [t for t, _ in busy_rows] == ["asset.uploaded.bulk"] * 2
    # keyed by asset, not by workspace: one workspace's files spread over the partitions
    assert len({key for _, key in busy_rows}) == 2 and quiet_key != tenant_of["quiet"].encode()

    async def both_imported() -> bool:
        assets = (await busy.get("/api/v1/assets")).json()
        return {a["filename"] for a in assets} == {"lane-busy-0.png", "lane-busy-1.png"}

    assert await until(both_imported, within=30.0)  # ingest consumes the bulk lane too


async def test_a_large_zip_turns_to_the_bulk_lane_part_way(new_tenant, gateway_settings, stack) -> None:
    gateway_settings.upload_bulk_after_files = 2
    gateway_settings.zip_stage_batch_files = 2  # staged two entries at a time
    _, client = await new_tenant()
    tenant_id = (await client.get("/api/v1/me")).json()["tenant_id"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(6):
            z.writestr(f"zip-{i}.png", _png(600 + i))
    response = await client.post(
        "/api/v1/assets",
        params={"wait": "false"},
        files=[("files", ("six.zip", archive.getvalue(), "application/zip"))],
    )
    assert response.status_code == 200 and [r["status"] for r in response.json()] == ["queued"] * 6
    rows = await stack["gateway"].pool.fetch(
        "SELECT topic FROM gateway.outbox WHERE convert_from(body, 'UTF8')::jsonb ->> 'tenant_id' = $1 ORDER BY id",
        tenant_id,
    )
    # the first two while nothing waited; from then on the workspace had two waiting: busy
    assert [r["topic"] for r in rows] == ["asset.uploaded"] * 2 + ["asset.uploaded.bulk"] * 4


async def test_an_import_ingest_keeps_up_with_still_turns_to_the_bulk_lane(
    new_tenant, gateway_settings, stack
) -> None:
    """Files waiting alone do not tell a large import: one that ingest keeps up with never has many
    waiting. The files staged in about the last minute do."""
    gateway_settings.upload_bulk_after_files = 3
    gateway_settings.upload_recent_seconds = 1e9  # nothing forgotten during the test, however slow
    _, client = await new_tenant()
    tenant_id = (await client.get("/api/v1/me")).json()["tenant_id"]
    pool = stack["gateway"].pool

    async def topics() -> list[str]:
        rows = await pool.fetch(
            "SELECT topic FROM gateway.outbox WHERE convert_from(body, 'UTF8')::jsonb ->> 'tenant_id' = $1 ORDER BY id",
            tenant_id,
        )
        return [r["topic"] for r in rows]

    for i in range(4):  # one file at a time, each imported before the next is sent: none ever waits
        assert (await _upload(client, "steady", [_png(700 + i)])).status_code == 200

        async def imported(count: int = i + 1) -> bool:
            return len((await client.get("/api/v1/assets")).json()) == count

        assert await until(imported, within=30.0)
    # the third file is the workspace's third in the last minute, counting its own: the threshold
    assert await topics() == ["asset.uploaded"] * 2 + ["asset.uploaded.bulk"] * 2

    # quiet for many times the time to forget (made short rather than waited for): small again
    gateway_settings.upload_recent_seconds = 1e-3
    assert (await _upload(client, "later", [_png(710)])).status_code == 200
    assert (await topics())[-1] == "asset.uploaded"


async def test_a_request_of_many_files_takes_the_bulk_lane_from_its_first(
    new_tenant, gateway_settings, stack
) -> None:
    gateway_settings.upload_bulk_after_files = 3
    _, client = await new_tenant()
    tenant_id = (await client.get("/api/v1/me")).json()["tenant_id"]
    assert (await _upload(client, "two", [_png(720), _png(721)])).status_code == 200
    gateway_settings.upload_recent_seconds = 1e-3  # the two above forgotten at once
    assert (await _upload(client, "three", [_png(722), _png(723), _png(724)])).status_code == 200
    rows = await stack["gateway"].pool.fetch(
        "SELECT topic FROM gateway.outbox WHERE convert_from(body, 'UTF8')::jsonb ->> 'tenant_id' = $1 ORDER BY id",
        tenant_id,
    )
    assert [r["topic"] for r in rows] == ["asset.uploaded"] * 2 + ["asset.uploaded.bulk"] * 3


async def test_openapi_documents_the_429(api: httpx.AsyncClient) -> None:
    doc = (await api.get("/openapi.json")).json()
    answer = doc["paths"]["/api/v1/assets"]["post"]["responses"]["429"]
    assert "Retry-After" in answer["headers"]
    schema = answer["content"]["application/problem+json"]["schema"]
    assert schema["properties"]["limit"]["enum"] == ["requests", "files", "queued"]
