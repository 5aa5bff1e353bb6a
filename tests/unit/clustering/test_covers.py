"""Cover choice: the fast per-feature distance used by the greedy pick equals the documented one."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from services.clustering.covers import CoverCandidate, _feature_distance, _rgb, _words, choose_cover, distance

WORDS = st.sampled_from(["a", "lighthouse", "at", "dusk", "astronaut", "cosy", "room", "neon,", "Rain"])
PROMPTS = st.one_of(st.none(), st.lists(WORDS, max_size=8).map(" ".join))
COLOURS = st.one_of(st.none(), st.just("#zzzzzz"), st.integers(0, 2**24 - 1).map(lambda c: f"#{c:06x}"))
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def candidate(i: int, prompt: str | None, colour: str | None) -> CoverCandidate:
    return CoverCandidate(f"a{i:03d}", WHEN, prompt, colour)


@given(PROMPTS, COLOURS, PROMPTS, COLOURS)
@settings(max_examples=300)
def test_feature_distance_is_exactly_distance(
    pa: str | None, ca: str | None, pb: str | None, cb: str | None
) -> None:
    a, b = candidate(0, pa, ca), candidate(1, pb, cb)
    assert _feature_distance((_words(pa), _rgb(ca)), (_words(pb), _rgb(cb))) == distance(a, b)


@given(st.lists(st.tuples(PROMPTS, COLOURS), min_size=0, max_size=30))
@settings(max_examples=100)
def test_cover_is_at_most_nine_distinct_candidates_in_time_order(
    rows: list[tuple[str | None, str | None]],
) -> None:
    candidates = [candidate(i, p, c) for i, (p, c) in enumerate(rows)]
    cover = choose_cover(candidates)
    assert len(cover) == min(9, len(candidates))
    assert cover == sorted(set(cover))
    if candidates:
        assert cover[0] == "a000"
