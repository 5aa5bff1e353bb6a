"""The supervisor's decisions (libs/stack/supervise.py) on a fake clock and a fake process: when to
restart, how long to wait, when to give up, and what it tells the console."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from libs.stack.run import StackOptions, write_private
from libs.stack.supervise import RestartPolicy, State, Supervised


class FakePart:
    """A process that dies and answers when the test says so."""

    name = "tansu"

    def __init__(self) -> None:
        self.running = True
        self.code: int | None = None
        self.answers = True
        self.restarts = 0
        self.refuse_restart: Exception | None = None

    @property
    def pid(self) -> int | None:
        return 100 + self.restarts if self.running else None

    def is_running(self) -> bool:
        return self.running

    def exit_code(self) -> int | None:
        return None if self.running else self.code

    def is_ready(self) -> bool:
        return self.answers

    def restart(self) -> None:
        if self.refuse_restart is not None:
            raise self.refuse_restart
        self.restarts += 1
        self.running, self.code = True, None

    def die(self, code: int = -9) -> None:
        self.running, self.code = False, code


def supervised(part: FakePart, lines: list[str], ready_warning_seconds: float = 60.0) -> Supervised:
    return Supervised(
        part,
        lines.append,
        essential=True,
        consequence="stopping",
        ready=True,
        ready_warning_seconds=ready_warning_seconds,
    )


def test_backoff_doubles_then_gives_up_after_five_restarts_within_a_minute() -> None:
    policy = RestartPolicy()
    delays = []
    for now in range(0, 50, 10):  # five restarts within 40 s
        delays.append(policy.delay_after_exit(float(now)))
        policy.restarted(float(now))
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert policy.delay_after_exit(45.0) is None


def test_restarts_older_than_the_window_are_forgotten() -> None:
    policy = RestartPolicy(max_restarts=2, window_seconds=60.0)
    policy.restarted(0.0)
    policy.restarted(30.0)
    assert policy.delay_after_exit(59.0) is None
    assert policy.delay_after_exit(61.0) == 2.0  # the one at 0 s has left the window
    assert policy.delay_after_exit(91.0) == 1.0  # so has the one at 30 s: back to the shortest wait


def test_an_exit_is_announced_waited_out_restarted_and_reported_back() -> None:
    part, lines = FakePart(), list[str]()
    watch = supervised(part, lines)
    watch.tick(0.0)
    assert lines == [] and watch.ready

    part.die(-9)
    part.answers = False
    watch.tick(10.0)
    assert lines == ["tansu exited unexpectedly with code -9; restarting in 1 s"]
    assert watch.state is State.WAITING
    watch.tick(10.5)
    assert part.restarts == 0  # still waiting out the backoff
    watch.tick(11.0)
    assert part.restarts == 1 and watch.state is State.STARTING
    watch.tick(11.5)
    assert watch.state is State.STARTING  # running, not answering yet: no claim that it is back
    part.answers = True
    watch.tick(12.0)
    assert watch.ready
    assert lines[-1] == "tansu is back"


def test_the_first_answer_after_start_is_not_a_comeback() -> None:
    part, lines = FakePart(), list[str]()
    watch = Supervised(part, lines.append, essential=False, consequence="the rest keeps running")
    part.answers = False
    watch.tick(0.0)
    assert watch.state is State.STARTING
    part.answers = True
    watch.tick(1.0)
    assert watch.ready and lines == []


def test_a_part_that_keeps_dying_is_given_up_with_the_reason() -> None:
    part, lines = FakePart(), list[str]()
    watch = supervised(part, lines)
    now = 0.0
    for _ in range(5):
        part.die(1)
        watch.tick(now)
        now = watch.restart_at
        watch.tick(now)  # restarted
    assert part.restarts == 5
    part.die(1)
    watch.tick(now + 1)
    assert watch.given_up
    assert lines[-1] == (
        "tansu exited unexpectedly with code 1 after 5 restarts within 60 s; not restarting it again (stopping)"
    )
    watch.tick(now + 100)
    assert part.restarts == 5  # given up stays given up


def test_a_restart_that_raises_counts_as_another_exit() -> None:
    part, lines = FakePart(), list[str]()
    watch = supervised(part, lines)
    part.die(-9)
    watch.tick(0.0)
    part.refuse_restart = RuntimeError("port 9092 is in use")
    watch.tick(1.0)
    assert watch.state is State.WAITING
    assert lines[-1] == "tansu could not be restarted (port 9092 is in use); restarting in 2 s"
    part.refuse_restart = None
    watch.tick(3.0)
    assert part.restarts == 1 and watch.state is State.STARTING


def test_a_restart_that_never_answers_is_reported_once() -> None:
    part, lines = FakePart(), list[str]()
    watch = supervised(part, lines, ready_warning_seconds=30.0)
    part.die(-9)
    watch.tick(0.0)
    part.answers = False
    watch.tick(1.0)
    for now in (10.0, 31.5, 40.0, 50.0):
        watch.tick(now)
    assert lines[1:] == ["tansu has not answered in the 30 s since its restart"]


def test_a_probe_that_raises_means_not_ready_yet() -> None:
    part, lines = FakePart(), list[str]()
    watch = Supervised(part, lines.append, essential=False, consequence="")

    def refuse() -> bool:
        raise ConnectionRefusedError

    part.is_ready = refuse  # type: ignore[method-assign]
    watch.tick(0.0)
    assert watch.state is State.STARTING


def test_the_token_file_is_never_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "internal_token"
    path.write_text("old token")
    path.chmod(0o644)  # a file left by something else: replaced, not reused with its mode
    old_umask = os.umask(0)  # even with a permissive umask
    try:
        write_private(path, "new token\n")
    finally:
        os.umask(old_umask)
    assert path.read_text() == "new token\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_stack_options_come_from_the_environment() -> None:
    assert StackOptions.from_env({}) == StackOptions("fixed", "shared")
    options = StackOptions.from_env({"ATELIER_STACK_PORTS": "free", "ATELIER_STACK_DATABASE": "fresh"})
    assert options == StackOptions("free", "fresh")
    ports = options.service_ports()
    assert list(ports) == ["gateway", "ingest", "clustering", "credits", "reflection"]
    assert len(set(ports.values())) == 5
    assert StackOptions().service_ports()["gateway"] == 8000
    with pytest.raises(ValueError, match="ATELIER_STACK_PORTS"):
        StackOptions.from_env({"ATELIER_STACK_PORTS": "random"})
