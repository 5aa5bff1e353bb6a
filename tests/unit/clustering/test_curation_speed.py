"""The shortcuts that make curation cheap per import give what the plain way gives: one read per key for
a whole batch cut per asset in Python (`latest_within`), and the switch that turns curation off."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.clustering import curation
from services.clustering.curation_repository import KeyWanted, latest_within

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def reference(holders: list[tuple[uuid.UUID, datetime | None]], w: KeyWanted, limit: int) -> list[uuid.UUID]:
    """What `WHERE generated_at BETWEEN lo AND hi ORDER BY generated_at DESC NULLS LAST LIMIT n` gives."""
    inside = [
        (a, at)
        for a, at in holders
        if w.not_before is None
        or w.not_after is None
        or (at is not None and w.not_before <= at <= w.not_after)
    ]
    inside.sort(key=lambda h: (h[1] is None, -(h[1].timestamp() if h[1] else 0.0), h[0]))
    return [a for a, _ in inside[:limit]]


@settings(max_examples=200, deadline=None)
@given(
    minutes=st.lists(st.one_of(st.none(), st.integers(0, 2000)), max_size=40, unique=True),
    window=st.one_of(st.none(), st.tuples(st.integers(0, 2000), st.integers(0, 800))),
    limit=st.integers(1, 50),
)
def test_a_batch_wide_read_cut_per_asset_is_the_per_asset_query(
    minutes: list[int | None], window: tuple[int, int] | None, limit: int
) -> None:
    holders = [
        (uuid.UUID(int=n + 1), None if m is None else T0 + timedelta(minutes=m))
        for n, m in enumerate(minutes)
    ]
    if window is None:
        wanted = KeyWanted(0, "prompt:x@1")
    else:
        start, length = window
        lo = T0 + timedelta(minutes=start)
        wanted = KeyWanted(0, "prompt:x@1", not_before=lo, not_after=lo + timedelta(minutes=length))
    timed = sorted((at, a) for a, at in holders if at is not None)
    untimed = [a for a, at in holders if at is None]
    got = latest_within(timed, [at for at, _ in timed], untimed, wanted, limit)
    assert got == reference(holders, wanted, limit)


def test_curation_switched_off_touches_nothing() -> None:
    class NoConnection:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"curation used the connection ({name})")

    imported = [object()]  # never looked at while switched off; switched on, linking would fail on it

    def run() -> list[object]:
        return asyncio.run(curation.after_timeline_edit(NoConnection(), uuid.uuid4(), imported, []))  # type: ignore[arg-type]

    curation.set_curation_enabled(False)
    try:
        assert run() == []
        curation.set_curation_enabled(True)
        with pytest.raises((AssertionError, AttributeError)):
            run()
    finally:
        curation.set_curation_enabled(None)


def test_the_switch_reads_atelier_curation(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ATELIER_CURATION", "false")
    curation.set_curation_enabled(None)
    try:
        assert curation.curation_enabled() is False
        monkeypatch.setenv("ATELIER_CURATION", "true")
        curation.set_curation_enabled(None)
        assert curation.curation_enabled() is True
    finally:
        curation.set_curation_enabled(None)
