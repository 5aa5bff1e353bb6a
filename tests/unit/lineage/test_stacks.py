"""Stacks: evidence-based grouping, a deterministic cover, and the person's edits surviving imports."""

from __future__ import annotations

import pytest

from libs.lineage.facts import Edge, Flag, Generation
from libs.lineage.linking import link_all
from libs.lineage.stacks import StackEdits, move_out, stack_by_hand, stack_session, unstack

from .making import gen

FOX = "masterpiece, a red fox in the snow, golden hour, oil painting"
OWL = "masterpiece, a clockwork owl on a desk, candlelight, ink sketch"


def session() -> list[Generation]:
    return [
        gen("f1", FOX, 1),
        gen("o1", OWL, 10, minutes=1),
        gen("f2", FOX, 2, minutes=2),
        gen("f3", FOX, 2, cfg=9.0, minutes=3),
        gen("o2", OWL, 11, minutes=4),
        gen("lone", "a koi pond at dawn, watercolor", 99, minutes=5),
    ]


def stacks_of(gens: list[Generation], edits: StackEdits) -> list[tuple[str, ...]]:
    return [s.asset_ids for s in stack_session(gens, link_all(gens), edits, {})]


def test_each_asset_in_exactly_one_stack_in_time_order_singletons_included() -> None:
    gens = session()
    result = stack_session(gens, link_all(gens), StackEdits(), {})
    assert [s.asset_ids for s in result] == [("f1", "f2", "f3"), ("o1", "o2"), ("lone",)]
    assert [s.stack_id for s in result] == ["f1", "o1", "lone"]  # the first member: stable across imports
    assert sorted(a for s in result for a in s.asset_ids) == sorted(g.asset_id for g in gens)
    assert result[0].reason == "3 variations of one idea: 1 parameter sweeps, 1 rerolls"
    assert result[2].reason == "single image" and not any(s.manual for s in result)


def test_cover_is_the_last_and_largest_then_the_most_recent_pick_never_a_reject() -> None:
    gens = [gen("a", FOX, 1), gen("b", FOX, 2, minutes=1), gen("c", FOX, 3, minutes=2)]
    up = gen("up", FOX, 1, size=(2048, 2048), minutes=3)  # a sweep by size: the largest
    edges = link_all([*gens, up])
    assert stack_session([*gens, up], edges, StackEdits(), {})[0].cover_asset_id == "up"
    assert (
        stack_session(gens, link_all(gens), StackEdits(), {})[0].cover_asset_id == "c"
    )  # equal sizes: the last
    flags: dict[str, Flag] = {"a": "pick", "b": "pick", "up": "reject"}
    assert stack_session([*gens, up], edges, StackEdits(), flags)[0].cover_asset_id == "b"
    assert stack_session([*gens, up], edges, StackEdits(), {"up": "reject"})[0].cover_asset_id == "c"
    all_rejected: dict[str, Flag] = {g.asset_id: "reject" for g in [*gens, up]}
    assert stack_session([*gens, up], edges, StackEdits(), all_rejected)[0].cover_asset_id == "up"


def test_a_file_name_alone_never_stacks() -> None:
    parent, child = gen("p", FOX, 1), gen("c", OWL, 2, minutes=1)
    by_name = Edge("p", "c", "img2img", "comfyui-loadimage", "ComfyUI LoadImage 'p.png'", 0.9, True)
    assert [s.asset_ids for s in stack_session([parent, child], [by_name], StackEdits(), {})] == [
        ("p",),
        ("c",),
    ]
    same_idea = gen("c", FOX.replace("golden hour", "night"), 2, minutes=1)
    assert [s.asset_ids for s in stack_session([parent, same_idea], [by_name], StackEdits(), {})] == [
        ("p", "c")
    ]


def test_a_weak_inferred_edge_does_not_stack() -> None:
    weak = Edge("f1", "o1", "edit", "edit-similar", "prompt edited", 0.3, False)
    assert len(stack_session(session()[:2], [weak], StackEdits(), {})) == 2


def test_move_out_unstack_and_stack_by_hand() -> None:
    gens = session()
    edits = move_out(StackEdits(), "f2")
    result = stack_session(gens, link_all(gens), edits, {})
    # f2 stands alone; the rest of its stack stays together (through it)
    assert [s.asset_ids for s in result] == [("f1", "f3"), ("o1", "o2"), ("f2",), ("lone",)]
    assert result[0].manual
    moved = next(s for s in result if s.asset_ids == ("f2",))
    assert moved.manual and moved.reason == "moved out by hand"

    owls = next(s for s in stack_session(gens, link_all(gens), StackEdits(), {}) if s.stack_id == "o1")
    edits = unstack(StackEdits(), owls)
    assert ("o1",) in stacks_of(gens, edits) and ("o2",) in stacks_of(gens, edits)

    edits = stack_by_hand(edits, ["o2", "lone"])
    assert "o2" not in edits.detached
    result = stack_session(gens, link_all(gens), edits, {})
    by_hand = next(s for s in result if "lone" in s.asset_ids)
    assert by_hand.asset_ids == ("o2", "lone") and by_hand.manual and by_hand.reason == "stacked by hand"


def test_stack_by_hand_needs_two_and_takes_assets_from_other_hand_stacks() -> None:
    with pytest.raises(ValueError):
        stack_by_hand(StackEdits(), ["a"])
    edits = stack_by_hand(stack_by_hand(StackEdits(), ["a", "b", "c"]), ["c", "d"])
    assert edits.groups == (frozenset({"a", "b"}), frozenset({"c", "d"}))
    assert move_out(edits, "d").groups == (frozenset({"a", "b"}),)


def test_edits_survive_reimport_and_later_imports() -> None:
    gens = session()
    edits = stack_by_hand(move_out(StackEdits(), "f3"), ["o1", "lone"])
    before = stack_session(gens, link_all(gens), edits, {})
    # the same files again (any order): the same stacks
    again = list(reversed(gens))
    assert stack_session(again, link_all(again), edits, {}) == before
    # later imports: a new fox reroll joins the fox stack, the edits still hold
    later = [*gens, gen("f4", FOX, 4, minutes=30), gen("o3", OWL, 12, minutes=31)]
    result = {s.asset_ids for s in stack_session(later, link_all(later), edits, {})}
    assert ("f1", "f2", "f4") in result
    assert ("f3",) in result
    assert ("o1", "lone") in result
    assert ("o2", "o3") in result


def test_within_a_session_the_same_prompt_or_kept_seed_hours_later_is_the_same_idea() -> None:
    """Lineage edges stop at NEAR (6 h); a long session coming back to an idea still stacks it."""
    later = 8 * 60
    night = FOX.replace("golden hour", "night")
    gens = [
        gen("f1", FOX, 1),
        gen("kept", night, 3017446621, minutes=1),
        gen("c1", OWL, 42, minutes=2),
        gen("f2", FOX, 2, minutes=later),  # the same prompt, 8 hours later
        gen("c2", "masterpiece, a grey wolf on a ridge, golden hour, oil painting", 42, minutes=later + 1),
    ]
    edges = link_all(gens)
    assert {(e.parent_id, e.child_id) for e in edges} == {("f1", "kept")}  # nothing across 8 hours
    stacks = [s.asset_ids for s in stack_session(gens, edges, StackEdits(), {})]
    assert stacks == [("f1", "kept", "f2"), ("c1",), ("c2",)]  # a common seed is no family
    moved = [s.asset_ids for s in stack_session(gens, edges, move_out(StackEdits(), "f2"), {})]
    assert moved == [("f1", "kept"), ("c1",), ("f2",), ("c2",)]

    asleep = "masterpiece, a red fox asleep under pines, ink sketch"  # the kept seed, a related prompt
    gens = [gen("kept", night, 3017446621), gen("asleep", asleep, 3017446621, minutes=later)]
    assert link_all(gens) == []
    assert [s.asset_ids for s in stack_session(gens, [], StackEdits(), {})] == [("kept", "asleep")]
