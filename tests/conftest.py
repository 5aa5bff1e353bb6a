"""Shared fixtures. Integration tests run against a real Tansu broker, SeaweedFS and
PostgreSQL started once per test session on free ports, with a fresh database."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "real"


@pytest.fixture(scope="session")
def corpus() -> Path:
    assert CORPUS.is_dir(), f"the shared corpus is missing at {CORPUS}"
    return CORPUS


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from libs.stack.infra import LocalInfra

    local = LocalInfra(
        tmp_path_factory.mktemp("infra"), ports="free", kafka_storage="memory", database="fresh"
    )
    started = local.start()
    saved = dict(os.environ)
    os.environ.update(started.env())
    # consumers join their group in ~1 s instead of 5 s (Tansu holds a join for session_timeout/2)
    os.environ["ATELIER_KAFKA_SESSION_TIMEOUT_MS"] = "2000"
    os.environ["ATELIER_KAFKA_HEARTBEAT_INTERVAL_MS"] = "500"
    os.environ["ATELIER_KAFKA_PARTITIONS"] = "4"
    # internal routes always ask for the service token, as under `make run`
    os.environ["ATELIER_INTERNAL_TOKEN"] = "test-internal-token"
    # connected folders may be registered under this root only; tests make their folders in it
    os.environ["ATELIER_FOLDER_ROOTS"] = str(tmp_path_factory.mktemp("connected-folders"))
    os.environ["ATELIER_FOLDER_RETRY_SECONDS"] = "0.5"
    try:
        yield started
    finally:
        os.environ.clear()
        os.environ.update(saved)
        local.stop()


@pytest.fixture(scope="session")
async def stack(infra: object) -> AsyncIterator[dict[str, object]]:
    """The five services running in this process over the real infrastructure."""
    import asyncio
    import socket

    import uvicorn

    from services.clustering.app import build as build_clustering
    from services.credits.app import build as build_credits
    from services.gateway.app import build as build_gateway
    from services.gateway.settings import GatewaySettings
    from services.ingest.app import build as build_ingest
    from services.reflection.app import build as build_reflection

    # the gateway reaches ingest's internal API (connected folders) over real HTTP, as in production
    ingest_socket = socket.socket()
    ingest_socket.bind(("127.0.0.1", 0))
    ingest_socket.listen()  # connections wait in the backlog until uvicorn accepts them: no start-up race
    ingest_url = f"http://127.0.0.1:{ingest_socket.getsockname()[1]}"
    # ... and clustering's (session splits, merges, the tenant's gap) the same way
    clustering_socket = socket.socket()
    clustering_socket.bind(("127.0.0.1", 0))
    clustering_socket.listen()
    clustering_url = f"http://127.0.0.1:{clustering_socket.getsockname()[1]}"
    # ... and credits' (balances, history, purchases)
    credits_socket = socket.socket()
    credits_socket.bind(("127.0.0.1", 0))
    credits_socket.listen()
    credits_url = f"http://127.0.0.1:{credits_socket.getsockname()[1]}"
    # ... and reflection's (quotes, reflections)
    reflection_socket = socket.socket()
    reflection_socket.bind(("127.0.0.1", 0))
    reflection_socket.listen()
    reflection_url = f"http://127.0.0.1:{reflection_socket.getsockname()[1]}"
    runtimes = {
        "ingest": build_ingest(),
        "clustering": build_clustering(),
        "credits": build_credits(),
        "reflection": build_reflection(),
        "gateway": build_gateway(
            GatewaySettings(
                demo_token="test-demo-token",
                ingest_url=ingest_url,
                clustering_url=clustering_url,
                credits_url=credits_url,
                reflection_url=reflection_url,
            )
        ),
    }
    started = []
    servers: list[tuple[uvicorn.Server, asyncio.Task[None], socket.socket]] = []
    try:
        for runtime in runtimes.values():
            await runtime.start()
            started.append(runtime)
        # the runtimes are started above: serve their routes without a second lifespan
        for name, sock in (
            ("ingest", ingest_socket),
            ("clustering", clustering_socket),
            ("credits", credits_socket),
            ("reflection", reflection_socket),
        ):
            server = uvicorn.Server(uvicorn.Config(runtimes[name].app, lifespan="off", log_config=None))
            servers.append((server, asyncio.create_task(server.serve(sockets=[sock])), sock))
        yield runtimes
    finally:
        for server, task, _ in servers:
            server.should_exit = True
            await task
        for sock in (ingest_socket, clustering_socket, credits_socket, reflection_socket):
            sock.close()
        for runtime in reversed(started):
            await runtime.stop()


@pytest.fixture(scope="session")
def folder_root(infra: object) -> Path:
    """The one allowed root for connected folders in this test session (ATELIER_FOLDER_ROOTS)."""
    return Path(os.environ["ATELIER_FOLDER_ROOTS"])


@pytest.fixture(scope="session")
async def api(stack: dict[str, object]) -> AsyncIterator[object]:
    """An HTTP client for the gateway app (ASGI in-process), signed in as the demo tenant."""
    import httpx

    gateway = stack["gateway"]
    transport = httpx.ASGITransport(app=gateway.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://gateway",
        headers={"Authorization": "Bearer test-demo-token"},
        timeout=60,
    ) as client:
        yield client


@pytest.fixture(scope="session")
async def gateway_url(stack: dict[str, object]) -> AsyncIterator[str]:
    """The gateway served over real HTTP on a free port (for CLIs and the browser)."""
    import asyncio
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gateway = stack["gateway"]
    # the runtime is already started by `stack`: serve its routes without a second lifespan
    config = uvicorn.Config(gateway.app, host="127.0.0.1", port=port, lifespan="off", log_config=None)  # type: ignore[attr-defined]
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    # uvicorn offers a flag, not an event, for "listening"
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def new_tenant(stack: dict[str, object]):  # type: ignore[no-untyped-def]
    """Make a fresh tenant: `token, client = await new_tenant(time_zone="Europe/Paris")`.
    Tests that count things use their own tenant, so they never see each other's data."""
    import uuid

    import httpx

    from services.gateway.auth import ensure_tenant

    gateway = stack["gateway"]
    clients: list[httpx.AsyncClient] = []

    async def make(time_zone: str = "UTC") -> tuple[str, httpx.AsyncClient]:
        token = f"tok-{uuid.uuid4().hex}"
        await ensure_tenant(gateway.pool, f"tenant-{uuid.uuid4().hex[:12]}", token, time_zone)  # type: ignore[attr-defined]
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway.app),
            base_url="http://gateway",  # type: ignore[attr-defined]
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        clients.append(client)
        return token, client

    yield make
    for client in clients:
        await client.aclose()
