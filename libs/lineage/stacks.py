"""Stacks: the variations of one idea in a session, shown as one tile, with the person's edits on top.

Automatic stacks are the connected groups of the session's lineage edges that are evidence enough
to stack on: every explicit edge except one resting on a file name alone, and inferred edges of at
least `STACK_MIN_CONFIDENCE` (prompt or seed family, or a perceptual-hash match); and, within the
session, images with the same prompt, or the same kept seed on a related prompt, even hours apart. A
file name never stacks anything by itself (the photo tools' top complaint is unrelated images stacked
together).

The person has the last word, and their edits are kept as `StackEdits` (assets moved out or
unstacked stay alone; groups stacked by hand stay together), applied after the automatic grouping
on every recomputation, so they survive re-imports and later imports into the session.

The cover is deterministic: the most recent pick, else the largest picture (the last of equally
large ones: an upscale made last is the keeper the person was working towards); never a reject
unless every member is one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from libs.lineage.facts import Edge, Flag, Generation, Stack
from libs.lineage.linking import COMMON_SEEDS, EDIT_SAME_SEED, normalized_prompt, prompt_weights, similarity

STACK_MIN_CONFIDENCE = 0.5
# explicit rules whose only evidence is a file name: they stack only when the metadata agrees too
FILE_NAME_RULES = frozenset({"comfyui-loadimage", "invokeai-init-image"})

RELATION_WORDS = {
    "reroll": "rerolls",
    "sweep": "parameter sweeps",
    "edit": "prompt edits",
    "upscale": "upscales",
    "derived": "copies",
    "img2img": "img2img passes",
    "inpaint": "inpaints",
}


@dataclass(frozen=True)
class StackEdits:
    """The person's stack edits in one session: `detached` assets stand alone (moved out or
    unstacked), each of `groups` is one stack made by hand. An asset is in at most one of them."""

    detached: frozenset[str] = field(default_factory=frozenset)
    groups: tuple[frozenset[str], ...] = ()


def unstack(edits: StackEdits, stack: Stack) -> StackEdits:
    """Every member of `stack` stands alone from now on (a hand-made group it was is dissolved)."""
    members = frozenset(stack.asset_ids)
    return StackEdits(
        detached=edits.detached | members,
        groups=tuple(g - members for g in edits.groups if len(g - members) >= 2),
    )


def move_out(edits: StackEdits, asset_id: str) -> StackEdits:
    """`asset_id` leaves its stack and stands alone; the rest of the stack stays as it is."""
    return StackEdits(
        detached=edits.detached | {asset_id},
        groups=tuple(g - {asset_id} for g in edits.groups if len(g - {asset_id}) >= 2),
    )


def stack_by_hand(edits: StackEdits, asset_ids: Sequence[str] | frozenset[str]) -> StackEdits:
    """The given assets become one stack, taken out of any other (detached or hand-made) they were in."""
    members = frozenset(asset_ids)
    if len(members) < 2:
        raise ValueError("a stack needs at least two images")
    return StackEdits(
        detached=edits.detached - members,
        groups=(*(g - members for g in edits.groups if len(g - members) >= 2), members),
    )


def _stacking_edge(edge: Edge, by_id: Mapping[str, Generation]) -> bool:
    if edge.rule in FILE_NAME_RULES:
        parent, child = by_id[edge.parent_id], by_id[edge.child_id]
        same_seed = parent.facts.seed is not None and parent.facts.seed == child.facts.seed
        similar = similarity(prompt_weights(parent.prompt), prompt_weights(child.prompt)) >= 0.5
        return (
            same_seed or similar or normalized_prompt(parent.prompt) == normalized_prompt(child.prompt) != ""
        )
    return edge.explicit or edge.confidence >= STACK_MIN_CONFIDENCE


def _same_idea_families(by_id: Mapping[str, Generation], held: frozenset[str] | set[str]) -> list[list[str]]:
    """Assets whose metadata agrees: the same tool and prompt, or the same tool, model and uncommon
    seed with related prompts (what the edit rule asks)."""
    by_prompt: dict[tuple[str | None, str], list[str]] = {}
    by_seed: dict[tuple[str | None, str | None, int], list[str]] = {}
    for asset_id in sorted(by_id):
        g = by_id[asset_id]
        if asset_id in held:
            continue
        prompt = normalized_prompt(g.prompt)
        if prompt:
            by_prompt.setdefault((g.tool, prompt), []).append(asset_id)
        if prompt and g.facts.seed is not None and g.facts.seed not in COMMON_SEEDS:
            by_seed.setdefault((g.tool, g.model, g.facts.seed), []).append(asset_id)
    families = [members for members in by_prompt.values() if len(members) > 1]
    for members in by_seed.values():
        # pairwise within a seed: each prompt weighed once, not once per pair
        weights = [prompt_weights(by_id[a].prompt) for a in members]
        for i, a in enumerate(members):
            for j in range(i + 1, len(members)):
                if similarity(weights[i], weights[j]) >= EDIT_SAME_SEED:
                    families.append([a, members[j]])
    return families


def _order_key(g: Generation) -> tuple[int, datetime, str]:
    # generation order; assets without a time go last, in id order
    return (0, g.generated_at, g.asset_id) if g.generated_at else (1, datetime.min, g.asset_id)


def _cover(members: Sequence[Generation], flags: Mapping[str, Flag]) -> str:
    picks = [g for g in members if flags.get(g.asset_id) == "pick"]
    if picks:
        return picks[-1].asset_id  # members are in generation order: the most recent pick
    candidates = [g for g in members if flags.get(g.asset_id) != "reject"] or list(members)
    best = max(
        enumerate(candidates), key=lambda item: ((item[1].width or 0) * (item[1].height or 0), item[0])
    )
    return best[1].asset_id


def _reason(members: Sequence[Generation], edges: Sequence[Edge]) -> str:
    if len(members) == 1:
        return "single image"
    kinds: dict[str, int] = {}
    for edge in edges:
        word = RELATION_WORDS[edge.relation]
        kinds[word] = kinds.get(word, 0) + 1
    parts = [f"{count} {word}" for word, count in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))]
    return f"{len(members)} variations of one idea: " + ", ".join(parts)


def stack_session(
    gens: Sequence[Generation], edges: Sequence[Edge], edits: StackEdits, flags: Mapping[str, Flag]
) -> list[Stack]:
    """Every asset of the session in exactly one stack (singletons included), in generation order."""
    by_id = {g.asset_id: g for g in gens}
    parent_of: dict[str, str] = {a: a for a in by_id}

    def find(a: str) -> str:
        while parent_of[a] != a:
            parent_of[a] = parent_of[parent_of[a]]
            a = parent_of[a]
        return a

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent_of[max(ra, rb)] = min(ra, rb)

    grouped = {a for g in edits.groups for a in g if a in by_id}
    held = edits.detached | grouped
    used: list[Edge] = []
    touched: set[str] = set()  # assets whose automatic stack lost a member to an edit
    neighbours: dict[str, set[str]] = {}
    for edge in edges:
        if edge.parent_id not in by_id or edge.child_id not in by_id or edge.parent_id == edge.child_id:
            continue
        if not _stacking_edge(edge, by_id):
            continue
        if edge.parent_id in held or edge.child_id in held:
            neighbours.setdefault(edge.parent_id, set()).add(edge.child_id)
            neighbours.setdefault(edge.child_id, set()).add(edge.parent_id)
            continue
        union(edge.parent_id, edge.child_id)
        used.append(edge)
    # An asset taken out leaves the rest of its stack as it was: its relatives stay together through it
    # (a reroll of the image moved out, imported later, still joins the stack it came from).
    for start in held & neighbours.keys():
        seen, pending, kept = {start}, [start], []
        while pending:
            for other in neighbours.get(pending.pop(), ()):
                if other in seen:
                    continue
                seen.add(other)
                if other in held:
                    pending.append(other)
                else:
                    kept.append(other)
        touched.update(kept)
        for other in kept[1:]:
            union(kept[0], other)
    # Within a session the same prompt, or the same hand-kept seed on a related prompt, is one idea even
    # when the person comes back to it hours later (lineage edges stop at NEAR; a session may be longer)
    for family in _same_idea_families(by_id, held):
        for other in family[1:]:
            union(family[0], other)
    for group in edits.groups:
        in_session = sorted(a for a in group if a in by_id)
        for a in in_session[1:]:
            union(in_session[0], a)

    components: dict[str, list[Generation]] = {}
    for asset_id, g in by_id.items():
        components.setdefault(find(asset_id), []).append(g)
    touched_roots = {find(a) for a in touched if a in by_id}
    # each stack's edges, found once: filtering every used edge per stack was quadratic (300 ms for one
    # session of 5,000 images, recomputed on every import into it and every flag)
    used_by_root: dict[str, list[Edge]] = {}
    for e in used:
        used_by_root.setdefault(find(e.child_id), []).append(e)
    stacks: list[Stack] = []
    for root, members in components.items():
        members.sort(key=_order_key)
        ids = tuple(g.asset_id for g in members)
        id_set = set(ids)
        manual = bool(id_set & held) or root in touched_roots
        if any(id_set <= g for g in edits.groups):
            reason = "stacked by hand"
        elif id_set & edits.detached and len(ids) == 1:
            reason = "moved out by hand"
        else:
            reason = _reason(members, used_by_root.get(root, []))
        stacks.append(
            Stack(
                stack_id=ids[0],
                cover_asset_id=_cover(members, flags),
                asset_ids=ids,
                manual=manual,
                reason=reason,
            )
        )
    stacks.sort(key=lambda s: _order_key(by_id[s.asset_ids[0]]))
    return stacks
