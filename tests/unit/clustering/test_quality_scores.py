"""The scores and labelled timelines behind bench/session-quality.md."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
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
    segmentation_ari,
    worked_example,
)

from libs.sessions.segmentation import DEFAULT_RULE, ContentGap, FixedGap  # noqa: E402

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def times(*gaps_s: float) -> list[datetime]:
    out = [T0]
    for g in gaps_s:
        out.append(out[-1] + timedelta(seconds=g))
    return out


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


CONTENT_RULE = ContentGap(FixedGap(25), (10, 60), context=8, recent_prompts=3, join_at=1, cut_at=1)


@pytest.mark.parametrize(
    "rule", [FixedGap(20), DEFAULT_RULE, bench_session_quality.PHOTOTOC, CONTENT_RULE], ids=repr
)
def test_the_tuning_shortcut_scores_exactly_like_segment(rule) -> None:
    """With the moments kept (`prepare_content`) content rules read the images as segment() does."""
    timelines = generated(3, users=4)
    full = score(rule, timelines)
    fast = bench_session_quality._fast_score(rule, bench_session_quality.prepare_content(timelines))
    assert fast == pytest.approx((full.f1, full.ari))


def test_the_shortcut_on_times_alone_gives_the_time_rule() -> None:
    prepared = bench_session_quality.prepare(generated(3, users=4))
    assert bench_session_quality._fast_score(CONTENT_RULE, prepared) == bench_session_quality._fast_score(
        CONTENT_RULE.time_rule, prepared
    )


def test_burstiness_is_minus_one_for_a_metronome_and_memory_zero() -> None:
    b, m = bench_session_quality.burstiness_and_memory(times(60, 60, 60, 60))
    assert (b, m) == (-1.0, 0.0)


def test_memory_of_alternating_short_and_long_gaps_is_minus_one() -> None:
    b, m = bench_session_quality.burstiness_and_memory(times(1, 3, 1, 3, 1))
    assert m == pytest.approx(-1.0)
    assert b == pytest.approx((0.96**0.5 - 1.8) / (0.96**0.5 + 1.8))


def test_the_generated_users_are_bursty_with_weak_memory() -> None:
    """Goh & Barabási (2008): human activity is bursty (B > 0) with weak memory; the generator
    should look like that, not like a metronome or a strongly correlated natural process."""
    values = [bench_session_quality.burstiness_and_memory(t.prompts) for t in generated(11, users=20)]
    assert all(b > 0.3 for b, _ in values)
    assert abs(sum(m for _, m in values) / len(values)) < 0.15


def test_bootstrap_of_a_rule_against_itself_is_exactly_zero() -> None:
    prepared = bench_session_quality.prepare(generated(5, users=6))
    same = bench_session_quality._user_scores(FixedGap(20), prepared)
    ci_f1, ci_ari, both = bench_session_quality._bootstrap(same, same, same, draws=50)
    assert (ci_f1, ci_ari, both) == ((0.0, 0.0), (0.0, 0.0), 0.0)


def test_bootstrap_sees_a_clearly_worse_rule_as_worse() -> None:
    prepared = bench_session_quality.prepare(generated(5, users=10))
    good = bench_session_quality._user_scores(FixedGap(25), prepared)
    bad = bench_session_quality._user_scores(FixedGap(2), prepared)
    ci_f1, ci_ari, both = bench_session_quality._bootstrap(good, bad, bad, draws=200)
    assert ci_f1[0] > 0 and ci_ari[0] > 0 and both == 1.0


@pytest.mark.parametrize(
    ("true_cuts", "predicted_cuts"),
    [([3], [2]), ([2, 5], [5]), ([], [1, 2, 3, 4, 5]), ([1, 4], [1, 4]), ([], []), ([3], [])],
)
def test_segmentation_ari_equals_the_labelled_ari(true_cuts, predicted_cuts) -> None:
    def labels(cuts: list[int]) -> list[str]:
        return [str(sum(c <= i for c in cuts)) for i in range(6)]

    assert segmentation_ari(6, true_cuts, predicted_cuts) == pytest.approx(
        adjusted_rand_index(labels(true_cuts), labels(predicted_cuts))
    )
