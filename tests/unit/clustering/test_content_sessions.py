"""Content across an ambiguous gap (issue 15): inside its band the images' prompt, seed, model, LoRAs and
tool decide a gap times alone cannot; with times alone the rule gives exactly its time rule's sessions."""

from __future__ import annotations

import itertools
import random
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.sessions.segmentation import (
    DEFAULT_RULE,
    ContentGap,
    FixedGap,
    Moment,
    TempoGap,
    Timeline,
    prompt_words,
    segment,
)

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))  # bench/ is a folder of scripts, not a package

from session_profiles import PROFILES  # noqa: E402
from session_timelines import generate_user  # noqa: E402

BASE = datetime(2024, 3, 9, 14, 0, tzinfo=UTC)
# times alone: a 30-minute gap joins (under 40), content decides from 10 to 60 minutes
RULE = ContentGap(FixedGap(40), (10, 60))


def labels(moments: list[Moment], rule) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [[m.asset_id for m in s] for s in segment(moments, rule)]


def burst(prefix: str, start_min: float, n: int, **content: object) -> list[Moment]:
    """n prompts a minute apart from `start_min`, each prompt's content from `content` (a callable
    of the prompt's index, or a value)."""
    out = []
    for i in range(n):
        made = {k: v(i) if callable(v) else v for k, v in content.items()}
        out.append(Moment(f"{prefix}{i:02d}", BASE + timedelta(minutes=start_min + i), **made))  # type: ignore[arg-type]
    return out


SUBJECTS = ["red fox in snow", "lighthouse at dusk", "old robot reading", "koi pond at night", "desert ruins"]


def test_times_only_give_exactly_the_time_rules_sessions_on_generated_timelines() -> None:
    """Every profile's generated users, content stripped: the default equals its own time rule."""
    assert isinstance(DEFAULT_RULE, ContentGap)
    rng = random.Random(3)
    for profile in PROFILES:
        for u in range(6):
            user = generate_user(rng, f"{profile.name}-{u}", profile.rhythm)
            bare = [Moment(m.asset_id, m.at, m.precision) for m in user.moments]
            assert labels(bare, DEFAULT_RULE) == labels(bare, DEFAULT_RULE.time_rule)


def test_content_changes_sessions_somewhere_on_generated_timelines() -> None:
    """The same users with their content: the rule reads it (else the test above proves nothing)."""
    rng = random.Random(3)
    users = [generate_user(rng, f"u{u}", PROFILES[0].rhythm) for u in range(10)]
    differ = sum(labels(u.moments, DEFAULT_RULE) != labels(u.moments, DEFAULT_RULE.time_rule) for u in users)
    assert differ > 0


def test_a_continuing_prompt_joins_across_an_ambiguous_gap() -> None:
    """A 45-minute gap (the time rule cuts) with the same work going on after it: one session."""
    style = "oil painting, by monet, soft light"
    before = burst("a", 0, 6, prompt=lambda i: f"{SUBJECTS[i % 5]}, {style}", model="sdxl", tool="comfyui")
    after = burst(
        "b", 50, 4, prompt=lambda i: f"{SUBJECTS[4]}, {style}, wide angle", model="sdxl", tool="comfyui"
    )
    assert len(segment(before + after, FixedGap(40))) == 2
    assert len(segment(before + after, RULE)) == 1


def test_the_continuity_reads_the_sessions_recent_prompts_not_only_the_last() -> None:
    """The prompt after the gap returns to a subject of three prompts ago: still the same work."""
    before = burst("a", 0, 4, prompt=lambda i: SUBJECTS[i])  # ends on "koi pond at night"
    after = burst("b", 48, 2, prompt=lambda i: SUBJECTS[1])  # back to "lighthouse at dusk"
    assert len(segment(before + after, RULE)) == 1
    last_only = replace(RULE, recent_prompts=1)
    assert len(segment(before + after, last_only)) == 2


def test_a_change_of_subject_alone_does_not_cut() -> None:
    """A 30-minute gap (the time rule joins) after which the subject changes, same tool and model."""
    before = burst("a", 0, 5, prompt=SUBJECTS[0], model="sdxl", tool="comfyui")
    after = burst("b", 34, 5, prompt=SUBJECTS[3], model="sdxl", tool="comfyui")
    assert len(segment(before + after, RULE)) == 1


def test_another_tool_model_and_subject_cut_an_ambiguous_gap() -> None:
    before = burst("a", 0, 5, prompt=SUBJECTS[0], model="sdxl", tool="comfyui")
    after = burst("b", 34, 5, prompt=SUBJECTS[3], model="midjourney v6", tool="midjourney")
    assert len(segment(before + after, RULE)) == 2


def test_the_same_seed_family_joins() -> None:
    """A fixed seed (batches take seed, seed+1, ...) on both sides of a 45-minute gap."""
    before = burst("a", 0, 5, prompt=SUBJECTS[0], seed=lambda i: 1234 + i % 4)
    after = burst("b", 50, 5, prompt=SUBJECTS[3], seed=lambda i: 1234 + i % 4)
    assert len(segment(before + after, RULE)) == 1
    random_seeds = [replace(m, seed=random.Random(m.asset_id).getrandbits(32)) for m in after]
    assert len(segment(before + random_seeds, RULE)) == 2


def test_content_is_never_read_outside_the_band() -> None:
    """Past the band a continuing prompt does not join; under it another tool does not cut."""
    far = burst("a", 0, 3, prompt=SUBJECTS[0], tool="comfyui") + burst(
        "b", 70, 3, prompt=SUBJECTS[0], tool="comfyui"
    )
    near = burst("a", 0, 3, prompt=SUBJECTS[0], tool="comfyui") + burst(
        "b", 9, 3, prompt=SUBJECTS[3], tool="midjourney"
    )
    assert len(segment(far, RULE)) == 2
    assert len(segment(near, RULE)) == 1


@pytest.mark.parametrize("missing", ["before", "after", "both"])
def test_one_side_without_metadata_leaves_the_time_rule_in_charge(missing: str) -> None:
    before = burst("a", 0, 5, prompt=SUBJECTS[0], model="sdxl", tool="comfyui")
    after = burst("b", 50, 5, prompt=SUBJECTS[0], model="sdxl", tool="comfyui")
    if missing in ("before", "both"):
        before = [Moment(m.asset_id, m.at) for m in before]
    if missing in ("after", "both"):
        after = [Moment(m.asset_id, m.at) for m in after]
    assert labels(before + after, RULE) == labels(before + after, FixedGap(40))


def test_prompt_words_drop_weights_punctuation_and_filler() -> None:
    assert prompt_words("(Red fox:1.2), the SNOW, 8k, a forest") == {"red", "fox", "snow", "8k", "forest"}


def test_the_rules_description_changes_with_any_constant_so_tenants_are_rechecked() -> None:
    """clustering re-checks a tenant's stored sessions when `describe()` changes."""
    time_rule = TempoGap(15, 40, 36, 60)
    base = ContentGap(time_rule, (16, 75))
    variants = [
        time_rule,
        replace(base, band_minutes=(16, 70)),
        replace(base, continues_from=0.5),
        replace(base, join_at=1),
        replace(base, undecided_rule=FixedGap(24)),
        replace(base, time_rule=TempoGap(15, 40, 34, 60)),
    ]
    descriptions = {r.describe() for r in [base, *variants]}
    assert len(descriptions) == len(variants) + 1


def test_a_timeline_restored_with_content_needs_no_recheck() -> None:
    """The service restores moments with their content: the stored partition is what the rule gives."""
    rng = random.Random(8)
    user = generate_user(rng, "restore", PROFILES[1].rhythm)
    t = Timeline(DEFAULT_RULE)
    t.insert_many(user.moments)
    stored = [(m, t.session_of(m.asset_id)) for m in user.moments]
    restored = Timeline.restore(stored, t.manual_edits(), t.merged_into(), DEFAULT_RULE)
    assert restored.set_rule(DEFAULT_RULE) == []
    assert restored.sessions() == t.sessions()


@settings(max_examples=25, deadline=None)
@given(
    profile=st.sampled_from(PROFILES),
    user_seed=st.integers(0, 10**6),
    order_seed=st.integers(0, 10**6),
    cuts=st.lists(st.integers(0, 10**4), max_size=6),
)
def test_generated_users_with_content_any_order_and_chunking_equal_the_batch(
    profile, user_seed: int, order_seed: int, cuts: list[int]
) -> None:  # type: ignore[no-untyped-def]
    """Real-looking content (threads, looks, models, LoRAs, seeds) under the default rule: arrival in any
    order and any chunks gives the batch's sessions, with ids kept stable by the same Changes."""
    rhythm = replace(profile.rhythm, sessions_per_user=(3, 6))
    user = generate_user(random.Random(user_seed), "u", rhythm)
    order = list(user.moments)
    random.Random(order_seed).shuffle(order)
    bounds = sorted({0, len(order), *(c % (len(order) + 1) for c in cuts)})
    t = Timeline(DEFAULT_RULE)
    for lo, hi in itertools.pairwise(bounds):
        t.insert_many(order[lo:hi])
    incremental = {frozenset(t.members(s.session_id)) for s in t.sessions()}
    assert incremental == {frozenset(m.asset_id for m in s) for s in segment(user.moments, DEFAULT_RULE)}
