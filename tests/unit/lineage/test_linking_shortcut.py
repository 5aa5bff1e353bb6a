"""`link` skips the pairs where the newcomer can bring no edge into an earlier relative (the common case,
an arrival in time order). The shortcut must change nothing: here `link` is compared with the same
function without it (every relative through `_edges_into_after`), also on odd stored states a shortcut
could get wrong: explicit and inferred edges into one child side by side, two explicit edges from one
parent, an edge from the newcomer already stored."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from libs.lineage.facts import Edge, Generation
from libs.lineage.linking import (
    LinkChange,
    _edges_into_after,
    _sort_key,
    _wanted_into,
    index_keys,
    inferred_candidate,
    link,
    lookup_keys,
)
from tests.unit.lineage.test_linking import SESSION


def link_without_shortcut(
    new: Generation, others: Sequence[Generation], existing: Sequence[Edge]
) -> LinkChange:
    others = [o for o in others if o.asset_id != new.asset_id]
    current = list(dict.fromkeys(existing))
    change = LinkChange()
    pairs = {o.asset_id: inferred_candidate(o, new) for o in others}
    wanted = set(_wanted_into(new, others, lambda other, _child: pairs[other.asset_id]))
    had = {e for e in current if e.child_id == new.asset_id}
    change.added += sorted(wanted - had, key=_sort_key)
    change.removed += sorted(had - wanted, key=_sort_key)
    into: dict[str, list[Edge]] = {}
    for edge in current:
        into.setdefault(edge.child_id, []).append(edge)
    for other in others:
        edges = [e for e in into.get(other.asset_id, []) if e.parent_id != new.asset_id]
        old_from_new = {e for e in into.get(other.asset_id, []) if e.parent_id == new.asset_id}
        after = _edges_into_after(new, other, edges, pairs[other.asset_id])
        new_from_new = {e for e in after if e.parent_id == new.asset_id}
        dropped = [e for e in edges if e not in after]
        change.added += sorted(new_from_new - old_from_new, key=_sort_key)
        change.removed += sorted((old_from_new - new_from_new) | set(dropped), key=_sort_key)
    return change


def odd_edges(
    rng: random.Random, new: Generation, others: Sequence[Generation], edges: Sequence[Edge]
) -> list[Edge]:
    """A few stored edges no clean fold leaves behind."""
    if not others:
        return []
    odd: list[Edge] = []
    for _ in range(3):
        child, parent = rng.choice(others), rng.choice([*others, new])
        if child.asset_id == parent.asset_id:
            continue
        explicit = rng.random() < 0.5
        odd.append(
            Edge(parent.asset_id, child.asset_id, "img2img" if explicit else "reroll",
                 "test" if explicit else "reroll", "odd", round(rng.random(), 3), explicit)
        )  # fmt: skip
    explicit_edges = [e for e in edges if e.explicit]
    if explicit_edges:  # the same parent twice, another confidence
        e = rng.choice(explicit_edges)
        odd.append(replace(e, confidence=round(e.confidence - 0.01, 6), evidence="again"))
    return odd


@settings(max_examples=15, deadline=None)
@given(st.permutations(range(len(SESSION.gens))), st.randoms(use_true_random=False))
def test_link_gives_what_it_gives_without_the_shortcut(order: list[int], rng: random.Random) -> None:
    by_key: dict[str, set[str]] = {}
    by_reference: dict[str, set[str]] = {}
    gens: dict[str, Generation] = {}
    edges: set[Edge] = set()
    for i in order:
        g = SESSION.gens[i]
        holders = {a for key in lookup_keys(g) for a in by_key.get(key, ())}
        holders |= {a for key in g.facts.keys for a in by_reference.get(key, ())}
        holders.discard(g.asset_id)
        others = [gens[a] for a in sorted(holders)]
        existing = sorted(
            (e for e in edges if {e.parent_id, e.child_id} & (holders | {g.asset_id})), key=_sort_key
        )
        if rng.random() < 0.3:
            existing += odd_edges(rng, g, others, existing)
        got, want = link(g, others, existing), link_without_shortcut(g, others, existing)
        assert sorted(got.added, key=_sort_key) == sorted(want.added, key=_sort_key)
        assert sorted(got.removed, key=_sort_key) == sorted(want.removed, key=_sort_key)
        clean = link(g, others, [e for e in existing if e in edges])
        edges = (edges - set(clean.removed)) | set(clean.added)
        gens[g.asset_id] = g
        for key in index_keys(g):
            by_key.setdefault(key, set()).add(g.asset_id)
        for ref in g.facts.references:
            by_reference.setdefault(ref.key, set()).add(g.asset_id)
