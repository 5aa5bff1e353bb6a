"""The family of generator profiles (bench/session_profiles.py) issue 15 judges session rules on: each
profile generates labelled timelines, and each differs from our first reading where it says it does."""

from __future__ import annotations

import random
import statistics
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))  # bench/ is a folder of scripts, not a package

from session_profiles import PROFILES  # noqa: E402
from session_timelines import generate_user  # noqa: E402

BY_NAME = {p.name: p for p in PROFILES}


def _users(name: str, n: int = 60) -> list:  # type: ignore[type-arg]
    rng = random.Random(5)
    return [generate_user(rng, f"{name}-{i}", BY_NAME[name].rhythm) for i in range(n)]


def test_every_profile_generates_labelled_sessions_and_names_differ() -> None:
    assert len(BY_NAME) == len(PROFILES) >= 4
    for profile in PROFILES:
        [user] = _users(profile.name, 1)
        assert len(user.moments) == len(user.truth) > 0 and len(set(user.truth)) > 1
        assert profile.why


def test_late_returns_come_back_later() -> None:
    """Quick returns never under 20 min (a long break's log-normal tail can still be shorter), so few
    breaks under 20 min, and the short breaks sit later than in our first reading."""

    def breaks(name: str) -> list[float]:
        return [b for u in _users(name) for b in u.breaks_s]

    def share_under(name: str, minutes: float) -> float:
        found = breaks(name)
        return sum(b < minutes * 60 for b in found) / len(found)

    assert share_under("late-returns", 20) < share_under("tool-latency", 20) / 3
    short = [b for b in breaks("late-returns") if b < 3 * 3600]
    ours = [b for b in breaks("tool-latency") if b < 3 * 3600]
    assert statistics.median(short) > statistics.median(ours) + 10 * 60


def test_same_second_bursts_make_most_gaps_zero() -> None:
    def zero_share(name: str) -> float:
        gaps = [
            (b.at - a.at).total_seconds()
            for u in _users(name, 20)
            for a, b in zip(u.moments, u.moments[1:], strict=False)
        ]
        return sum(g == 0 for g in gaps) / len(gaps)

    assert zero_share("same-second-bursts") > 0.8 > zero_share("tool-latency")


def test_everyone_on_relax_is_slow_and_nobody_slow_is_fast() -> None:
    def median_pause(name: str) -> float:
        return statistics.median(p for u in _users(name, 30) for p in u.pauses_s)

    assert median_pause("everyone-on-relax") > 4 * median_pause("nobody-slow")
