"""Sessions: the incremental Timeline must always equal the batch segment() of the same moments,
and its stream of Changes must be enough for the database to hold the same sessions."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.sessions.segmentation import (
    DEFAULT_RULE,
    AdaptiveGap,
    AssetsAssigned,
    Change,
    ContentGap,
    FixedGap,
    ManualEditsChanged,
    Moment,
    SessionMerged,
    SessionRule,
    SessionUpserted,
    TempoGap,
    Timeline,
    segment,
)

BASE = datetime(2024, 3, 9, 14, 0, tzinfo=UTC)
RULES: list[SessionRule] = [
    FixedGap(30),
    FixedGap(5),
    AdaptiveGap(k=0.5, window=2, floor_minutes=2, ceiling_minutes=90),
    TempoGap(factor=3, window=2, floor_minutes=1, ceiling_minutes=120),
    TempoGap(factor=20, window=3, floor_minutes=0, ceiling_minutes=60, batch_seconds=30),
    DEFAULT_RULE,
    # content decides inside a band the generated times often fall in; windows small enough that
    # the examples reach past them (the locality incremental == batch rests on)
    ContentGap(FixedGap(30), (5, 60), context=3, recent_prompts=2, join_at=1, cut_at=1),
    ContentGap(
        TempoGap(factor=3, window=2, floor_minutes=1, ceiling_minutes=120),
        (1, 90),
        context=2,
        recent_prompts=1,
        undecided_rule=FixedGap(10),
    ),
]


def counter_ids() -> itertools.count:
    return itertools.count(1)


def timeline(rule: SessionRule = DEFAULT_RULE) -> Timeline:
    ids = itertools.count(1)
    return Timeline(rule, new_id=lambda: f"s{next(ids)}")


def at(minutes: float, tz: timezone = UTC) -> datetime:
    return (BASE + timedelta(minutes=minutes)).astimezone(tz)


def partition(groups: list[list[str]]) -> set[frozenset[str]]:
    return {frozenset(g) for g in groups}


def timeline_partition(t: Timeline) -> set[frozenset[str]]:
    return partition([t.members(s.session_id) for s in t.sessions()])


def batch_partition(moments: list[Moment], rule: SessionRule, **kw) -> set[frozenset[str]]:
    return partition([[m.asset_id for m in s] for s in segment(moments, rule, **kw)])


@dataclass
class Database:
    """What the clustering service would store, built only from the Changes."""

    session_of: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, SessionUpserted] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)

    def apply(self, changes: list[Change]) -> None:
        for change in changes:
            match change:
                case SessionUpserted():
                    self.sessions[change.session_id] = change
                case AssetsAssigned():
                    for asset in change.asset_ids:
                        self.session_of[asset] = change.session_id
                case SessionMerged():
                    for asset, session in self.session_of.items():
                        if session == change.from_id:
                            self.session_of[asset] = change.into_id
                    del self.sessions[change.from_id]
                    self.redirects[change.from_id] = change.into_id
                case ManualEditsChanged():
                    pass

    def check_equals(self, t: Timeline) -> None:
        assert self.session_of == {a: t.session_of(a) for a in self.session_of}
        live = {s.session_id: s for s in t.sessions()}
        assert set(self.sessions) == set(live)
        for sid, row in self.sessions.items():
            assert (row.start, row.end, row.count) == (live[sid].start, live[sid].end, live[sid].count)
            assert sum(1 for s in self.session_of.values() if s == sid) == row.count
        assert self.redirects == t.merged_into()


# times cluster on a few minutes so that duplicates, same-second batches and every kind of gap occur
minutes = st.one_of(
    st.integers(0, 5),
    st.integers(0, 60),
    st.integers(0, 24 * 60),
    st.sampled_from([0, 0, 0, 1, 30, 31, 90]),
)
zones = st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9, minutes=30))])


# content from small pools, so that prompts continue, seeds share a family, models and tools
# differ or agree, and any of them may be missing
contents = st.fixed_dictionaries(
    {
        "prompt": st.sampled_from(
            [None, "red fox, snow", "red fox, forest, oil painting", "blue whale, ocean"]
        ),
        "model": st.sampled_from([None, "sdxl", "flux"]),
        "tool": st.sampled_from([None, "comfyui", "midjourney"]),
        "seed": st.sampled_from([None, 1, 2, 5000]),
        "loras": st.sampled_from([None, (), ("film_grain",)]),
    }
)


@st.composite
def moment_lists(draw: st.DrawFn, max_size: int = 40) -> list[Moment]:
    specs = draw(
        st.lists(st.tuples(minutes, st.integers(0, 59), zones, st.booleans(), contents), max_size=max_size)
    )
    day_share = draw(st.sampled_from([0, 0, 5]))  # one in five day-precision, in a third of the examples
    with_content = draw(st.booleans())  # half the examples carry content columns
    return [
        Moment(
            f"a{i}",
            at(m, tz) + timedelta(seconds=sec),
            "day" if day_share and i % day_share == 0 and flag else "second",
            **(content if with_content else {}),
        )
        for i, (m, sec, tz, flag, content) in enumerate(specs)
    ]


@st.composite
def moments_in_any_order(draw: st.DrawFn) -> tuple[list[Moment], list[Moment]]:
    moments = draw(moment_lists())
    return moments, draw(st.permutations(moments))


@settings(max_examples=300, deadline=None)
@given(data=moments_in_any_order(), rule=st.sampled_from(RULES))
def test_incremental_after_any_arrival_order_equals_batch(
    data: tuple[list[Moment], list[Moment]], rule: SessionRule
) -> None:
    moments, order = data
    t, db = timeline(rule), Database()
    for moment in order:
        db.apply(t.insert(moment))
    assert timeline_partition(t) == batch_partition(moments, rule)
    db.check_equals(t)
    assert sum(s.count for s in t.sessions()) == len(moments)


@settings(max_examples=150, deadline=None)
@given(
    data=moments_in_any_order(),
    rule=st.sampled_from(RULES),
    edits=st.lists(st.tuples(st.booleans(), st.integers(0, 10**6)), max_size=6),
    split_point=st.integers(0, 40),
)
def test_manual_edits_survive_later_inserts(
    data: tuple[list[Moment], list[Moment]],
    rule: SessionRule,
    edits: list[tuple[bool, int]],
    split_point: int,
) -> None:
    """Edits made after some imports stay in force, and the result is the batch with those edits."""
    moments, order = data
    t, db = timeline(rule), Database()
    before, after = order[:split_point], order[split_point:]
    for moment in before:
        db.apply(t.insert(moment))
    joined: list[tuple[str, str]] = []
    cut: list[str] = []
    for is_split, pick in edits:
        timed = [s for s in t.sessions() if s.precision == "second"]
        if is_split:
            assets = [a for s in timed for a in t.members(s.session_id)]
            if assets:
                asset = assets[pick % len(assets)]
                db.apply(t.split_at(asset))
                cut.append(asset)
                joined = [(a, b) for a, b in joined if b != asset and a != asset]
        elif len(timed) >= 2:
            i = pick % (len(timed) - 1)
            first, second = timed[i], timed[i + 1]
            a, b = t.members(first.session_id)[-1], t.members(second.session_id)[0]
            bigger = first if first.count >= second.count else second
            db.apply(t.merge(first.session_id, second.session_id))
            assert t.session_of(a) == t.session_of(b) == bigger.session_id
            joined.append((a, b))
            cut = [c for c in cut if c != b]
    for moment in after:
        db.apply(t.insert(moment))
    db.check_equals(t)
    assert timeline_partition(t) == batch_partition(moments, rule, edits=t.manual_edits())
    starts = {t.members(s.session_id)[0] for s in t.sessions()}
    for asset in cut:
        assert asset in starts, "a manual cut before an asset stays a cut"
    for a, b in joined:
        assert t.session_of(a) == t.session_of(b), "a manual merge keeps the two joined"


@settings(max_examples=100, deadline=None)
@given(data=moments_in_any_order(), first=st.sampled_from(RULES), second=st.sampled_from(RULES))
def test_changing_the_rule_resegments_to_the_batch_result(
    data: tuple[list[Moment], list[Moment]], first: SessionRule, second: SessionRule
) -> None:
    moments, order = data
    t, db = timeline(first), Database()
    for moment in order:
        db.apply(t.insert(moment))
    db.apply(t.set_rule(second))
    assert timeline_partition(t) == batch_partition(moments, second)
    db.check_equals(t)


@settings(max_examples=100, deadline=None)
@given(data=moments_in_any_order(), rule=st.sampled_from(RULES), cut=st.integers(0, 40))
def test_restore_from_stored_state_continues_identically(
    data: tuple[list[Moment], list[Moment]], rule: SessionRule, cut: int
) -> None:
    _, order = data
    t = timeline(rule)
    for moment in order[:cut]:
        t.insert(moment)
    timed = [s for s in t.sessions() if s.precision == "second"]
    if timed:
        t.split_at(t.members(timed[-1].session_id)[-1])
    stored = [(m, t.session_of(m.asset_id)) for m in order[:cut]]
    ids = itertools.count(1000)
    restored = Timeline.restore(
        stored, t.manual_edits(), t.merged_into(), rule, new_id=lambda: f"r{next(ids)}"
    )
    assert restored.sessions() == t.sessions()
    assert restored.set_rule(rule) == []  # the stored partition is what the rule gives
    for moment in order[cut:]:
        t.insert(moment)
        restored.insert(moment)
    assert timeline_partition(restored) == timeline_partition(t)


def test_merge_keeps_the_larger_sessions_id_and_redirects_the_other() -> None:
    t = timeline(FixedGap(30))
    for i in range(3):
        t.insert(Moment(f"small{i}", at(i)))
    for i in range(5):
        t.insert(Moment(f"big{i}", at(50 + i)))
    small, big = t.session_of("small0"), t.session_of("big0")
    assert small != big
    changes = t.insert(Moment("bridge", at(26)))  # 24 min after small2, 24 min before big0
    assert SessionMerged(small, big) in changes
    assert [s.session_id for s in t.sessions()] == [big]
    assert t.resolve(small) == big
    assert t.members(small) == [*(f"small{i}" for i in range(3)), "bridge", *(f"big{i}" for i in range(5))]


def test_a_split_leaves_the_larger_part_with_the_id() -> None:
    t = timeline(FixedGap(30))
    for i in range(6):
        t.insert(Moment(f"a{i}", at(i)))
    sid = t.session_of("a0")
    changes = t.split_at("a4")
    assert t.session_of("a0") == sid
    moved = [c for c in changes if isinstance(c, AssetsAssigned)]
    assert len(moved) == 1 and moved[0].asset_ids == ("a4", "a5") and moved[0].session_id != sid


def test_a_late_asset_starts_a_session_in_the_past() -> None:
    t = timeline(FixedGap(30))
    t.insert(Moment("today", at(24 * 60)))
    changes = t.insert(Moment("yesterday", at(0)))
    assert [c.session_id for c in changes if isinstance(c, SessionUpserted)] == ["s2"]
    assert [t.members(s.session_id) for s in t.sessions()] == [["yesterday"], ["today"]]


def test_day_precision_never_bridges_timed_sessions() -> None:
    t = timeline(FixedGap(30))
    t.insert(Moment("morning", at(-5 * 60)))
    t.insert(Moment("evening", at(4 * 60)))
    for i in range(10):  # a whole date folder, its times all on the day's midnight
        t.insert(Moment(f"folder{i}", datetime(2024, 3, 9, tzinfo=UTC), "day"))
    groups = [t.members(s.session_id) for s in t.sessions()]
    assert sorted(groups) == sorted([["morning"], ["evening"], [f"folder{i}" for i in range(10)]])


def test_the_products_worked_example_is_two_sessions() -> None:
    """20 images from 2 pm to 3 pm, a break, then 15 from 5 pm to 5:30 pm."""
    moments = [Moment(f"a{i}", at(i * 60 / 19)) for i in range(20)]
    moments += [Moment(f"b{i}", at(180 + i * 30 / 14)) for i in range(15)]
    sessions = segment(moments)
    assert [len(s) for s in sessions] == [20, 15]


def test_equal_times_order_by_asset_id_whatever_the_arrival() -> None:
    batch = [Moment(name, at(0)) for name in "dcba"]
    t = timeline()
    for moment in batch:
        t.insert(moment)
    assert t.members(t.session_of("a")) == ["a", "b", "c", "d"]
    assert [m.asset_id for m in segment(batch)[0]] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.describe())
def test_work_per_insert_stays_bounded_as_the_timeline_grows(rule: SessionRule) -> None:
    """Counted, not timed: the rule is asked about a bounded number of gaps per insert."""
    t = timeline(rule)
    order = list(range(4000))
    # a deterministic shuffle: every insert lands somewhere inside an already long timeline
    order = [order[(i * 2654435761) % len(order)] for i in range(len(order))]
    worst_early = worst_late = 0
    for n, i in enumerate(order):
        before = t.gap_evaluations
        t.insert(Moment(f"a{i}", at(i * 3 + (i % 7) * 11)))
        used = t.gap_evaluations - before
        if n < 100:
            worst_early = max(worst_early, used)
        else:
            worst_late = max(worst_late, used)
    assert worst_late <= 2 * rule.reach + 2
    assert worst_late <= max(worst_early, 2 * rule.reach + 2)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        Moment("a", datetime(2024, 1, 1, 12))


def test_merging_sessions_that_are_not_neighbours_is_refused() -> None:
    t = timeline(FixedGap(30))
    for name, minute in [("a", 0), ("b", 60), ("c", 120)]:
        t.insert(Moment(name, at(minute)))
    with pytest.raises(ValueError, match="neighbours"):
        t.merge(t.session_of("a"), t.session_of("c"))


def test_the_tempo_rule_scales_with_the_users_own_rhythm() -> None:
    """The same 25-min pause cuts a fast user's work but not a slow user's."""
    rule = TempoGap(factor=10, window=10, floor_minutes=20, ceiling_minutes=90)
    fast = [Moment(f"f{i}", at(i * 0.25)) for i in range(30)]  # a prompt every 15 s
    fast += [Moment(f"g{i}", at(7.25 + 25 + i * 0.25)) for i in range(30)]
    slow = [Moment(f"s{i}", at(i * 3)) for i in range(15)]  # a prompt every 3 min
    slow += [Moment(f"t{i}", at(42 + 25 + i * 3)) for i in range(15)]
    assert len(segment(fast, rule)) == 2
    assert len(segment(slow, rule)) == 1
    assert len(segment([*slow, Moment("later", at(400))], rule)) == 2  # the ceiling always cuts


def test_the_tempo_rule_ignores_same_second_batches() -> None:
    """Four images per prompt at the same second do not make the user look four times faster."""
    rule = TempoGap(factor=10, window=10, floor_minutes=20, ceiling_minutes=90)
    moments = [Moment(f"a{i}-{k}", at(i * 3)) for i in range(15) for k in range(4)]
    moments += [Moment(f"b{i}-{k}", at(67 + i * 3)) for i in range(15) for k in range(4)]
    assert len(segment(moments, rule)) == 1


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.describe())
@given(
    gaps=st.lists(
        st.one_of(
            st.floats(min_value=0, max_value=6 * 3600, allow_nan=False),
            # the rules' own thresholds, exactly: the floor and ceiling comparisons must agree there
            st.sampled_from([0.0, 60.0, 120.0, 300.0, 1320.0, 1800.0, 3600.0, 5400.0, 7200.0]),
        ),
        min_size=1,
        max_size=90,
    ),
    data=st.data(),
)
@settings(max_examples=150, deadline=None)
def test_a_gap_settled_by_its_length_gets_the_rules_own_answer(
    rule: SessionRule, gaps: list[float], data: st.DataObject
) -> None:
    """The shortcut `_boundaries` takes for most gaps must never disagree with `is_boundary`."""
    index = data.draw(st.integers(min_value=0, max_value=len(gaps) - 1))
    lo, hi = max(0, index - rule.reach), min(len(gaps), index + rule.reach + 1)
    settled = rule.settled_by_length(gaps[index])
    if settled is not None:
        assert settled == rule.is_boundary(gaps[lo:hi], index - lo)


@settings(max_examples=300, deadline=None)
@given(
    data=moments_in_any_order(),
    rule=st.sampled_from(RULES),
    cuts=st.lists(st.integers(0, 40), max_size=4),
    repeats=st.lists(st.integers(0, 40), max_size=3),
)
def test_inserting_in_batches_equals_batch_segmentation(
    data: tuple[list[Moment], list[Moment]], rule: SessionRule, cuts: list[int], repeats: list[int]
) -> None:
    """insert_many over any chunks of any arrival order (with some moments announced twice, once with
    another time) gives the batch result, and its Changes keep the database equal to the timeline."""
    moments, order = data
    bounds = sorted({0, len(order), *(c % (len(order) + 1) for c in cuts)})
    t, db = timeline(rule), Database()
    placed: list[str] = []
    for lo, hi in itertools.pairwise(bounds):
        chunk = order[lo:hi]
        for r in repeats:  # again, identical (a no-op) and at another time (refused)
            if chunk:
                again = chunk[r % len(chunk)]
                chunk = [
                    *chunk,
                    again,
                    replace(again, prompt="another prompt", seed=7),  # same time: a re-import, no-op
                    Moment(again.asset_id, again.at + timedelta(seconds=1), again.precision),
                ]
        changes, new, refused = t.insert_many(chunk)
        db.apply(changes)
        placed += [m.asset_id for m in new]
        assert all(m.at != next(o for o in order if o.asset_id == m.asset_id).at for m, _ in refused)
    assert sorted(placed) == sorted(m.asset_id for m in moments)
    assert timeline_partition(t) == batch_partition(moments, rule)
    db.check_equals(t)
    assert sum(s.count for s in t.sessions()) == len(moments)


def test_a_batch_in_time_order_re_decides_few_gaps() -> None:
    """The point of insert_many: k assets appended in time order cost about k + 2·reach rule calls."""
    t = timeline(DEFAULT_RULE)
    t.insert_many([Moment(f"a{i}", at(i * 0.5)) for i in range(200)])
    before = t.gap_evaluations
    t.insert_many([Moment(f"b{i}", at(100 + i * 0.5)) for i in range(100)])
    assert t.gap_evaluations - before <= 100 + 2 * DEFAULT_RULE.reach + 2
