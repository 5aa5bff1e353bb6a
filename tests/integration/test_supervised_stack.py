"""`make run` keeps what it started running: the broker and the object store are SIGKILLed under the
real runner (`python -m libs.stack.run`, on free ports, in a state directory of its own), come back on
the same ports, and every upload of the run is imported exactly once afterwards.

Uploads are retried like a real client would: an upload refused while a dependency is down (a 503, a
dropped connection) is sent again until the gateway accepts it. Asset ids come from the bytes, so a
retry never makes a second asset.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.polling import until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
DEMO_TOKEN = "supervised-stack-demo-token"
START_SECONDS = 60.0  # the runner's own health wait is 60 s
COMEBACK_SECONDS = 20.0
UPLOAD_SECONDS = 30.0  # one upload, retried while a dependency is down
IMPORT_SECONDS = 45.0
STOP_SECONDS = 45.0  # the runner's stop takes < 40 s (libs/stack/run.py STOP_TIMEOUT_SECONDS)


class Stack:
    """The runner as a subprocess, in its own process group, its output in a file."""

    def __init__(self, state_dir: Path, output_path: Path) -> None:
        self.state_dir = state_dir
        self.output_path = output_path
        self.process: subprocess.Popen[bytes] | None = None
        self.last_pids: dict[str, int] = {}

    def start(self) -> None:
        # our own ATELIER_* settings only (the session's `infra` fixture may have put its own in
        # os.environ); ATELIER_DATABASE_URL stays, as the choice of PostgreSQL server, as in conftest
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("ATELIER_") or k == "ATELIER_DATABASE_URL"
        }
        env |= {
            "ATELIER_STACK_DIR": str(self.state_dir),
            "ATELIER_STACK_PORTS": "free",
            "ATELIER_STACK_DATABASE": "fresh",
            "ATELIER_DEMO_TOKEN": DEMO_TOKEN,
            # consumers join their group in ~1 s instead of 5 s
            "ATELIER_KAFKA_SESSION_TIMEOUT_MS": "2000",
            "ATELIER_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "ATELIER_KAFKA_PARTITIONS": "4",
            "PYTHONUNBUFFERED": "1",
        }
        # if this test process is killed, the runner gets SIGTERM and stops the stack (Linux only)
        setpriv = shutil.which("setpriv")
        orphan_guard = [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []
        with open(self.output_path, "wb") as output:
            self.process = subprocess.Popen(
                [*orphan_guard, sys.executable, "-m", "libs.stack.run"],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def notes(self) -> list[str]:
        """The runner's own lines (not the services')."""
        return [line for line in self.output().splitlines() if line.startswith("[atelier")]

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def info(self) -> dict[str, object] | None:
        """stack.json, or None before the runner writes it."""
        try:
            document = json.loads((self.state_dir / "stack.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        self.last_pids |= document["pids"]
        return document

    def pids(self) -> dict[str, int]:
        info = self.info()
        return {} if info is None else dict(info["pids"])  # type: ignore[call-overload]

    def assert_running(self) -> None:
        assert self.process is not None and self.process.poll() is None, (
            f"the runner exited with code {self.process and self.process.poll()}\n{self.tail()}"
        )

    def stop(self) -> None:
        """SIGTERM the runner's group, wait for its orderly stop, then SIGKILL whatever it left."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        # every child is the leader of its own process group (libs/stack/processes.py)
        for pid in self.last_pids.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)


def png(label: str) -> bytes:
    """A small PNG whose bytes differ with `label` (so each file is a distinct asset)."""
    digest = uuid.uuid5(uuid.NAMESPACE_URL, label).bytes
    image = Image.new("RGB", (16, 16), tuple(digest[:3]))
    image.putpixel((0, 0), tuple(digest[3:6]))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def port_answers(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port))) == 0


async def upload(client: httpx.AsyncClient, stack: Stack, names: list[str]) -> list[str]:
    """POST the files until the gateway accepts them; returns the names it accepted.

    Refusals a client retries: 502/503/504 (a dependency is down) and dropped connections. Anything
    else (a 500, a 4xx) is a bug, and fails at once.
    """
    deadline = time.monotonic() + UPLOAD_SECONDS
    refusals: list[str] = []
    while True:
        stack.assert_running()
        try:
            response = await client.post(
                "/api/v1/assets",
                params={"wait": "false"},
                files=[("files", (name, png(name), "image/png")) for name in names],
            )
        except httpx.TransportError as exc:
            refusals.append(type(exc).__name__)
        else:
            if response.status_code not in (502, 503, 504):
                assert response.status_code == 200, f"{response.status_code} {response.text}\n{stack.tail()}"
                results = response.json()
                assert [r["filename"] for r in results] == names
                # accepted: queued (or imported) for the pipeline, or "duplicate" when an earlier try
                # was staged although its answer did not reach us; never refused as a file
                assert not [r for r in results if r["status"] == "rejected"], results
                return names
            refusals.append(f"{response.status_code} {response.text[:200]}")
        if time.monotonic() > deadline:
            pytest.fail(
                f"upload never accepted in {UPLOAD_SECONDS:.0f} s; refusals: {refusals}\n{stack.tail()}"
            )
        await asyncio.sleep(0.3)


async def kill_and_see_back(stack: Stack, name: str, address: str) -> None:
    """SIGKILL one infrastructure process and wait for the runner to have started it again, answering."""
    old_pid = stack.pids()[name]
    os.kill(old_pid, signal.SIGKILL)

    async def back() -> bool:
        stack.assert_running()
        new_pid = stack.pids().get(name)
        return new_pid not in (None, old_pid) and f"[atelier   ] {name} is back" in stack.notes()

    assert await until(back, within=COMEBACK_SECONDS, every=0.2), (
        f"{name} (pid {old_pid}) did not come back\n{stack.tail()}"
    )
    assert f"[atelier   ] {name} exited unexpectedly with code -9; restarting in 1 s" in stack.notes()
    assert port_answers(address), f"{name} is back, but not on its port {address}"


async def test_broker_and_object_store_come_back_and_every_upload_lands_once(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "stack", tmp_path / "runner-output.txt")
    stack.start()
    try:

        async def started() -> bool:
            stack.assert_running()
            return (stack.state_dir / "run.ready").exists()

        assert await until(started, within=START_SECONDS, every=0.2), f"no run.ready\n{stack.tail()}"
        assert (stack.state_dir / "run.ready").read_text().strip() == "healthy", stack.tail()
        info = stack.info()
        assert info is not None
        service_ports: dict[str, int] = info["service_ports"]  # type: ignore[assignment]
        kafka, s3 = str(info["kafka_bootstrap"]), str(info["s3_endpoint"])
        assert {"tansu", "seaweedfs", "gateway", "ingest"} <= set(stack.pids())

        # this run's internal token: private to its owner, handed to the services
        token_file = stack.state_dir / "internal_token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        internal_token = token_file.read_text().strip()
        assert len(internal_token) >= 40
        assert internal_token not in stack.output()  # the banner names the file, never the value
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service_ports['ingest']}") as ingest:
            folders = "/internal/v1/folders"
            params = {"tenant_id": str(uuid.uuid4())}
            assert (await ingest.get(folders, params=params)).status_code == 401
            with_token = {"X-Atelier-Internal-Token": internal_token}
            assert (await ingest.get(folders, params=params, headers=with_token)).status_code == 200

        accepted: list[str] = []
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{service_ports['gateway']}",
            headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
            timeout=20.0,
        ) as client:
            # the gateway reaches ingest's internal API with the same token
            assert (await client.get("/api/v1/folders")).status_code == 200

            def batch(label: str) -> list[str]:
                return [f"{label}-{i:02d}.png" for i in range(4)]

            accepted += await upload(client, stack, batch("before"))
            for name, address in (("tansu", kafka), ("seaweedfs", s3)):
                # an upload sent right after the kill meets the part down: retried until accepted
                comeback = asyncio.create_task(kill_and_see_back(stack, name, address))
                await asyncio.sleep(0)  # the kill is the task's first, synchronous step
                accepted += await upload(client, stack, batch(f"{name}-down"))
                await comeback
                accepted += await upload(client, stack, batch(f"{name}-back"))

            async def listed() -> list[str]:
                stack.assert_running()
                response = await client.get("/api/v1/assets", params={"limit": 500})
                response.raise_for_status()
                names = [asset["filename"] for asset in response.json()]
                return names if set(names) >= set(accepted) else []

            names = await until(listed, within=IMPORT_SECONDS, every=0.3)
            missing = sorted(set(accepted) - set(names))
            assert not missing, f"never imported: {missing}\n{stack.tail()}"
            duplicates = {name: n for name, n in collections.Counter(names).items() if n > 1}
            assert not duplicates, f"imported more than once: {duplicates}"
            assert sorted(names) == sorted(accepted)  # and nothing that was not uploaded

        # no service was left for dead on the way
        assert not [line for line in stack.notes() if "not restarting it again" in line], stack.tail()
    finally:
        stack.stop()
    assert stack.process is not None and stack.process.returncode == 0, stack.tail()
    assert not (stack.state_dir / "internal_token").exists()
