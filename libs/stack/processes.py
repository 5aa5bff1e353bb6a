"""Child processes, ports and waiting: the plumbing under the local stack.

Every child runs in its own process group so that stopping it also stops
anything it forked, and a Ctrl-C in the terminal (sent to the foreground
group) reaches only our own process, which then stops the children in order.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

T = TypeVar("T")

STOP_GRACE_SECONDS = 5.0

# Children still running, so that an interpreter exit (a crashed test run, an
# uncaught exception) does not leave orphans listening on ports.
_live_processes: set[ManagedProcess] = set()
_live_lock = threading.Lock()


class ManagedProcess:
    """One child process in its own process group, with its output in a log file or a pipe."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path | None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path  # None: output goes to a pipe the caller reads (see `stdout`)
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def start(self) -> None:
        argv = self.argv
        # If our own process dies without running atexit (SIGKILL, OOM), the
        # kernel sends the child SIGTERM. The death signal fires when the *thread*
        # that forked the child exits, so it is only safe from the main thread.
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            argv = [setpriv, "--pdeathsig", "TERM", "--", *argv]
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.log_path, "ab")
            output: IO[bytes] | int = self._log_file
        else:
            output = subprocess.PIPE
        self._popen = subprocess.Popen(
            argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        with _live_lock:
            _live_processes.add(self)

    @property
    def pid(self) -> int:
        assert self._popen is not None, f"{self.name} was never started"
        return self._popen.pid

    @property
    def stdout(self) -> IO[bytes]:
        assert self._popen is not None and self._popen.stdout is not None, f"{self.name} has no output pipe"
        return self._popen.stdout

    def exit_code(self) -> int | None:
        """None while running, else the exit code (negative: killed by that signal)."""
        return None if self._popen is None else self._popen.poll()

    def is_running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        assert self._popen is not None
        return self._popen.wait(timeout)

    def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM the whole process group, wait up to `grace_seconds`, then SIGKILL it."""
        if self._popen is not None:
            _signal_group(self._popen.pid, signal.SIGTERM)
            try:
                self._popen.wait(grace_seconds)
            except subprocess.TimeoutExpired:
                _signal_group(self._popen.pid, signal.SIGKILL)
                self._popen.wait()
            # Grandchildren may outlive a leader that exited on SIGTERM.
            _signal_group(self._popen.pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        with _live_lock:
            _live_processes.discard(self)

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class ChildProcessPart:
    """A part of the local stack that runs as one child process (`self.process`): what supervision
    (libs/stack/supervise.py) reads of it. Subclasses add `is_ready()` and `restart()`."""

    process: ManagedProcess | None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def is_running(self) -> bool:
        return self.process is not None and self.process.is_running()

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.exit_code()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@atexit.register
def _stop_leftover_processes() -> None:
    with _live_lock:
        leftovers = list(_live_processes)
    for process in reversed(leftovers):
        process.stop(grace_seconds=2.0)


# --- ports -------------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that are free right now.

    All sockets stay bound until every port is chosen, so the ports differ from
    each other; another program may still take one before our child binds it,
    which callers handle by retrying the start.
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port_with_companion(offset: int, avoid: Sequence[int] = ()) -> int:
    """A free port P such that P + offset is free too (for servers that derive one port from another)."""
    for _ in range(100):
        (port,) = free_ports(1)
        companion = port + offset
        if port in avoid or companion in avoid or companion > 65535:
            continue
        if is_port_free(companion):
            return port
    raise RuntimeError(f"found no free port P with P+{offset} also free")


def is_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: connections in TIME_WAIT from a stack that just stopped
        # do not count as "taken"; a listening socket still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def require_free_port(port: int, what: str) -> None:
    if not is_port_free(port):
        raise PortInUseError(
            f"port {port} ({what}) is already in use on 127.0.0.1. If another Atelier stack is running, "
            f"stop it with `make stop`; otherwise see who holds it with `ss -ltnp 'sport = :{port}'`."
        )


class PortInUseError(RuntimeError):
    pass


# --- waiting -----------------------------------------------------------------------------------


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    process: ManagedProcess | None = None,
    interval: float = 0.05,
) -> None:
    """Poll `check` until it returns True; fail early if `process` dies, and show its log on failure."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        if process is not None and not process.is_running():
            raise StartupError(
                f"{what}: {process.name} exited with code {process.exit_code()} before it was ready.\n"
                f"--- last lines of {process.log_path} ---\n{process.log_tail()}"
            )
        try:
            if check():
                return
        except Exception as exc:
            last_error = exc
        if time.monotonic() > deadline:
            log = (
                "" if process is None else f"\n--- last lines of {process.log_path} ---\n{process.log_tail()}"
            )
            raise StartupError(f"{what}: not ready after {timeout:.0f} s (last error: {last_error!r}){log}")
        time.sleep(interval)


class StartupError(RuntimeError):
    pass


def run_coroutine(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even if this thread already runs an event loop.

    LocalInfra's methods are sync so that `make run`, sync fixtures and async
    fixtures can all call them; inside a running loop, asyncio.run() refuses,
    so the coroutine gets its own loop on a short-lived thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(factory()))
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="stack-coroutine")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
