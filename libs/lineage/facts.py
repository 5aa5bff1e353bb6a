"""The facts lineage rests on, and what the rules produce.

`LineageFacts` travels on `asset.imported` (so it is a pydantic model, small and JSON-safe): the
generation parameters the inferred rules compare, the keys other files may point at this one by,
and the pointers this file carries to the files it was made from. Ingest fills it from the
`GenerationRecord` and the decoded pixels (`libs.lineage.evidence.lineage_facts`); clustering
stores it and runs the rules.

A key is "<kind>:<value>", e.g. "sha256:<hex>", "file:<basename, lower case>", "c2pa:<instance id>",
"mj:<job id>", "a1111-init:<md5 of the init image's pixels>". A `Reference` names a key of the parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# what a child is of its parent, as the public API names it
Relation = Literal["img2img", "inpaint", "upscale", "edit", "reroll", "sweep", "derived"]
RELATIONS: tuple[Relation, ...] = ("img2img", "inpaint", "upscale", "edit", "reroll", "sweep", "derived")
Flag = Literal["pick", "reject"]


class Reference(BaseModel):
    """A pointer found in a file to another file it was made from (explicit lineage)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(max_length=300)
    relation: Relation
    rule: str = Field(max_length=60)  # e.g. "c2pa-ingredient", "comfyui-loadimage", "a1111-init-hash"
    evidence: str = Field(max_length=300)  # for people: what in the file says so


class LineageFacts(BaseModel):
    """What one asset brings to lineage; every field optional, lists short."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    seed: int | None = None
    negative_prompt: str | None = Field(default=None, max_length=500)
    sampler: str | None = Field(default=None, max_length=100)
    steps: int | None = None
    cfg: float | None = None
    loras: list[str] = Field(default_factory=list, max_length=32)
    phash: str | None = Field(default=None, max_length=32)  # 64-bit perceptual hash, hex
    keys: list[str] = Field(default_factory=list, max_length=32)  # what other files may call this one
    references: list[Reference] = Field(default_factory=list, max_length=32)
    # the file says it was made from a picture (A1111 "Denoising strength" without hires fix, InvokeAI
    # generation_mode) even when it names no parent a key could find: an inferred parent is then an
    # img2img or inpaint, not a reroll. Added after the first contract; absent means not said.
    generation_mode: Literal["img2img", "inpaint"] | None = None


@dataclass(frozen=True)
class Generation:
    """One asset as the rules see it: the event's fields plus its `LineageFacts`."""

    asset_id: str
    generated_at: datetime | None
    tool: str | None
    prompt: str | None
    model: str | None
    width: int | None
    height: int | None
    facts: LineageFacts


@dataclass(frozen=True)
class Edge:
    """parent → child, with the rule that made it, its evidence (for people) and a confidence in [0, 1]."""

    parent_id: str
    child_id: str
    relation: Relation
    rule: str
    evidence: str
    confidence: float
    explicit: bool  # proven by the file (a reference) rather than inferred from similarity


@dataclass(frozen=True)
class Stack:
    """Variations of one idea inside a session, shown as one tile. `stack_id` is deterministic."""

    stack_id: str
    cover_asset_id: str
    asset_ids: tuple[str, ...]  # in generation order
    manual: bool  # made or changed by the person's edits
    reason: str  # why these belong together, for people
