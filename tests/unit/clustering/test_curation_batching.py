"""Clustering links an import batch one asset at a time (`curation.link_batch`): whatever the batch
boundaries and the arrival order, the stored edges are the ones `link_all` gives for all assets at once."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from libs.common.events import Event, LineageLinked
from libs.lineage.facts import Edge, Generation, LineageFacts, Reference
from libs.lineage.linking import index_keys, link_all, lookup_keys
from libs.lineage.stacks import StackEdits
from services.clustering.curation import Linked, _linked_events, edits_within, link_batch

T0 = datetime(2024, 7, 2, 10, 0, tzinfo=UTC)


def gen(n: int, prompt: str, seed: int, *, cfg: float = 7.0, minutes: int = 0, **facts: object) -> Generation:
    return Generation(
        asset_id=str(uuid.UUID(int=n)),
        generated_at=T0 + timedelta(minutes=minutes),
        tool="automatic1111",
        prompt=prompt,
        model="sdxl_base",
        width=512,
        height=512,
        facts=LineageFacts(seed=seed, cfg=cfg, steps=20, sampler="Euler a", **facts),  # type: ignore[arg-type]
    )


def family() -> list[Generation]:
    lighthouse = "a lighthouse on a cliff at dawn, oil painting"
    return [
        gen(1, lighthouse, 101, minutes=0, keys=["sha256:" + "1" * 64]),
        gen(2, lighthouse, 102, minutes=1),  # reroll
        gen(3, lighthouse, 103, minutes=2),  # reroll
        gen(4, lighthouse, 101, cfg=9.0, minutes=3),  # sweep
        gen(5, lighthouse + ", at sunset", 101, minutes=4),  # edit
        gen(6, "a red bicycle leaning on a wall, oil painting", 555, minutes=5),  # unrelated
        # names a parent by a key only asset 1 holds: explicit, whatever the order
        gen(
            7,
            "a lighthouse in a storm",
            777,
            minutes=6,
            references=[
                Reference(key="sha256:" + "1" * 64, relation="img2img", rule="test", evidence="test")
            ],
        ),
    ]


def fold(batches: Sequence[Sequence[Generation]]) -> set[Edge]:
    """Link batch after batch as clustering does: each batch sees the stored assets its keys fetch."""
    stored: dict[str, Generation] = {}
    edges: set[Edge] = set()
    for batch in batches:
        relatives: dict[int, list[str]] = {}
        for i, g in enumerate(batch):
            wanted = set(lookup_keys(g))
            own = set(g.facts.keys)
            relatives[i] = [
                a
                for a, s in stored.items()
                if wanted & set(index_keys(s)) or any(r.key in own for r in s.facts.references)
            ]
        ids = {a for rel in relatives.values() for a in rel}
        touching = [e for e in edges if e.parent_id in ids or e.child_id in ids]
        change = link_batch(batch, stored, relatives, touching)
        edges = (edges - set(change.removed)) | set(change.added)
        stored |= {g.asset_id: g for g in batch}
    return edges


def test_one_batch_gives_the_edges_of_link_all() -> None:
    gens = family()
    expected = set(link_all(gens))
    assert {(e.parent_id[-1], e.child_id[-1], e.relation) for e in expected} >= {
        ("1", "2", "reroll"),
        ("1", "4", "sweep"),
        ("1", "7", "img2img"),
    }
    assert not any(
        "6" in (e.parent_id[-1], e.child_id[-1]) for e in expected
    )  # the shared word links nothing
    assert fold([gens]) == expected


@pytest.mark.parametrize("seed", range(8))
def test_any_order_and_any_batches_give_the_same_edges(seed: int) -> None:
    gens = family()
    expected = set(link_all(gens))
    rng = random.Random(seed)
    rng.shuffle(gens)
    cuts = sorted(rng.sample(range(1, len(gens)), 2))
    batches = [gens[: cuts[0]], gens[cuts[0] : cuts[1]], gens[cuts[1] :]]
    assert fold(batches) == expected
    assert fold([[g] for g in gens]) == expected


def test_a_batch_already_linked_changes_nothing() -> None:
    gens = family()
    edges = set(link_all(gens))
    stored = {g.asset_id: g for g in gens}
    # the same assets again (a redelivery that got past the facts check) against what is stored
    relatives = {i: [a for a in stored if a != g.asset_id] for i, g in enumerate(gens)}
    change = link_batch(gens, stored, relatives, sorted(edges, key=lambda e: (e.parent_id, e.child_id)))
    assert change.removed == [] and set(change.added) <= edges


def test_stack_edits_bear_on_one_session_only() -> None:
    edits = StackEdits(
        detached=frozenset({"a", "x"}), groups=(frozenset({"b", "c", "y"}), frozenset({"d", "z"}))
    )
    assert edits_within(edits, {"a", "b", "c", "d"}) == StackEdits(
        detached=frozenset({"a"}), groups=(frozenset({"b", "c"}),)
    )


def test_lineage_linked_events_stay_small() -> None:
    edges = [
        Edge(
            str(uuid.UUID(int=i)), str(uuid.UUID(int=i + 1000)), "reroll", "reroll", "same prompt", 0.8, False
        )
        for i in range(450)
    ]
    tenant = uuid.uuid4()
    events = _linked_events(Linked(added=edges, removed=edges[:10]), tenant, None)
    assert [len(e.payload["edges"]) for e in events] == [200, 200, 50]
    assert [len(e.payload["removed"]) for e in events] == [10, 0, 0]
    parsed = [Event.model_validate_json(e.to_bytes()).body() for e in events]
    assert all(isinstance(p, LineageLinked) for p in parsed)
    assert _linked_events(Linked(), tenant, None) == []
