"""`make run` / `make stop`: the whole of Atelier on this machine.

    uv run python -m libs.stack.run                 # foreground; Ctrl-C stops everything
    uv run python -m libs.stack.run --background    # detached; returns once the gateway is healthy
    uv run python -m libs.stack.run stop            # stops a running stack (foreground or background)

Starts LocalInfra (fixed ports, Kafka events kept in S3, the shared "atelier"
database) with state under .atelier/, then each service as `python -m services.<name>`,
re-printing their output with a prefix. Everything it started is supervised: a service,
Tansu, SeaweedFS or an embedded PostgreSQL that dies is restarted on the same ports with
the same storage (libs/stack/supervise.py).

For a second stack beside a developer's (integration tests), the environment can change
where and how it runs; `stop` must then see the same ATELIER_STACK_DIR:

    ATELIER_STACK_DIR=DIR        state, logs, pidfile (default .atelier)
    ATELIER_STACK_PORTS=free     unused ports for everything (default "fixed": 8000-8004, 9092, 8333, ...)
    ATELIER_STACK_DATABASE=fresh a new database, dropped at stop (default "shared": "atelier")

Each run makes a new service token for the internal routes (/internal/v1), unless
ATELIER_INTERNAL_TOKEN is set, hands it to every service and writes it to
.atelier/internal_token (mode 0600). `.atelier/stack.json` says which pids and ports
this run has (it changes when something is restarted).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Literal, cast

from libs.stack.infra import Infra, LocalInfra
from libs.stack.processes import ManagedProcess, PortInUseError, StartupError, free_ports
from libs.stack.supervise import Supervised

STATE_DIR = Path(os.environ.get("ATELIER_STACK_DIR") or ".atelier")
LOG_DIR = STATE_DIR / "logs"
PID_FILE = STATE_DIR / "run.pid"
# written by the runner once start-up is over; `--background` waits for it
READY_FILE = STATE_DIR / "run.ready"
BACKGROUND_LOG = LOG_DIR / "run.log"
# pids and ports of this run, rewritten when a restart changes a pid
STACK_FILE = STATE_DIR / "stack.json"
TOKEN_FILE = STATE_DIR / "internal_token"

# start order; the gateway first so its demo-token line is near the top of the output
SERVICE_PORTS = {"gateway": 8000, "ingest": 8001, "clustering": 8002, "credits": 8003, "reflection": 8004}
HEALTH_TIMEOUT_SECONDS = 60.0
# with the services' 5 s grace each, stopped in parallel, plus infra: well under this
STOP_TIMEOUT_SECONDS = 40.0
TICK_SECONDS = 0.5
# after a restart, infrastructure that has not answered for this long gets a warning line
INFRA_READY_WARNING_SECONDS = 30.0

COLOURS = ["\033[36m", "\033[33m", "\033[35m", "\033[32m", "\033[34m"]
RESET = "\033[0m"


@dataclass(frozen=True)
class StackOptions:
    """How this run places itself: see ATELIER_STACK_* in the module docstring."""

    ports: Literal["fixed", "free"] = "fixed"
    database: Literal["shared", "fresh"] = "shared"

    @classmethod
    def from_env(cls, environ: dict[str, str] | os._Environ[str]) -> StackOptions:
        ports = environ.get("ATELIER_STACK_PORTS") or "fixed"
        database = environ.get("ATELIER_STACK_DATABASE") or "shared"
        if ports not in ("fixed", "free"):
            raise ValueError(f"ATELIER_STACK_PORTS must be 'fixed' or 'free', not {ports!r}")
        if database not in ("shared", "fresh"):
            raise ValueError(f"ATELIER_STACK_DATABASE must be 'shared' or 'fresh', not {database!r}")
        return cls(
            ports=cast(Literal["fixed", "free"], ports), database=cast(Literal["shared", "fresh"], database)
        )

    def service_ports(self) -> dict[str, int]:
        if self.ports == "fixed":
            return dict(SERVICE_PORTS)
        return dict(zip(SERVICE_PORTS, free_ports(len(SERVICE_PORTS)), strict=True))


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


class ServiceProcess:
    """One service, `python -m services.<name>`, its output copied to the console with a prefix.

    A `Part` for the supervisor: ready once its /healthz answers 200.
    """

    def __init__(self, name: str, port: int, colour: str, env: dict[str, str], console: Console) -> None:
        self.name = name
        self.port = port
        self.colour = colour
        self.env = env
        self.console = console
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self) -> None:
        self.process = ManagedProcess(
            self.name, [sys.executable, "-m", f"services.{self.name}"], env=self.env, log_path=None
        )
        self.process.start()
        threading.Thread(
            target=self._copy_output, args=(self.process.stdout,), name=f"{self.name}-output", daemon=True
        ).start()

    def _copy_output(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self.console.prefixed(self.name, self.colour, raw.decode(errors="replace").rstrip("\n"))

    def is_running(self) -> bool:
        return self.process is not None and self.process.is_running()

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.exit_code()

    def is_ready(self) -> bool:
        return http_ok(f"{self.url}/healthz")

    def restart(self) -> None:
        self.stop()  # reaps the old one and anything it left in its process group
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


class Runner:
    def __init__(self, console: Console, options: StackOptions | None = None) -> None:
        self.console = console
        self.options = options or StackOptions()
        self.stop_requested = threading.Event()
        self.services: list[ServiceProcess] = []
        # infrastructure first, then the services: one tick looks at all of them in this order
        self.supervised: list[Supervised] = []
        self.infra: Infra | None = None
        self._written_pids: dict[str, int] = {}

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested.set()

    def run(self) -> int:
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)
        local_infra = LocalInfra(
            STATE_DIR,
            ports=self.options.ports,
            kafka_storage="s3",
            database=self.options.database,
            log_to=LOG_DIR,
        )
        try:
            self.console.note("starting PostgreSQL, SeaweedFS (S3) and Tansu (Kafka)...")
            infra = self.infra = local_infra.start()
            timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in infra.startup_seconds.items())
            self.console.note(f"infrastructure ready: {timings}")
            for part in local_infra.supervised_parts():
                self.supervised.append(
                    Supervised(
                        part,
                        self.console.note,
                        essential=True,
                        consequence="Atelier cannot work without it: stopping",
                        ready=True,
                        ready_warning_seconds=INFRA_READY_WARNING_SECONDS,
                    )
                )
            if self.stop_requested.is_set():  # Ctrl-C while the infrastructure was starting
                return 0
            self.start_services(infra, self.options.service_ports(), make_internal_token())
            self.write_stack_file()
            healthy = self.wait_until_healthy()
            if self.essential_part_lost():
                return 1
            self.console.line(banner(infra, self.services, healthy))
            READY_FILE.write_text("healthy\n" if healthy else "unhealthy\n")
            while not self.stop_requested.wait(TICK_SECONDS):
                self.tick()
                if self.essential_part_lost():
                    return 1
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
            STACK_FILE.unlink(missing_ok=True)
            TOKEN_FILE.unlink(missing_ok=True)  # the token dies with the run
            self.stop_services()
            local_infra.stop()
            self.console.note("stopped")
        return 0

    def tick(self) -> None:
        now = time.monotonic()
        for supervised in self.supervised:
            supervised.tick(now)
        self.write_stack_file()

    def essential_part_lost(self) -> bool:
        if any(s.essential and s.given_up for s in self.supervised):
            READY_FILE.write_text("failed\n")
            return True
        return False

    def service_env(self, infra: Infra, ports: dict[str, int], port: int, token: str) -> dict[str, str]:
        # ATELIER_DEMO_TOKEN, if set, passes through with the rest of our environment
        return {
            **os.environ,
            **infra.env(),
            "ATELIER_HTTP_PORT": str(port),
            # the gateway calls these services' internal APIs
            "ATELIER_INGEST_URL": f"http://127.0.0.1:{ports['ingest']}",
            "ATELIER_CLUSTERING_URL": f"http://127.0.0.1:{ports['clustering']}",
            "ATELIER_CREDITS_URL": f"http://127.0.0.1:{ports.get('credits', SERVICE_PORTS['credits'])}",
            "ATELIER_REFLECTION_URL": f"http://127.0.0.1:{ports.get('reflection', SERVICE_PORTS['reflection'])}",
            "ATELIER_INTERNAL_TOKEN": token,
            "PYTHONUNBUFFERED": "1",  # lines reach us as they are printed
        }

    def start_services(self, infra: Infra, ports: dict[str, int], token: str) -> None:
        for index, (name, port) in enumerate(ports.items()):
            if not Path("services", name, "__main__.py").exists():
                self.console.note(f"warning: services/{name}/__main__.py does not exist yet; skipping {name}")
                continue
            env = self.service_env(infra, ports, port, token)
            service = ServiceProcess(name, port, COLOURS[index % len(COLOURS)], env, self.console)
            service.start()
            self.services.append(service)
            self.supervised.append(
                Supervised(
                    service,
                    self.console.note,
                    essential=False,
                    consequence="the rest keeps running",
                    ready_warning_seconds=HEALTH_TIMEOUT_SECONDS,
                )
            )

    def wait_until_healthy(self) -> bool:
        """Wait for every started service's /healthz (the gateway's above all), supervising everything meanwhile.

        Healthy means the gateway and all the others answered 200 within the timeout.
        """
        if not any(service.name == "gateway" for service in self.services):
            return False
        services = [s for s in self.supervised if not s.essential]
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
        while time.monotonic() < deadline and not self.stop_requested.is_set():
            self.tick()
            waiting_for = [s for s in services if not s.ready and not s.given_up]
            if not waiting_for or self.essential_part_lost():
                break
            self.stop_requested.wait(TICK_SECONDS)
        not_ready = [s.name for s in services if not s.ready]
        if not_ready and not self.stop_requested.is_set():
            self.console.note(
                f"warning: no 200 from /healthz of {', '.join(not_ready)} within {HEALTH_TIMEOUT_SECONDS:.0f} s"
            )
        return not not_ready

    def write_stack_file(self) -> None:
        """`stack.json`: where this run's parts are. Rewritten only when a pid changed."""
        infra = self.infra
        assert infra is not None
        pids: dict[str, int] = {}
        for supervised in self.supervised:
            pid = supervised.part.pid
            if pid is not None and supervised.part.is_running():  # one that is down has no pid here
                pids[supervised.name] = pid
        if pids == self._written_pids:
            return
        document = {
            "runner_pid": os.getpid(),
            "pids": pids,
            "service_ports": {service.name: service.port for service in self.services},
            "kafka_bootstrap": infra.kafka_bootstrap,
            "s3_endpoint": infra.s3_endpoint,
        }
        temporary = STACK_FILE.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=2) + "\n")
        temporary.replace(STACK_FILE)
        self._written_pids = pids

    def stop_services(self) -> None:
        # all at once, so each one's grace period runs in parallel
        threads = [threading.Thread(target=service.stop) for service in self.services]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def make_internal_token() -> str:
    """This run's token for the internal routes: ATELIER_INTERNAL_TOKEN if set, else a new one; saved 0600."""
    token = os.environ.get("ATELIER_INTERNAL_TOKEN") or secrets.token_urlsafe(32)
    write_private(TOKEN_FILE, token + "\n")
    return token


def write_private(path: Path, text: str) -> None:
    """Write `text` to a new file that only its owner may read, from the moment it exists."""
    path.unlink(missing_ok=True)
    # O_EXCL: a file (or symlink) someone put there meanwhile makes this fail rather than be written
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def banner(infra: Infra, services: list[ServiceProcess], healthy: bool) -> str:
    ports = {service.name: service.port for service in services}
    gateway_url = f"http://127.0.0.1:{ports.get('gateway', SERVICE_PORTS['gateway'])}"
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
        f"  Web UI        {gateway_url}/",
        f"  API           {gateway_url}/  (OpenAPI docs: {gateway_url}/docs)",
        "  Demo token    printed by the gateway above (its line mentions the token)",
        f"  Internal      the services' token for /internal/v1 is in {TOKEN_FILE} (new each run)",
        "",
        "  Metrics:",
    ]
    for name in SERVICE_PORTS:
        if name in ports:
            lines.append(f"    {name:<12}http://127.0.0.1:{ports[name]}/metrics")
        else:
            lines.append(f"    {name:<12}(not started: no services/{name}/__main__.py)")
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

    try:
        options = StackOptions.from_env(os.environ)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    PID_FILE.write_text(f"{os.getpid()}\n")
    try:
        return Runner(Console(sys.stdout), options).run()
    finally:
        with contextlib.suppress(FileNotFoundError):
            if PID_FILE.read_text().strip() == str(os.getpid()):
                PID_FILE.unlink()
                READY_FILE.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
