"""When is a file completely written? Pure bookkeeping, no I/O: the watcher reports what it sees.

A writer that copies a large file into a watched folder makes it grow over many seconds, and
no filesystem event says "done". A file counts as complete once two observations at least
`settle_seconds` apart see the same size and mtime. A writer that pauses longer than that
mid-file defeats it (the partial file is imported; the finished one, with different bytes,
becomes a second asset), so the interval is configurable.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stat:
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class _Unchanged:
    stat: Stat
    since: float  # when this stat was first seen (monotonic seconds)


class SettleTracker:
    """Files seen but not yet complete, keyed by their relative path."""

    def __init__(self, settle_seconds: float) -> None:
        self.settle_seconds = settle_seconds
        self._pending: dict[str, _Unchanged] = {}

    def observe(self, key: str, stat: Stat, now: float) -> bool:
        """Record what the file looks like now; True when it has looked exactly so for `settle_seconds`."""
        seen = self._pending.get(key)
        if seen is None or seen.stat != stat:
            self._pending[key] = _Unchanged(stat, now)
            return False
        return now - seen.since >= self.settle_seconds

    def due(self, now: float) -> list[str]:
        """Files worth looking at again: unchanged for long enough if they still look the same."""
        return [key for key, seen in self._pending.items() if now - seen.since >= self.settle_seconds]

    def forget(self, key: str) -> None:
        self._pending.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return key in self._pending

    def __len__(self) -> int:
        return len(self._pending)
