"""LocalInfra: the broker, object store and database Atelier needs, started on this machine.

    with LocalInfra(tmp_path) as infra:          # free ports, in-memory Kafka, a fresh database
        os.environ.update(infra.env())

Used by `make run` (libs/stack/run.py), the integration-test fixtures and the benchmarks.
"""

from __future__ import annotations

import atexit
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, TypeVar

from libs.stack.postgres import EmbeddedServerProcess, PostgresDatabase, start_database
from libs.stack.processes import StartupError, require_free_port
from libs.stack.seaweedfs import S3_REGION, SeaweedFS, SeaweedPorts
from libs.stack.supervise import Part
from libs.stack.tansu import FIXED_KAFKA_PORT, Tansu

log = logging.getLogger(__name__)
T = TypeVar("T")

TANSU_BUCKET = "tansu"
# In "free" mode another program can take a port between our choosing it and
# the child binding it; a second try with new ports gets past that.
FREE_PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class Infra:
    """Where the running infrastructure is: everything a service needs to connect."""

    database_url: str  # asyncpg-compatible; unix-socket form for the embedded server
    kafka_bootstrap: str  # "127.0.0.1:PORT"
    s3_endpoint: str  # "127.0.0.1:PORT", no scheme
    s3_access_key: str
    s3_secret_key: str
    s3_region: str
    startup_seconds: dict[str, float] = field(default_factory=dict, compare=False)

    def env(self) -> dict[str, str]:
        """The ATELIER_* settings the services read."""
        return {
            "ATELIER_DATABASE_URL": self.database_url,
            "ATELIER_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "ATELIER_S3_ENDPOINT": self.s3_endpoint,
            "ATELIER_S3_ACCESS_KEY": self.s3_access_key,
            "ATELIER_S3_SECRET_KEY": self.s3_secret_key,
            "ATELIER_S3_REGION": self.s3_region,
            "ATELIER_S3_SECURE": "false",
        }


class LocalInfra:
    """Starts SeaweedFS, Tansu and PostgreSQL; `stop()` undoes whatever `start()` got done, in reverse.

    ports:          "free" picks unused ports (parallel test runs do not collide);
                    "fixed" uses Kafka 9092 and S3 8333 and fails fast if they are taken.
    kafka_storage:  "memory" loses events on stop; "s3" keeps them in the SeaweedFS bucket "tansu".
    database:       "fresh" creates atelier_test_<hex> and drops it on stop; "shared" uses "atelier".
    log_to:         directory for the log files (default state_dir/logs).
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        ports: Literal["fixed", "free"] = "free",
        kafka_storage: Literal["memory", "s3"] = "memory",
        database: Literal["shared", "fresh"] = "fresh",
        log_to: Path | None = None,
    ) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.ports = ports
        self.kafka_storage = kafka_storage
        self.database = database
        self.log_dir = Path(log_to).absolute() if log_to is not None else self.state_dir / "logs"
        self.infra: Infra | None = None
        self._seaweedfs: SeaweedFS | None = None
        self._tansu: Tansu | None = None
        self._postgres: PostgresDatabase | None = None

    def __enter__(self) -> Infra:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Infra:
        if self.infra is not None:
            return self.infra
        if self.ports == "fixed":
            # before anything starts, so a second `make run` fails at once and touches nothing
            require_free_port(FIXED_KAFKA_PORT, "Kafka / Tansu")
            SeaweedPorts.fixed().require_free()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # an interpreter that exits without stop() still drops the fresh database
        atexit.register(self.stop)
        timings: dict[str, float] = {}
        try:
            began = time.monotonic()
            self._postgres = start_database(self.state_dir / "postgres", self.database)
            timings[f"postgres ({self._postgres.server_kind})"] = time.monotonic() - began

            began = time.monotonic()
            self._seaweedfs = self._with_port_retries(self._start_seaweedfs)
            timings["seaweedfs"] = time.monotonic() - began

            began = time.monotonic()
            self._tansu = self._with_port_retries(self._start_tansu)
            timings[f"tansu ({self.kafka_storage})"] = time.monotonic() - began
        except BaseException:
            self.stop()
            raise
        credentials = self._seaweedfs.credentials
        self.infra = Infra(
            database_url=self._postgres.url,
            kafka_bootstrap=self._tansu.bootstrap,
            s3_endpoint=self._seaweedfs.endpoint,
            s3_access_key=credentials.access_key,
            s3_secret_key=credentials.secret_key,
            s3_region=S3_REGION,
            startup_seconds=timings,
        )
        log.info("local infrastructure ready: %s", {k: round(v, 2) for k, v in timings.items()})
        return self.infra

    def stop(self) -> None:
        """Tear down in reverse start order; safe after a partial start and when called twice."""
        atexit.unregister(self.stop)
        errors: list[BaseException] = []
        for part in (self._tansu, self._seaweedfs, self._postgres):
            if part is None:
                continue
            try:
                part.stop()
            except Exception as exc:  # keep stopping the rest, report afterwards
                errors.append(exc)
        self._tansu = self._seaweedfs = self._postgres = None
        self.infra = None
        if errors:
            raise errors[0]

    @property
    def database_name(self) -> str | None:
        return None if self._postgres is None else self._postgres.name

    @property
    def server_database_url(self) -> str | None:
        """The server's maintenance database (for CREATE/DROP DATABASE or checks across databases)."""
        return None if self._postgres is None else self._postgres.server_url

    @property
    def child_pids(self) -> dict[str, int]:
        """Pids of the broker and S3 server we run (PostgreSQL is shared or daemonized, so not ours to list)."""
        pids: dict[str, int] = {}
        for name, part in (("seaweedfs", self._seaweedfs), ("tansu", self._tansu)):
            if part is not None and part.process is not None:
                pids[name] = part.process.pid
        return pids

    def supervised_parts(self) -> list[Part]:
        """Our processes that `make run` restarts when they die, in start order.

        PostgreSQL only when it is the embedded server we started: a shared server (127.0.0.1:5432,
        ATELIER_DATABASE_URL) is someone else's to look after. Each part restarts on its ports and
        storage, so its clients reconnect to the same address. Tansu needs nothing when SeaweedFS
        restarts under it: with S3 storage its requests fail meanwhile, then work again.
        """
        assert self._postgres is not None and self._seaweedfs is not None and self._tansu is not None
        parts: list[Part] = []
        if self._postgres.embedded_server is not None:
            parts.append(EmbeddedServerProcess(self._postgres.embedded_server))
        return [*parts, self._seaweedfs, self._tansu]

    def _start_seaweedfs(self) -> SeaweedFS:
        seaweedfs = SeaweedFS(self.state_dir / "seaweedfs", self.log_dir / "seaweedfs.log", self.ports)
        try:
            seaweedfs.start()
            if self.kafka_storage == "s3":
                seaweedfs.ensure_bucket(TANSU_BUCKET)
        except BaseException:
            seaweedfs.stop()
            raise
        return seaweedfs

    def _start_tansu(self) -> Tansu:
        assert self._seaweedfs is not None
        if self.kafka_storage == "memory":
            engine, storage_env = "memory://tansu/", {}
        else:
            engine = f"s3://{TANSU_BUCKET}/"
            storage_env = {
                "AWS_ACCESS_KEY_ID": self._seaweedfs.credentials.access_key,
                "AWS_SECRET_ACCESS_KEY": self._seaweedfs.credentials.secret_key,
                "AWS_DEFAULT_REGION": S3_REGION,
                "AWS_ENDPOINT": f"http://{self._seaweedfs.endpoint}",
                "AWS_ALLOW_HTTP": "true",
            }
        tansu = Tansu(self.log_dir / "tansu.log", self.ports)
        try:
            tansu.start(engine, storage_env)
        except BaseException:
            tansu.stop()
            raise
        return tansu

    def _with_port_retries(self, start: Callable[[], T]) -> T:
        attempts = FREE_PORT_ATTEMPTS if self.ports == "free" else 1
        for attempt in range(1, attempts + 1):
            try:
                return start()
            except StartupError as exc:
                if attempt == attempts or "address already in use" not in str(exc).lower():
                    raise
                log.warning("a chosen port was taken meanwhile; retrying with new ports (%s)", exc)
        raise AssertionError("unreachable")
