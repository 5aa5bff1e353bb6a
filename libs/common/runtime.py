"""The shape every service shares: settings, a pool, migrations, the broker, the outbox
relay, an object store, and an HTTP app with `/healthz` and `/metrics`.

A service builds a `ServiceRuntime`, registers its consumers with `consume(...)`,
adds its own routes to `runtime.app`, and runs `serve(runtime)`. Start-up order:
migrations, topics, buckets, producer, outbox relay, then subscribers, so a service
never consumes before it can write and publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from libs.common.broker import ensure_topics, make_broker, make_producer
from libs.common.db import create_pool, migrate
from libs.common.failures import dependency_failure_types, unavailable_dependency
from libs.common.logging import configure_logging
from libs.common.metrics import DEPENDENCY_UP, SERVICE_UP, MetricsServer, add_metrics_route
from libs.common.outbox import OutboxRelay
from libs.common.settings import CommonSettings
from libs.common.storage import ObjectStore
from libs.common.text import printable_json

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

    from libs.common.consumer import EventConsumer, Handler, PoisonHook

log = logging.getLogger(__name__)


class ServiceRuntime:
    def __init__(
        self,
        settings: CommonSettings,
        *,
        schema: str,
        migrations_dir: Path,
        uses_store: bool = False,
        title: str | None = None,
    ) -> None:
        self.settings = settings
        self.schema = schema
        self.migrations_dir = migrations_dir
        # FastStream is loaded only by services that consume (the gateway does not: ~9 MB less RSS)
        self.broker: KafkaBroker | None = None
        self.store = ObjectStore(settings) if uses_store else None
        self._pool: asyncpg.Pool | None = None
        self._producer: AIOKafkaProducer | None = None
        self._relay: OutboxRelay | None = None
        self._consumer_specs: list[tuple[str, str, Handler, int, PoisonHook | None]] = []
        self.consumers: list[EventConsumer] = []
        self._on_start: list[Callable[[], Awaitable[None]]] = []
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        self.started = asyncio.Event()
        self.app = FastAPI(title=title or settings.service_name, lifespan=self._lifespan)
        add_metrics_route(self.app, settings.service_name, on_own_port=settings.metrics_port is not None)
        self._metrics_server = (
            MetricsServer(settings.http_host, settings.metrics_port) if settings.metrics_port else None
        )
        self.app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
        for failure in dependency_failure_types():
            self.app.add_exception_handler(failure, _unavailable)
        self.app.get("/healthz", include_in_schema=False)(self.healthz)
        self.app.get("/livez", include_in_schema=False)(self.livez)

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "service not started"
        return self._pool

    @property
    def producer(self) -> AIOKafkaProducer:
        assert self._producer is not None, "service not started"
        return self._producer

    def consume(
        self,
        topic: str,
        group_id: str,
        handler: Handler,
        *,
        max_records: int = 500,
        on_poison: PoisonHook | None = None,
    ) -> None:
        """Register a batch consumer; it starts with the service. `on_poison` records why an event that
        fails on every attempt was set aside (see libs/common/consumer.py)."""
        self._consumer_specs.append((topic, group_id, handler, max_records, on_poison))

    def on_start(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` once the service can reach its database, broker and store."""
        self._on_start.append(hook)

    def on_stop(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` first when the service stops, while the database, broker and store are still there."""
        self._on_stop.append(hook)

    async def start(self) -> None:
        s = self.settings
        if self._metrics_server:
            self._metrics_server.start()
        self._pool = await create_pool(s.database_url, max_size=s.database_pool_size)
        await migrate(self._pool, self.schema, self.migrations_dir)
        await ensure_topics(s)
        if self.store:
            await self.store.ensure_buckets()
        self._producer = make_producer(s)
        await self._producer.start()
        self._relay = OutboxRelay(self._pool, self._producer, self.schema)
        await self._relay.start()
        if self._consumer_specs:
            from libs.common.consumer import EventConsumer

            self.broker = make_broker(s)
        for topic, group_id, handler, max_records, on_poison in self._consumer_specs:
            assert self.broker is not None
            self.consumers.append(
                EventConsumer(
                    broker=self.broker,
                    pool=self._pool,
                    producer=self._producer,
                    schema=self.schema,
                    topic=topic,
                    group_id=group_id,
                    handler=handler,
                    on_poison=on_poison,
                    max_records=max_records,
                    session_timeout_ms=s.kafka_session_timeout_ms,
                    heartbeat_interval_ms=s.kafka_heartbeat_interval_ms,
                    stuck_after_seconds=s.consumer_stuck_seconds,
                    retry_pause_seconds=s.consumer_retry_pause_seconds,
                )
            )
        if self.broker is not None:
            await self.broker.start()
        for hook in self._on_start:
            await hook()
        SERVICE_UP.labels(s.service_name).set(1)
        self.started.set()
        log.info("service started", extra={"service": s.service_name, "port": s.http_port})

    async def stop(self) -> None:
        SERVICE_UP.labels(self.settings.service_name).set(0)
        # from here the batch each consumer has in hand is its last (stop hooks may drain brokers too)
        for consumer in self.consumers:
            consumer.stopping = True
        for hook in reversed(self._on_stop):
            try:
                await hook()
            except Exception:
                log.exception("stop hook failed", extra={"service": self.settings.service_name})
        if self.broker is not None:
            # waits up to shutdown_grace_seconds for the batches in hand, then cancels them
            with contextlib.suppress(Exception):
                await self.broker.stop()
        if self._relay:
            await self._relay.stop()
        if self._producer:
            await self._producer.stop()
        if self._pool:
            await self._pool.close()
        if self._metrics_server:
            self._metrics_server.stop()
        log.info("service stopped", extra={"service": self.settings.service_name})

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def check_dependencies(self) -> dict[str, str]:
        """Reach each dependency once; the value is "ok" or why not."""
        checks: dict[str, str] = {}

        async def probe(name: str, coro: object) -> None:
            try:
                await asyncio.wait_for(coro, 2.0)  # type: ignore[arg-type]
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"{type(exc).__name__}: {exc}"[:200]

        probes = [probe("database", self.pool.fetchval("SELECT 1")),
                  probe("broker", self.producer.client.fetch_all_metadata())]  # fmt: skip
        if self.store:
            probes.append(probe("object_store", self.store.ping()))
        await asyncio.gather(*probes)
        # a consumer that fails or hangs on the same batch holds up its partitions: not ready
        for consumer in self.consumers:
            checks[f"consumer {consumer.group_id}/{consumer.topic}"] = consumer.stuck_reason() or "ok"
        return dict(sorted(checks.items()))

    async def healthz(self) -> JSONResponse:
        """Readiness: 200 once the service reaches every dependency it uses and its consumers make progress."""
        if not self.started.is_set():
            return JSONResponse({"status": "starting"}, status_code=503)
        checks = await self.check_dependencies()
        for name, result in checks.items():
            DEPENDENCY_UP.labels(self.settings.service_name, name).set(1 if result == "ok" else 0)
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503
        )

    async def livez(self) -> JSONResponse:
        """Liveness: the process answers. A broker blip must not get every pod restarted."""
        return JSONResponse({"status": "alive"})


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, written so that it can always be written: it echoes the offending input, and a JSON
    body may carry a lone surrogate ("\\ud800"), which UTF-8 cannot encode, or NaN/Infinity, which strict
    JSON cannot write. FastAPI's own handler answered such a body with a 500."""
    return JSONResponse({"detail": printable_json(jsonable_encoder(exc.errors()))}, status_code=422)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A request that failed because a dependency is away says so (503, retry later), never a bare 500;
    any other failure is a bug and stays a 500."""
    dependency = unavailable_dependency(exc)
    if dependency is None:
        raise exc
    log.warning(
        "request failed on an unavailable dependency",
        extra={"dependency": dependency, "error": repr(exc)[:300]},
    )
    return JSONResponse(
        {"detail": f"{dependency} is unavailable; nothing was changed, retry later"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas before any thread starts. Work handed to threads (hashing and spooling
    uploads, S3 puts, image decoding) would otherwise get an arena per thread, up to 8 per core, each
    keeping the memory it freed: measured with bench/bench_upload.py, a 1 GiB upload peaked ~10 MB lower
    with 2 arenas, at the same speed. The same as MALLOC_ARENA_MAX=2, set where every service starts."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):  # not glibc: nothing to cap
        pass


def serve(runtime: ServiceRuntime) -> None:
    s = runtime.settings
    limit_malloc_arenas()
    configure_logging(s.service_name, s.log_level, s.log_json)
    uvicorn.run(runtime.app, host=s.http_host, port=s.http_port, log_config=None, access_log=False)
