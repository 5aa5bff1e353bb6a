"""POST /api/v1/assets is bounded before it is read, cleans text where it enters, and never answers
success for work that has not happened (issue 9).

- a declared Content-Length over the request limit, or a missing/invalid token, is answered at once:
  the test sends the headers and a few bytes over a raw socket and gets the answer (and the
  connection closed) without sending the rest;
- a chunked body (no Content-Length) is cut off with 413 once it passes the limit, and nothing is staged;
- a file over the per-file limit is rejected with a reason while the others in the request go on;
- NUL characters in a file name, folder or sidecar are removed, the file imports, and no S3 object is
  left without its upload record;
- with the object store or the broker unreachable the answer is 503 with the reason and Retry-After,
  on a second gateway with its own database and broker (reaching S3 through a proxy the test cuts),
  so taking them away touches nothing the session's stack uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = pytest.mark.integration

BOUNDARY = "atelier-test-boundary"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL_IMAGE = "a1111/automatic1111_cropped.png"  # 272 bytes, no time inside
OTHER_IMAGE = "novelai/sample-0316.png"


# ----------------------------------------------------------------------------------- helpers
def _part_head(name: str, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    kind = "Content-Type: application/octet-stream\r\n" if filename is not None else ""
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n{kind}\r\n".encode()


def _request_head(gateway_url: str, headers: dict[str, str]) -> bytes:
    lines = ["POST /api/v1/assets?wait=false HTTP/1.1", f"Host: {urlsplit(gateway_url).netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
    """An HTTP response's status and JSON body. Read in one go: once the server's reset arrives (it
    stopped reading what we still send), a StreamReader raises even for bytes it already holds."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))  # fmt: skip
    return status, json.loads(await reader.readexactly(length))


async def _answer_to_unfinished_body(
    gateway_url: str, headers: dict[str, str], *, within: float = 10.0
) -> tuple[int, dict[str, Any], bool]:
    """Send the headers and the first bytes of a body that never comes; return the status, the JSON
    answer and whether the server closed the connection instead of waiting for the rest."""
    url = urlsplit(gateway_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(_request_head(gateway_url, headers) + _part_head("files", "big.png") + PNG_SIGNATURE)
        await writer.drain()
        try:
            status, body = await asyncio.wait_for(_read_answer(reader), within)
        except TimeoutError:
            raise AssertionError(f"no answer within {within} s: the server waits for the body") from None
        try:
            closed = await asyncio.wait_for(reader.read(1), 5.0) == b""
        except TimeoutError:
            closed = False
        return status, body, closed
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _tenant_id(client: httpx.AsyncClient) -> uuid.UUID:
    return uuid.UUID((await client.get("/api/v1/me")).json()["tenant_id"])


async def _staged(runtime: Any, tenant_id: uuid.UUID) -> dict[str, str]:
    """sha256 -> filename of every upload the tenant has staged."""
    rows = await runtime.pool.fetch(
        "SELECT sha256, filename FROM gateway.uploads WHERE tenant_id = $1", tenant_id
    )
    return {r["sha256"]: r["filename"] for r in rows}


async def _originals(runtime: Any, tenant_id: uuid.UUID) -> set[str]:
    """The sha256 of every original the tenant has in S3."""
    store = runtime.store

    def listed() -> set[str]:
        objects = store.client.list_objects(store.originals, prefix=f"{tenant_id}/", recursive=True)
        return {o.object_name.rsplit("/", 1)[1] for o in objects}

    return await asyncio.to_thread(listed)


# ------------------------------------------------------------------------- bounded before read
async def test_declared_body_over_the_request_limit_is_refused_before_it_is_read(stack, gateway_url) -> None:
    limit = stack["gateway"].settings.max_request_bytes
    status, body, closed = await _answer_to_unfinished_body(
        gateway_url,
        {
            "Authorization": "Bearer test-demo-token",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(limit + 1),
        },
    )
    assert status == 413, body
    assert f"{limit:,}" in body["detail"] and "limit" in body["detail"]
    assert closed, "the server kept the connection open for a body it refused"


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
async def test_no_or_invalid_token_is_refused_before_the_body_is_read(gateway_url, authorization) -> None:
    headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(1024**3),
    }
    if authorization:
        headers["Authorization"] = authorization
    status, body, closed = await _answer_to_unfinished_body(gateway_url, headers)
    assert status == 401, body
    assert closed, "the server kept the connection open to read a body it will not use"


async def test_chunked_body_over_the_limit_is_cut_off_and_nothing_is_staged(
    stack, gateway_url, new_tenant, corpus, monkeypatch
) -> None:
    """Sent the way a browser or curl sends: reading the answer while sending (a client that reads only
    once it has sent everything, like httpx, sees the connection reset instead: the server stops reading)."""
    token, client = await new_tenant()
    gateway = stack["gateway"]
    limit = 1024 * 1024
    monkeypatch.setattr(gateway.settings, "max_request_bytes", limit)
    small = (corpus / SMALL_IMAGE).read_bytes()
    total = 64 * limit
    url = urlsplit(gateway_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = {
        "Authorization": f"Bearer {token}",
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Transfer-Encoding": "chunked",
    }
    # a small image first: it must not be staged either when the request is refused
    first = (
        _part_head("files", "first.png") + small + b"\r\n" + _part_head("files", "big.png") + PNG_SIGNATURE
    )
    writer.write(_request_head(gateway_url, head) + b"%x\r\n%s\r\n" % (len(first), first))
    answer = asyncio.ensure_future(_read_answer(reader))
    sent = len(first)
    try:
        chunk = bytes(64 * 1024)
        while not answer.done() and sent < total:
            try:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
            except ConnectionError:
                break  # the server stopped reading and closed
            sent += len(chunk)
        status, body = await asyncio.wait_for(answer, 10)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    assert status == 413, body
    detail = body["detail"]
    assert f"{limit:,}" in detail and "nothing was imported" in detail
    # the server stopped at the limit; what was sent past it filled the sockets' buffers, no more
    assert sent < total / 4, f"{sent:,} of {total:,} bytes were sent before the answer"
    tenant_id = await _tenant_id(client)
    assert await _staged(gateway, tenant_id) == {}
    assert await _originals(gateway, tenant_id) == set()


async def test_a_file_over_the_per_file_limit_is_rejected_and_the_others_go_on(
    stack, new_tenant, corpus, monkeypatch
) -> None:
    _, client = await new_tenant()
    gateway = stack["gateway"]
    monkeypatch.setattr(gateway.settings, "max_upload_bytes", 256 * 1024)
    big = PNG_SIGNATURE + os.urandom(300 * 1024)
    small = (corpus / SMALL_IMAGE).read_bytes()
    response = await client.post(
        "/api/v1/assets",
        params={"wait": "false"},
        files=[("files", ("big.png", big, "image/png")), ("files", ("small.png", small, "image/png"))],
        data={"last_modified": ["1700000000000", "1700000000000"]},
    )
    assert response.status_code == 200, response.text
    big_result, small_result = response.json()
    assert big_result["filename"] == "big.png" and big_result["status"] == "rejected"
    assert "too large" in big_result["reason"] and f"{256 * 1024:,}" in big_result["reason"]
    # staged and queued for the pipeline, which has not said anything yet: not "imported"
    assert small_result["filename"] == "small.png" and small_result["status"] == "queued"
    tenant_id = await _tenant_id(client)
    assert set(await _staged(gateway, tenant_id)) == {hashlib.sha256(small).hexdigest()}
    assert await _originals(gateway, tenant_id) == {hashlib.sha256(small).hexdigest()}


async def test_the_api_document_still_describes_the_multipart_body(api) -> None:
    operation = (await api.get("/openapi.json")).json()["paths"]["/api/v1/assets"]["post"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"files", "last_modified", "folder", "sidecar"} <= set(schema["properties"])
    assert schema["required"] == ["files"]
    assert {"413", "503"} <= set(operation["responses"])


# ---------------------------------------------------------------------------------- clean text
async def test_nul_in_name_folder_and_sidecar_is_removed_and_the_file_imports(
    stack, new_tenant, corpus
) -> None:
    _, client = await new_tenant()
    gateway = stack["gateway"]
    data = (corpus / SMALL_IMAGE).read_bytes()
    sidecar = json.dumps({"creation_date": "2020-01-02T03:04:05Z", "note\u0000": "a\u0000b"})
    assert "\\u0000" in sidecar
    # by hand: httpx would escape the NUL in the file name as %00
    body = (
        _part_head("files", "ni\x00ght.png") + data + b"\r\n"
        + _part_head("folder") + b"renders\x00/x" + b"\r\n"
        + _part_head("sidecar") + sidecar.encode() + b"\r\n"
        + _part_head("last_modified") + b"1700000000000\r\n"
        + f"--{BOUNDARY}--\r\n".encode()
    )  # fmt: skip
    assert b"ni\x00ght.png" in body
    response = await client.post(
        "/api/v1/assets", content=body, headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    )
    assert response.status_code == 200, response.text
    [result] = response.json()
    assert result["filename"] == "night.png"
    assert result["status"] == "imported", result
    asset = (await client.get(f"/api/v1/assets/{result['asset_id']}")).json()
    assert asset["filename"] == "night.png"
    assert (asset["generated_at"], asset["timestamp_source"]) == (
        "2020-01-02T03:04:05+00:00",
        "sidecar:creation_date",
    )
    folder = await gateway.pool.fetchval(
        "SELECT folder FROM ingest.assets WHERE asset_id = $1", uuid.UUID(result["asset_id"])
    )
    assert folder == "renders/x"
    # every original in S3 has its upload record
    tenant_id = await _tenant_id(client)
    assert (
        await _originals(gateway, tenant_id)
        == set(await _staged(gateway, tenant_id))
        == {hashlib.sha256(data).hexdigest()}
    )


# ------------------------------------------------------------------ unreachable dependencies
class TcpProxy:
    """Forwards a local port to `target`; `cut()` closes the port and every open connection, as if
    the server behind it went away."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.handlers: set[asyncio.Task[None]] = set()

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    async def start(self) -> TcpProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self.writers -= {writer, up_writer}
            self.handlers.discard(task)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        if self.handlers:
            await asyncio.wait(list(self.handlers), timeout=5)
        await self.server.wait_closed()


@dataclass
class Isolated:
    runtime: Any
    client: httpx.AsyncClient
    proxy: TcpProxy
    tansu: Any
    tenant_id: uuid.UUID


@contextlib.asynccontextmanager
async def isolated_gateway(tmp_path: Path, **settings: Any) -> AsyncIterator[Isolated]:
    """A gateway over its own fresh database and its own broker, reaching the shared S3 through a proxy."""
    from libs.stack.postgres import start_database
    from libs.stack.tansu import Tansu
    from services.gateway.app import build
    from services.gateway.settings import GatewaySettings

    database = await asyncio.to_thread(start_database, tmp_path / "postgres", "fresh")
    tansu = Tansu(tmp_path / "tansu.log", "free")
    runtime = None
    proxy = None
    try:
        await asyncio.to_thread(tansu.start, "memory://tansu/", {})
        s3_host, s3_port = os.environ["ATELIER_S3_ENDPOINT"].rsplit(":", 1)
        proxy = await TcpProxy(s3_host, int(s3_port)).start()
        runtime = build(
            GatewaySettings(
                database_url=database.url,
                kafka_bootstrap=tansu.bootstrap,
                s3_endpoint=proxy.endpoint,
                demo_token="isolated-token",
                **settings,
            )
        )
        await runtime.start()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=runtime.app),
            base_url="http://isolated",
            headers={"Authorization": "Bearer isolated-token"},
            timeout=60,
        ) as client:
            yield Isolated(runtime, client, proxy, tansu, await _tenant_id(client))
    finally:
        if runtime is not None:
            await asyncio.wait_for(runtime.stop(), 60)
        if proxy is not None and proxy.server is not None and proxy.server.is_serving():
            await proxy.cut()
        await asyncio.to_thread(tansu.stop)
        await asyncio.to_thread(database.stop)


def _png(seed: int) -> bytes:
    """Distinct bytes that pass the gateway's first-bytes check (the pipeline is not running here)."""
    return PNG_SIGNATURE + seed.to_bytes(8, "big") + bytes(1024)


async def test_object_store_down_answers_503_before_reading_and_nothing_is_staged(tmp_path) -> None:
    async with isolated_gateway(tmp_path) as gw:
        first = await gw.client.post(
            "/api/v1/assets", params={"wait": "false"}, files=[("files", ("a.png", _png(1)))]
        )
        assert first.status_code == 200 and first.json()[0]["status"] == "queued", first.text

        await gw.proxy.cut()
        await asyncio.sleep(1.1)  # past the cached dependency check
        response = await gw.client.post(
            "/api/v1/assets", params={"wait": "false"}, files=[("files", ("b.png", _png(2)))]
        )
        assert response.status_code == 503, response.text
        assert "object store" in response.json()["detail"] and "retry" in response.json()["detail"]
        assert int(response.headers["retry-after"]) > 0
        assert set(await _staged(gw.runtime, gw.tenant_id)) == {hashlib.sha256(_png(1)).hexdigest()}


async def test_object_store_failing_mid_request_answers_503(tmp_path) -> None:
    # the dependency check's answer is kept for an hour: only the put itself can find the store gone
    async with isolated_gateway(tmp_path, dependency_check_seconds=3600) as gw:
        first = await gw.client.post(
            "/api/v1/assets", params={"wait": "false"}, files=[("files", ("a.png", _png(1)))]
        )
        assert first.status_code == 200, first.text
        await gw.proxy.cut()
        response = await gw.client.post(
            "/api/v1/assets", params={"wait": "false"}, files=[("files", ("b.png", _png(2)))]
        )
        assert response.status_code == 503, response.text
        assert "object store" in response.json()["detail"]
        assert int(response.headers["retry-after"]) > 0
        assert set(await _staged(gw.runtime, gw.tenant_id)) == {hashlib.sha256(_png(1)).hexdigest()}


async def test_broker_down_answers_503_and_nothing_is_staged(tmp_path) -> None:
    # checked on every upload: the broker's absence is seen by the first one
    async with isolated_gateway(tmp_path, dependency_check_seconds=0) as gw:
        await asyncio.to_thread(gw.tansu.stop)
        response = await gw.client.post(
            "/api/v1/assets", params={"wait": "false"}, files=[("files", ("a.png", _png(1)))]
        )
        assert response.status_code == 503, response.text
        assert "broker" in response.json()["detail"] and "nothing was imported" in response.json()["detail"]
        assert int(response.headers["retry-after"]) > 0
        assert await _staged(gw.runtime, gw.tenant_id) == {}
