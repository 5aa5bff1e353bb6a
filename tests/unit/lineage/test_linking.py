"""The inferred rules, their evidence and confidence, what they must not link, and that linking one
arrival at a time gives the batch's edges in any order."""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from libs.lineage.facts import Edge, Generation, LineageFacts, Reference
from libs.lineage.linking import NEAR, LinkChange, index_keys, link, link_all, lookup_keys

from .making import T0, gen

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from lineage_families import labelled_session

FOX = "masterpiece, best quality, a red fox in the snow, golden hour, soft light, oil painting"
PHASH_A = "a872df25e2c97684"


def edges_of(gens: Sequence[Generation]) -> set[tuple[str, str, str]]:
    return {(e.parent_id, e.child_id, e.relation) for e in link_all(gens)}


def only_edge(gens: Sequence[Generation]) -> Edge:
    edges = link_all(gens)
    assert len(edges) == 1, edges
    return edges[0]


def test_reroll_same_prompt_new_seed_with_evidence_for_people() -> None:
    edge = only_edge([gen("a", FOX, 1234), gen("b", FOX, 5678, minutes=1)])
    assert (edge.parent_id, edge.child_id, edge.relation, edge.rule) == ("a", "b", "reroll", "reroll")
    assert edge.evidence == "same prompt, seed 1234 -> 5678"
    assert not edge.explicit and 0.8 < edge.confidence <= 0.9


def test_sweep_same_prompt_and_seed_changed_parameters() -> None:
    edge = only_edge([gen("a", FOX, 99, cfg=7.0), gen("b", FOX, 99, cfg=9.0, minutes=1)])
    assert (edge.relation, edge.rule) == ("sweep", "sweep")
    assert edge.evidence == "same prompt and seed 99, cfg 7.0 -> 9.0"


def test_sweep_over_checkpoints_is_a_sweep() -> None:
    edge = only_edge([gen("a", FOX, 99), gen("b", FOX, 99, model="juggernautXL_v9", minutes=1)])
    assert edge.relation == "sweep" and "model dreamshaperXL_turbo -> juggernautXL_v9" in edge.evidence


def test_edit_same_seed_edited_prompt() -> None:
    edited = FOX.replace("golden hour", "blue hour, falling snow")
    edge = only_edge([gen("a", FOX, 3017446621), gen("b", edited, 3017446621, minutes=2)])
    assert (edge.relation, edge.rule) == ("edit", "edit")
    assert edge.evidence.startswith("same seed 3017446621, prompt edited (")
    assert "+blue" in edge.evidence and "-golden" in edge.evidence


def test_edit_with_a_new_seed_needs_most_words_in_common() -> None:
    edited = FOX.replace("soft light", "dramatic clouds")
    edge = only_edge([gen("a", FOX, 1), gen("b", edited, 2, minutes=2)])
    assert (edge.relation, edge.rule) == ("edit", "edit-similar")
    assert edge.confidence < 0.8  # less sure than the same-seed rules


def test_parent_is_the_nearest_earlier_qualifying_generation() -> None:
    gens = [
        gen("a", FOX, 1),
        gen("b", FOX, 2, minutes=1),
        gen("c", FOX, 3, minutes=2),
        gen("d", FOX, 4, minutes=3),
    ]
    assert edges_of(gens) == {("a", "b", "reroll"), ("b", "c", "reroll"), ("c", "d", "reroll")}


def test_a_sweep_of_an_earlier_image_beats_a_nearer_reroll() -> None:
    # a (seed 1), b reroll (seed 2), then c sweeps a's seed: c's parent is a, by the stronger rule
    gens = [gen("a", FOX, 1), gen("b", FOX, 2, minutes=1), gen("c", FOX, 1, cfg=9.0, minutes=2)]
    assert edges_of(gens) == {("a", "b", "reroll"), ("a", "c", "sweep")}


def test_unrelated_images_sharing_a_prompt_word_are_not_linked() -> None:
    gens = [
        gen("fox", FOX, 1),
        gen(
            "lighthouse",
            "masterpiece, best quality, a lighthouse on a cliff, golden hour, oil painting",
            2,
            minutes=1,
        ),
        gen(
            "tea", "masterpiece, best quality, a tea ceremony in kyoto, soft light, watercolor", 3, minutes=2
        ),
    ]
    assert link_all(gens) == []


def test_a_common_seed_with_another_subject_is_not_an_edit() -> None:
    for seed in (0, -1, 42, 1234):
        gens = [
            gen("fox", FOX, seed),
            gen(
                "owl",
                "masterpiece, best quality, a clockwork owl, golden hour, soft light, oil painting",
                seed,
                minutes=1,
            ),
        ]
        assert link_all(gens) == [], seed


def test_an_uncommon_seed_kept_with_a_reworded_prompt_is_an_edit() -> None:
    reworded = "a red fox curled up asleep in the snow under pine trees, oil painting"
    edge = only_edge([gen("a", FOX, 3017446621), gen("b", reworded, 3017446621, minutes=1)])
    assert edge.rule == "edit"


def test_no_inferred_edges_across_tools() -> None:
    assert link_all([gen("a", FOX, 7), gen("b", FOX, 8, tool="comfyui", minutes=1)]) == []
    assert link_all([gen("a", FOX, 7), gen("b", FOX, 7, cfg=3.0, tool="comfyui", minutes=1)]) == []


def test_same_seed_means_nothing_across_models_for_an_edit() -> None:
    """The kept seed lets a reworded prompt count as an edit on one model; on another model the same
    seed draws another picture, so only a prompt similar by itself would do."""
    reworded = "a red fox curled up asleep in the snow under pine trees, oil painting"
    assert (
        link_all(
            [gen("a", FOX, 3017446621), gen("b", reworded, 3017446621, model="sd_xl_base_1.0", minutes=1)]
        )
        == []
    )
    edited = FOX.replace("golden hour", "blue hour")
    edge = only_edge(
        [gen("a", FOX, 3017446621), gen("b", edited, 3017446621, model="sd_xl_base_1.0", minutes=1)]
    )
    assert edge.rule == "edit-similar"
    assert edge.evidence.endswith("seed 3017446621, model dreamshaperXL_turbo -> sd_xl_base_1.0")


def test_not_near_in_time_or_without_a_time_is_not_inferred() -> None:
    far = NEAR + timedelta(minutes=1)
    assert link_all([gen("a", FOX, 1), gen("b", FOX, 2, at=T0 + far)]) == []
    no_time = Generation("b", None, "a1111", FOX, "dreamshaperXL_turbo", 1024, 1024, LineageFacts(seed=2))
    assert link_all([gen("a", FOX, 1), no_time]) == []


def test_same_second_burst_links_in_a_stable_order() -> None:
    burst = [gen(f"b{i}", FOX, 100 + i, minutes=5) for i in range(4)]
    assert edges_of([gen("a", FOX, 1), *burst]) == {
        ("a", "b0", "reroll"),
        ("b0", "b1", "reroll"),
        ("b1", "b2", "reroll"),
        ("b2", "b3", "reroll"),
    }


def test_perceptual_copy_upscale_and_metadata_never_gained() -> None:
    original = gen("orig", FOX, 5, size=(512, 512), phash=PHASH_A)
    bigger = gen(
        "big", None, None, tool=None, model=None, size=(2048, 2048), phash="a872df25e2c97685", minutes=3
    )
    smaller = gen("jpeg", None, None, tool=None, model=None, size=(512, 512), phash=PHASH_A, minutes=4)
    edges = {(e.parent_id, e.child_id, e.relation, e.rule) for e in link_all([original, bigger, smaller])}
    assert ("orig", "big", "upscale", "phash-upscale") in edges
    assert ("orig", "jpeg", "derived", "phash-copy") in edges
    # a file with a prompt is never a copy of a file without one, whatever the time says
    stripped_first = gen(
        "stripped", None, None, tool=None, model=None, size=(512, 512), phash=PHASH_A, minutes=-5
    )
    assert link_all([stripped_first, original]) == []


def test_similar_pixels_with_different_generation_data_is_not_a_copy() -> None:
    a = gen("a", FOX, 5, phash=PHASH_A)
    b = gen("b", "a lighthouse, storm, ink sketch", 6, phash=PHASH_A, minutes=1)
    assert link_all([a, b]) == []


# --------------------------------------------------------------------------- explicit vs inferred


def _with_reference(g: Generation, key: str) -> Generation:
    ref = Reference(
        key=key, relation="img2img", rule="comfyui-loadimage", evidence=f"ComfyUI LoadImage '{key}'"
    )
    facts = g.facts.model_copy(update={"references": [ref]})
    return Generation(g.asset_id, g.generated_at, g.tool, g.prompt, g.model, g.width, g.height, facts)


def _with_keys(g: Generation, *keys: str) -> Generation:
    facts = g.facts.model_copy(update={"keys": list(keys)})
    return Generation(g.asset_id, g.generated_at, g.tool, g.prompt, g.model, g.width, g.height, facts)


def test_an_explicit_parent_arriving_late_replaces_the_inferred_edge() -> None:
    a = gen("a", FOX, 1)
    init = _with_keys(gen("init", None, None, tool=None, model=None, minutes=-30), "file:init.png")
    child = _with_reference(gen("c", FOX, 2, minutes=1), "file:init.png")
    first = link(child, [a], [])
    assert [(e.parent_id, e.relation) for e in first.added] == [("a", "reroll")]
    change = link(init, [child], first.added)
    assert [(e.parent_id, e.child_id, e.relation, e.explicit) for e in change.added] == [
        ("init", "c", "img2img", True)
    ]
    assert change.removed == first.added


def test_a_better_parent_arriving_late_replaces_the_inferred_edge() -> None:
    a, c = gen("a", FOX, 1), gen("c", FOX, 3, minutes=10)
    first = link(c, [a], [])
    assert [e.parent_id for e in first.added] == ["a"]
    b = gen("b", FOX, 2, minutes=9)  # nearer, imported later
    change = link(b, [a, c], first.added)
    assert {(e.parent_id, e.child_id) for e in change.added} == {("a", "b"), ("b", "c")}
    assert change.removed == first.added


def test_linking_an_asset_again_changes_nothing() -> None:
    gens = [gen("a", FOX, 1), gen("b", FOX, 2, minutes=1), gen("c", FOX, 2, cfg=4.0, minutes=2)]
    edges = link_all(gens)
    for g in gens:
        others = [o for o in gens if o.asset_id != g.asset_id]
        assert link(g, others, edges) == LinkChange(added=[], removed=[])


# --------------------------------------------------------------------------- incremental == batch


class Store:
    """What clustering does with the rules: assets under their index keys, candidates by lookup keys
    and by references naming the new asset's keys, the edges touching the candidates."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng  # shuffles the candidates and edges handed to link: their order must not matter
        self.by_key: dict[str, set[str]] = {}
        self.by_reference: dict[str, set[str]] = {}
        self.gens: dict[str, Generation] = {}
        self.edges: set[Edge] = set()

    def add(self, g: Generation) -> None:
        holders = {a for key in lookup_keys(g) for a in self.by_key.get(key, ())}
        holders |= {a for key in g.facts.keys for a in self.by_reference.get(key, ())}
        holders.discard(g.asset_id)
        others = [self.gens[a] for a in sorted(holders)]
        existing = [e for e in self.edges if e.parent_id in holders or e.child_id in holders]
        existing += [e for e in self.edges if g.asset_id in (e.parent_id, e.child_id) and e not in existing]
        if self.rng is not None:
            self.rng.shuffle(others)
            self.rng.shuffle(existing)
        change = link(g, others, existing)
        self.edges -= set(change.removed)
        self.edges |= set(change.added)
        self.gens[g.asset_id] = g
        for key in index_keys(g):
            self.by_key.setdefault(key, set()).add(g.asset_id)
        for ref in g.facts.references:
            self.by_reference.setdefault(ref.key, set()).add(g.asset_id)


SESSION = labelled_session(3, n_images=90, n_ideas=6, distractors=6)
BATCH = set(link_all(SESSION.gens))


def test_the_session_used_below_has_every_kind_of_edge() -> None:
    kinds = {(e.relation, e.explicit) for e in BATCH}
    assert {
        ("reroll", False),
        ("sweep", False),
        ("edit", False),
        ("img2img", True),
        ("upscale", True),
    } <= kinds


@settings(max_examples=25, deadline=None)
@given(st.permutations(range(len(SESSION.gens))), st.randoms(use_true_random=False))
def test_folding_link_in_any_arrival_order_gives_the_batch_edges(
    order: list[int], rng: random.Random
) -> None:
    store = Store(rng)
    for i in order:
        store.add(SESSION.gens[i])
    assert store.edges == BATCH


def test_reimporting_everything_again_keeps_the_edges() -> None:
    store = Store()
    gens = list(SESSION.gens)
    random.Random(5).shuffle(gens)
    for g in gens + gens:
        store.add(g)
    assert store.edges == BATCH


def test_link_all_candidates_from_keys_miss_nothing_the_rules_would_link() -> None:
    """The batch looks candidates up by keys; linking every pair gives the same edges, so the keys
    (prompt, seed, prompt words, pHash bands, references) cover every rule."""
    from libs.lineage import linking

    gens = SESSION.gens
    every_pair = set()
    for child in gens:
        every_pair |= set(linking._wanted_into(child, [g for g in gens if g.asset_id != child.asset_id]))
    assert every_pair == BATCH


def test_an_img2img_that_names_no_parent_is_still_an_img2img() -> None:
    child = gen("b", FOX, 77, minutes=1, generation_mode="img2img")
    edge = only_edge([gen("a", FOX, 1234), child])
    assert (edge.parent_id, edge.relation, edge.rule, edge.explicit) == ("a", "img2img", "reroll", False)
    assert edge.evidence == "img2img (said by the file), same prompt, seed 1234 -> 77"


def test_two_holders_of_a_file_name_in_every_arrival_order() -> None:
    """The nearest earlier holder of a named file is the parent whichever arrives first; the explicit
    parent replaces the inferred one in every order."""
    from itertools import permutations

    child = _with_reference(gen("child", FOX, 3, minutes=60), "file:comfyui_00012_.png")
    gens = [
        _with_keys(gen("old", None, None, tool=None, model=None, minutes=-600), "file:comfyui_00012_.png"),
        _with_keys(gen("recent", None, None, tool=None, model=None, minutes=30), "file:comfyui_00012_.png"),
        _with_keys(gen("later", None, None, tool=None, model=None, minutes=120), "file:comfyui_00012_.png"),
        gen("reroll-parent", FOX, 2, minutes=59),
        child,
    ]
    batch = set(link_all(gens))
    assert {(e.parent_id, e.child_id, e.relation, e.explicit) for e in batch} == {
        ("recent", "child", "img2img", True)
    }
    for order in permutations(gens):
        store = Store()
        for g in order:
            store.add(g)
        assert store.edges == batch, [g.asset_id for g in order]


def test_a_sweep_over_weights_in_the_prompt() -> None:
    a = gen("a", "a red fox, <lora:film_grain:0.6>, (snow:1.2)", 99)
    b = gen("b", "a red fox, <lora:film_grain:0.9>, (snow:1.2)", 99, minutes=1)
    edge = only_edge([a, b])
    assert (edge.relation, edge.evidence) == ("sweep", "same prompt and seed 99, prompt weights changed")
    assert (
        link_all([a, gen("b", a.prompt, 99, minutes=1)]) == []
    )  # the same generation twice: nothing says which
