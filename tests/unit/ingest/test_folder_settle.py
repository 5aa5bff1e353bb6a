"""When a file in a watched folder counts as completely written."""

from __future__ import annotations

from services.ingest.folder_settle import SettleTracker, Stat


def test_a_file_is_ready_once_unchanged_for_the_settle_interval() -> None:
    tracker = SettleTracker(settle_seconds=1.0)
    assert tracker.observe("a.png", Stat(100, 1), now=0.0) is False
    assert tracker.observe("a.png", Stat(100, 1), now=0.5) is False
    assert tracker.observe("a.png", Stat(100, 1), now=1.0) is True


def test_a_growing_file_is_never_ready_while_it_grows() -> None:
    tracker = SettleTracker(settle_seconds=1.0)
    for step in range(10):  # a chunk every 0.4 s: each observation sees a new size
        assert tracker.observe("slow.png", Stat(1000 * (step + 1), step), now=0.4 * step) is False
    # the last chunk landed at 3.6 s; the file is complete once it stays so for a second
    assert tracker.observe("slow.png", Stat(10_000, 9), now=4.0) is False
    assert tracker.observe("slow.png", Stat(10_000, 9), now=4.7) is True


def test_a_new_mtime_with_the_same_size_starts_the_wait_again() -> None:
    tracker = SettleTracker(settle_seconds=1.0)
    tracker.observe("a.png", Stat(100, 1), now=0.0)
    assert tracker.observe("a.png", Stat(100, 2), now=1.5) is False  # rewritten in place
    assert tracker.observe("a.png", Stat(100, 2), now=2.0) is False
    assert tracker.observe("a.png", Stat(100, 2), now=2.5) is True


def test_due_lists_only_files_that_waited_long_enough() -> None:
    tracker = SettleTracker(settle_seconds=1.0)
    tracker.observe("early.png", Stat(1, 1), now=0.0)
    tracker.observe("late.png", Stat(1, 1), now=0.8)
    assert tracker.due(now=0.5) == []
    assert tracker.due(now=1.0) == ["early.png"]
    assert sorted(tracker.due(now=1.8)) == ["early.png", "late.png"]


def test_forgotten_files_are_not_tracked() -> None:
    tracker = SettleTracker(settle_seconds=1.0)
    tracker.observe("gone.png", Stat(1, 1), now=0.0)
    assert "gone.png" in tracker and len(tracker) == 1
    tracker.forget("gone.png")
    tracker.forget("never-seen.png")
    assert "gone.png" not in tracker and tracker.due(now=10.0) == []
    # seen again later, it waits the whole interval from scratch
    assert tracker.observe("gone.png", Stat(1, 1), now=10.0) is False
