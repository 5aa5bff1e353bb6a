"""The change strip: what changed from one generation of a session to the next.

People iterate by small steps - a word added, CFG up, another checkpoint - and the strip above the
session's images shows exactly those steps, so how an idea grew reads at a glance. Pure: it compares
the facts ingest already extracted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from libs.lineage.facts import Generation
from libs.lineage.linking import prompt_words


@dataclass(frozen=True)
class ParameterChange:
    name: str  # "seed" | "sampler" | "steps" | "cfg" | "size" | "negative prompt"
    before: str | None
    after: str | None


@dataclass(frozen=True)
class ModelSwitch:
    before: str | None
    after: str | None


@dataclass(frozen=True)
class ChangeStep:
    """From `previous_asset_id` to `asset_id`: words added/removed, parameter, model and LoRA changes."""

    asset_id: str
    previous_asset_id: str
    prompt_added: list[str] = field(default_factory=list)
    prompt_removed: list[str] = field(default_factory=list)
    parameters: list[ParameterChange] = field(default_factory=list)
    model: ModelSwitch | None = None
    loras_added: list[str] = field(default_factory=list)
    loras_removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.prompt_added
            or self.prompt_removed
            or self.parameters
            or self.model
            or self.loras_added
            or self.loras_removed
        )


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _parameters(g: Generation) -> dict[str, str | None]:
    f = g.facts
    return {
        "seed": _text(f.seed),
        "sampler": _text(f.sampler),
        "steps": _text(f.steps),
        "cfg": _text(f.cfg),
        "size": f"{g.width}x{g.height}" if g.width and g.height else None,
        "negative prompt": _text((f.negative_prompt or "").strip()),
    }


def _word_diff(before: list[str], after: list[str]) -> tuple[list[str], list[str]]:
    """Words added and removed, counted (a word written twice and now once is one removal), in the
    order they appear in the prompt."""
    old, new = Counter(before), Counter(after)
    added_left, removed_left = new - old, old - new
    added: list[str] = []
    for word in after:
        if added_left[word] > 0:
            added.append(word)
            added_left[word] -= 1
    removed: list[str] = []
    for word in before:
        if removed_left[word] > 0:
            removed.append(word)
            removed_left[word] -= 1
    return added, removed


def change_step(previous: Generation, current: Generation) -> ChangeStep:
    """What changed from `previous` to `current` (possibly nothing: see `ChangeStep.changed`)."""
    added, removed = _word_diff(prompt_words(previous.prompt), prompt_words(current.prompt))
    before, after = _parameters(previous), _parameters(current)
    parameters = [
        ParameterChange(name, before[name], after[name]) for name in before if before[name] != after[name]
    ]
    model = (
        ModelSwitch(previous.model, current.model)
        if (previous.model or None) != (current.model or None)
        else None
    )
    old_loras, new_loras = list(dict.fromkeys(previous.facts.loras)), list(dict.fromkeys(current.facts.loras))
    return ChangeStep(
        asset_id=current.asset_id,
        previous_asset_id=previous.asset_id,
        prompt_added=added,
        prompt_removed=removed,
        parameters=parameters,
        model=model,
        loras_added=[name for name in new_loras if name not in old_loras],
        loras_removed=[name for name in old_loras if name not in new_loras],
    )


def change_strip(gens_in_time_order: Sequence[Generation]) -> list[ChangeStep]:
    """The steps between consecutive generations where something changed (steps with no change are
    left out: a strip of "nothing changed" says nothing). Images that carry no generation data (an
    upscaled or re-saved copy, a photo) are not generations: they are skipped, so the step after one
    compares with the last generation before it instead of showing every word as added."""
    generations = [g for g in gens_in_time_order if _has_generation_data(g)]
    steps = [change_step(a, b) for a, b in pairwise(generations)]
    return [step for step in steps if step.changed]


def _has_generation_data(g: Generation) -> bool:
    return bool(g.prompt) or g.facts.seed is not None
