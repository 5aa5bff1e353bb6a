"""Keeping `make run`'s processes running: one mechanism for the services and the infrastructure.

A `Part` is anything the runner starts and can start again in the same place (same ports, same
storage): a service process, Tansu, SeaweedFS, an embedded PostgreSQL. A `Supervised` part is
checked on every tick of the runner's loop; when it has exited it is restarted after a backoff,
and the console says so, and says again when it answers. `RestartPolicy` holds the backoff and
give-up rule, as plain arithmetic on timestamps so that it is tested without processes.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

MAX_RESTARTS_PER_MINUTE = 5
RESTART_WINDOW_SECONDS = 60.0


@dataclass
class RestartPolicy:
    """Restart after 1, 2, 4, 8, 16 s; after `max_restarts` restarts within the window, give up."""

    max_restarts: int = MAX_RESTARTS_PER_MINUTE
    window_seconds: float = RESTART_WINDOW_SECONDS
    restart_times: collections.deque[float] = field(default_factory=collections.deque)

    def delay_after_exit(self, now: float) -> float | None:
        """Seconds to wait before restarting something that exited at `now`; None means give up."""
        while self.restart_times and now - self.restart_times[0] > self.window_seconds:
            self.restart_times.popleft()
        if len(self.restart_times) >= self.max_restarts:
            return None
        return 2.0 ** len(self.restart_times)

    def restarted(self, now: float) -> None:
        self.restart_times.append(now)

    def describe_limit(self) -> str:
        return f"{self.max_restarts} restarts within {self.window_seconds:.0f} s"


class Part(Protocol):
    """What the supervisor needs of one process it keeps running."""

    @property
    def name(self) -> str: ...

    @property
    def pid(self) -> int | None: ...

    def is_running(self) -> bool: ...

    def exit_code(self) -> int | None:
        """The exit code once it has exited, if known (negative: killed by that signal)."""
        ...

    def is_ready(self) -> bool:
        """It answers requests (a health check, a protocol round trip)."""
        ...

    def restart(self) -> None:
        """Start it again in the same place after it exited; may return before it is ready."""
        ...


class State(Enum):
    STARTING = "starting"  # running, not answering yet
    RUNNING = "running"  # answered once since it was (re)started
    WAITING = "waiting"  # exited; waiting out the backoff before the restart
    GIVEN_UP = "given up"


class Supervised:
    """One part under supervision. `tick(now)` is called from the runner's loop, in one thread.

    `note` prints a console line. `consequence` ends the give-up line (what happens without it).
    `ready_warning_seconds`: after a restart, say so once if it has not answered for this long.
    """

    def __init__(
        self,
        part: Part,
        note: Callable[[str], None],
        *,
        essential: bool,
        consequence: str,
        ready: bool = False,
        ready_warning_seconds: float = 60.0,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.part = part
        self.note = note
        self.essential = essential  # the stack cannot work without it
        self.consequence = consequence
        self.ready_warning_seconds = ready_warning_seconds
        self.policy = policy or RestartPolicy()
        self.state = State.RUNNING if ready else State.STARTING
        self.restart_at = 0.0
        self._restarted_at: float | None = None  # set from a restart until it answers
        self._warned = False

    @property
    def name(self) -> str:
        return self.part.name

    @property
    def ready(self) -> bool:
        return self.state is State.RUNNING

    @property
    def given_up(self) -> bool:
        return self.state is State.GIVEN_UP

    def tick(self, now: float) -> None:
        """Notice an exit, wait out the backoff, restart, notice it answers again, or give up."""
        if self.state is State.GIVEN_UP:
            return
        if self.state is State.WAITING:
            if now >= self.restart_at:
                self._restart(now)
            return
        if not self.part.is_running():
            code = self.part.exit_code()
            self._exited(now, "exited unexpectedly" + ("" if code is None else f" with code {code}"))
        elif self.state is State.STARTING:
            self._check_ready(now)

    def _check_ready(self, now: float) -> None:
        try:
            ready = self.part.is_ready()
        except Exception:  # a probe that fails to connect means "not yet"
            ready = False
        if ready:
            self.state = State.RUNNING
            if self._restarted_at is not None:
                self.note(f"{self.name} is back")
                self._restarted_at = None
        elif (
            self._restarted_at is not None
            and not self._warned
            and now - self._restarted_at > self.ready_warning_seconds
        ):
            self._warned = True
            self.note(
                f"{self.name} has not answered in the {self.ready_warning_seconds:.0f} s since its restart"
            )

    def _restart(self, now: float) -> None:
        self.policy.restarted(now)
        self._restarted_at, self._warned = now, False
        try:
            self.part.restart()
        except Exception as exc:  # e.g. its port is taken now: counts as another exit
            self._exited(now, f"could not be restarted ({exc})")
            return
        self.state = State.STARTING

    def _exited(self, now: float, what: str) -> None:
        delay = self.policy.delay_after_exit(now)
        if delay is None:
            self.state = State.GIVEN_UP
            self.note(
                f"{self.name} {what} after {self.policy.describe_limit()}; "
                f"not restarting it again ({self.consequence})"
            )
            return
        self.state = State.WAITING
        self.restart_at = now + delay
        self.note(f"{self.name} {what}; restarting in {delay:.0f} s")
