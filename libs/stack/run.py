"""`make run` / `make stop`: the whole of Atelier on this machine.

    uv run python -m libs.stack.run                 # foreground; Ctrl-C stops everything
    uv run python -m libs.stack.run --background    # detached; returns once the gateway is healthy
    uv run python -m libs.stack.run stop            # stops a running stack (foreground or background)

Starts LocalInfra (fixed ports, Kafka events kept in S3, the shared "atelier"
database) with state under .atelier/, then each service as `python -m services.<name>`,
re-printing their output with a prefix and restarting any that exits.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from libs.stack.infra import Infra, LocalInfra
from libs.stack.processes import ManagedProcess, PortInUseError, StartupError

STATE_DIR = Path(".atelier")
LOG_DIR = STATE_DIR / "logs"
PID_FILE = STATE_DIR / "run.pid"
# written by the runner once start-up is over; `--background` waits for it
READY_FILE = STATE_DIR / "run.ready"
BACKGROUND_LOG = LOG_DIR / "run.log"

# start order; the gateway first so its demo-token line is near the top of the output
SERVICE_PORTS = {"gateway": 8000, "ingest": 8001, "clustering": 8002, "credits": 8003, "reflection": 8004}
GATEWAY_URL = f"http://127.0.0.1:{SERVICE_PORTS['gateway']}"
HEALTH_TIMEOUT_SECONDS = 60.0
# with the services' 5 s grace each, stopped in parallel, plus infra: well under this
STOP_TIMEOUT_SECONDS = 40.0

MAX_RESTARTS_PER_MINUTE = 5
RESTART_WINDOW_SECONDS = 60.0

COLOURS = ["\033[36m", "\033[33m", "\033[35m", "\033[32m", "\033[34m"]
RESET = "\033[0m"


class Console:
    """Prints whole lines from several threads without interleaving them."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.use_colour = stream.isatty()
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def prefixed(self, prefix: str, colour: str, text: str) -> None:
        tag = f"[{prefix:<10}]"
        self.line(f"{colour}{tag}{RESET} {text}" if self.use_colour else f"{tag} {text}")

    def note(self, text: str) -> None:
        self.prefixed("atelier", "\033[1m", text)


@dataclass
class SupervisedService:
    """One service process, restarted with backoff when it exits on its own."""

    name: str
    port: int
    colour: str
    process: ManagedProcess | None = None
    restart_times: collections.deque[float] = field(default_factory=collections.deque)
    restart_at: float | None = None  # set while waiting out the backoff
    given_up: bool = False

    def start(self, env: dict[str, str], console: Console) -> None:
        self.process = ManagedProcess(
            self.name, [sys.executable, "-m", f"services.{self.name}"], env=env, log_path=None
        )
        self.process.start()
        threading.Thread(
            target=self._copy_output,
            args=(self.process.stdout, console),
            name=f"{self.name}-output",
            daemon=True,
        ).start()

    def _copy_output(self, stream: IO[bytes], console: Console) -> None:
        for raw in stream:
            console.prefixed(self.name, self.colour, raw.decode(errors="replace").rstrip("\n"))

    def supervise(self, env: dict[str, str], console: Console, now: float) -> None:
        """Called every tick: notice an exit, wait out the backoff, restart, or give up."""
        if self.process is None or self.given_up or self.process.is_running():
            return
        if self.restart_at is None:
            code = self.process.exit_code()
            while self.restart_times and now - self.restart_times[0] > RESTART_WINDOW_SECONDS:
                self.restart_times.popleft()
            if len(self.restart_times) >= MAX_RESTARTS_PER_MINUTE:
                self.given_up = True
                console.note(
                    f"{self.name} exited with code {code} after {MAX_RESTARTS_PER_MINUTE} restarts within a "
                    f"minute; not restarting it again (the other services keep running)"
                )
                return
            delay = 2.0 ** len(self.restart_times)  # 1, 2, 4, 8, 16 s
            self.restart_at = now + delay
            console.note(f"{self.name} exited unexpectedly with code {code}; restarting in {delay:.0f} s")
        elif now >= self.restart_at:
            self.restart_at = None
            self.restart_times.append(now)
            self.start(env, console)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class Runner:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.stop_requested = threading.Event()
        self.services: list[SupervisedService] = []

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested.set()

    def run(self) -> int:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        local_infra = LocalInfra(
            STATE_DIR, ports="fixed", kafka_storage="s3", database="shared", log_to=LOG_DIR
        )
        try:
            self.console.note("starting PostgreSQL, SeaweedFS (S3) and Tansu (Kafka)...")
            infra = local_infra.start()
            timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in infra.startup_seconds.items())
            self.console.note(f"infrastructure ready: {timings}")
            if self.stop_requested.is_set():  # Ctrl-C while the infrastructure was starting
                return 0
            self.start_services(infra)
            healthy = self.wait_until_healthy(infra)
            self.console.line(banner(infra, self.services, healthy))
            READY_FILE.write_text("healthy\n" if healthy else "unhealthy\n")
            while not self.stop_requested.wait(0.5):
                now = time.monotonic()
                for service in self.services:
                    service.supervise(self.service_env(infra, service), self.console, now)
        except (PortInUseError, StartupError) as exc:  # the message says it all
            self.console.note(f"failed: {exc}")
            READY_FILE.write_text("failed\n")
            return 1
        except Exception:
            self.console.note("failed:\n" + traceback.format_exc())
            READY_FILE.write_text("failed\n")
            return 1
        finally:
            self.console.note("stopping...")
            self.stop_services()
            local_infra.stop()
            self.console.note("stopped")
        return 0

    def service_env(self, infra: Infra, service: SupervisedService) -> dict[str, str]:
        # ATELIER_DEMO_TOKEN, if set, passes through with the rest of our environment
        return {
            **os.environ,
            **infra.env(),
            "ATELIER_HTTP_PORT": str(service.port),
            "PYTHONUNBUFFERED": "1",  # lines reach us as they are printed
        }

    def start_services(self, infra: Infra) -> None:
        for index, (name, port) in enumerate(SERVICE_PORTS.items()):
            if not Path("services", name, "__main__.py").exists():
                self.console.note(f"warning: services/{name}/__main__.py does not exist yet; skipping {name}")
                continue
            service = SupervisedService(name, port, COLOURS[index % len(COLOURS)])
            service.start(self.service_env(infra, service), self.console)
            self.services.append(service)

    def wait_until_healthy(self, infra: Infra) -> bool:
        """Wait for every started service's /healthz (the gateway's above all), restarting crashed ones meanwhile.

        Healthy means the gateway and all the others answered 200 within the timeout.
        """
        if not any(service.name == "gateway" for service in self.services):
            return False
        waiting_for = {service.name: service for service in self.services}
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
        while waiting_for and time.monotonic() < deadline and not self.stop_requested.is_set():
            for name, service in list(waiting_for.items()):
                service.supervise(self.service_env(infra, service), self.console, time.monotonic())
                if http_ok(f"http://127.0.0.1:{service.port}/healthz"):
                    del waiting_for[name]
            if waiting_for:
                time.sleep(0.5)
        if waiting_for and not self.stop_requested.is_set():
            self.console.note(
                f"warning: no 200 from /healthz of {', '.join(waiting_for)} within {HEALTH_TIMEOUT_SECONDS:.0f} s"
            )
        return not waiting_for

    def stop_services(self) -> None:
        # all at once, so each one's grace period runs in parallel
        threads = [threading.Thread(target=service.stop) for service in self.services]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def banner(infra: Infra, services: list[SupervisedService], healthy: bool) -> str:
    started = {service.name for service in services}
    status = (
        "Atelier is running."
        if healthy
        else "Atelier started, but the gateway is not healthy (see its output)."
    )
    lines = [
        "",
        "=" * 78,
        f"  {status}",
        "",
        f"  Web UI        {GATEWAY_URL}/",
        f"  API           {GATEWAY_URL}/  (OpenAPI docs: {GATEWAY_URL}/docs)",
        "  Demo token    printed by the gateway above (its line mentions the token)",
        "",
        "  Metrics:",
    ]
    for name, port in SERVICE_PORTS.items():
        note = "" if name in started else f"  (not started: no services/{name}/__main__.py)"
        lines.append(f"    {name:<12}http://127.0.0.1:{port}/metrics{note}")
    lines += [
        "",
        f"  Kafka         {infra.kafka_bootstrap}   S3 {infra.s3_endpoint}",
        f"  PostgreSQL    {infra.database_url}",
        f"  Logs          {LOG_DIR}/ (infrastructure); services print here, or to {BACKGROUND_LOG} with --background",
        f"  State         {STATE_DIR}/ (delete it while stopped to start from scratch)",
        "  Stop          Ctrl-C, or `make stop` from another terminal",
        "=" * 78,
    ]
    return "\n".join(lines)


# --- pidfile, stop, background -------------------------------------------------------------------


def running_pid() -> int | None:
    """The pid in the pidfile if that process is still our runner, else None (and the stale file goes)."""
    try:
        pid = int(PID_FILE.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        cmdline = b""
    if b"libs.stack.run" not in cmdline:  # gone, or the pid was reused by something else
        PID_FILE.unlink(missing_ok=True)
        return None
    return pid


def stop_running_stack() -> int:
    pid = running_pid()
    if pid is None:
        print("Atelier is not running (no live pid in .atelier/run.pid).")
        return 0
    print(f"stopping Atelier (pid {pid})...")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if Path(f"/proc/{pid}").exists():
        print(
            f"pid {pid} still running after {STOP_TIMEOUT_SECONDS:.0f} s; see {BACKGROUND_LOG}",
            file=sys.stderr,
        )
        return 1
    print("stopped.")
    return 0


def start_in_background() -> int:
    """Start the runner detached, its output in run.log, and return once it reports ready."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    READY_FILE.unlink(missing_ok=True)
    with open(BACKGROUND_LOG, "ab") as log:
        runner = subprocess.Popen(
            [sys.executable, "-m", "libs.stack.run"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not stopped by the terminal's Ctrl-C or hang-up
        )
    log_start = BACKGROUND_LOG.stat().st_size
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS + 60
    while not READY_FILE.exists():
        if runner.poll() is not None or time.monotonic() > deadline:
            print(f"Atelier did not start; see {BACKGROUND_LOG}", file=sys.stderr)
            if runner.poll() is None:
                stop_running_stack()
            return 1
        time.sleep(0.2)
    state = READY_FILE.read_text().strip()
    # the banner and the gateway's token line, from this run's part of the log
    with open(BACKGROUND_LOG, "rb") as log:
        log.seek(max(0, log_start - 1))
        output = log.read().decode(errors="replace")
    for line in output.splitlines():
        if line.startswith("[gateway") and "token" in line.lower():
            print(line)
    print(output[output.find("=" * 78) :] if "=" * 78 in output else output)
    print(f"Running in the background as pid {runner.pid}; output in {BACKGROUND_LOG}.")
    return 0 if state == "healthy" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m libs.stack.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", nargs="?", choices=["start", "stop"], default="start")
    parser.add_argument("--background", action="store_true", help="start detached; return once healthy")
    args = parser.parse_args(argv)

    if args.action == "stop":
        return stop_running_stack()
    pid = running_pid()
    if pid is not None:
        print(f"Atelier is already running (pid {pid}); stop it with `make stop`.", file=sys.stderr)
        return 1
    if args.background:
        return start_in_background()

    STATE_DIR.mkdir(exist_ok=True)
    PID_FILE.write_text(f"{os.getpid()}\n")
    try:
        return Runner(Console(sys.stdout)).run()
    finally:
        with contextlib.suppress(FileNotFoundError):
            if PID_FILE.read_text().strip() == str(os.getpid()):
                PID_FILE.unlink()
                READY_FILE.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
