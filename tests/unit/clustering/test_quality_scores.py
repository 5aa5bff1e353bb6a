"""The scores and labelled timelines behind bench/session-quality.md."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))  # bench/ is a folder of scripts, not a package

import bench_session_quality  # noqa: E402
from session_timelines import (  # noqa: E402
    adjusted_rand_index,
    generated,
    hand_scenarios,
    matched_boundaries,
    score,
    worked_example,
)

from services.clustering.segmentation import DEFAULT_RULE, FixedGap  # noqa: E402


def test_ari_is_one_for_the_same_partition_under_other_names() -> None:
    assert adjusted_rand_index(list("aabbc"), list("xxyyz")) == 1.0


def test_ari_matches_a_value_worked_by_hand() -> None:
    # truth {0,1,2}{3,4,5}; predicted {0,1}{2,3,4,5}: pairs agree on 1+6 = 7 of 15
    # index = 1 + 3 = 4 (pairs together in both), expected = 6 * 7 / 15 = 2.8, max = 6.5
    assert adjusted_rand_index(list("aaabbb"), list("xxyyyy")) == pytest.approx((4 - 2.8) / (6.5 - 2.8))


def test_ari_of_one_group_against_singletons_is_zero() -> None:
    assert adjusted_rand_index(list("aaaa"), list("wxyz")) == 0.0


def test_a_boundary_one_asset_off_matches_but_two_off_does_not() -> None:
    assert matched_boundaries([10, 30], [11, 28]) == 1
    assert matched_boundaries([10], [9, 10, 11]) == 1  # one-to-one


def test_the_worked_example_scores_perfectly_under_the_default_rule() -> None:
    result = score(DEFAULT_RULE, worked_example())
    assert (result.f1, result.ari) == (1.0, 1.0)


def test_hand_scenarios_label_every_asset() -> None:
    for timeline in hand_scenarios():
        assert set(timeline.truth) == {m.asset_id for m in timeline.moments}
        assert len(set(timeline.truth.values())) >= 2, timeline.name


def test_the_generator_is_reproducible_per_seed() -> None:
    a, b = generated(7, users=3), generated(7, users=3)
    assert [t.moments for t in a] == [t.moments for t in b]
    assert [t.moments for t in a] != [t.moments for t in generated(8, users=3)]


@pytest.mark.parametrize("rule", [FixedGap(20), DEFAULT_RULE, bench_session_quality.PHOTOTOC])
def test_the_tuning_shortcut_scores_exactly_like_segment(rule) -> None:
    timelines = generated(3, users=4)
    full = score(rule, timelines)
    fast = bench_session_quality._fast_score(rule, bench_session_quality.prepare(timelines))
    assert fast == pytest.approx((full.f1, full.ari))
