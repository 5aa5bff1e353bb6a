"""What the curation routes take and give (services/gateway/curation/endpoints.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from libs.lineage.facts import Flag, Relation

# a stack made by hand: at least two images, at most what one page of a session shows many times over
MAX_STACK_ASSETS = 1000


class Link(BaseModel):
    """A parent or a child of an asset: the other asset, how they are related and why we think so."""

    asset_id: uuid.UUID = Field(description="the parent (in `parents`) or the child (in `children`)")
    relation: Relation
    rule: str = Field(description="the rule that made the link, e.g. c2pa-ingredient, same-seed-edit")
    evidence: str = Field(description="what in the files says so, for people")
    confidence: float = Field(ge=0, le=1)
    explicit: bool = Field(description="proven by the file itself, rather than inferred from similarity")
    thumbnail_url: str = Field(description="the other asset's card thumbnail")


class AssetLineage(BaseModel):
    """`GET /assets/{asset_id}/lineage`: what the asset was made from and what was made from it,
    explicit links first, then by confidence."""

    parents: list[Link]
    children: list[Link]


class LineageEdge(BaseModel):
    parent_id: uuid.UUID
    child_id: uuid.UUID
    relation: Relation
    confidence: float = Field(ge=0, le=1)
    explicit: bool


class SessionLineage(BaseModel):
    """`GET /sessions/{session_id}/lineage`: the edges with both ends in the session (the graph)."""

    edges: list[LineageEdge]


class StackCard(BaseModel):
    """Variations of one idea shown as one tile (a single image is a stack of one)."""

    stack_id: uuid.UUID
    cover_asset_id: uuid.UUID = Field(description="the most recent pick, else the last and largest")
    asset_ids: list[uuid.UUID] = Field(description="its images in generation order")
    size: int
    manual: bool = Field(description="made or changed by the person's edits")
    reason: str = Field(description="why these belong together, for people")
    cover_thumbnail_url: str


class SessionStacks(BaseModel):
    """A session's stacks in time order: every image of the session is in exactly one."""

    stacks: list[StackCard]


class ParameterChange(BaseModel):
    name: str = Field(description="seed, sampler, steps, cfg, size or negative prompt")
    before: str | None = Field(description="as people read it, e.g. '7', '832x1216'; null: not set")
    after: str | None


class ModelSwitch(BaseModel):
    before: str | None
    after: str | None


class ChangeStep(BaseModel):
    """What changed from the previous generation of the session to this one."""

    asset_id: uuid.UUID
    previous_asset_id: uuid.UUID
    prompt_added: list[str] = Field(description="prompt words added")
    prompt_removed: list[str] = Field(description="prompt words removed")
    parameters: list[ParameterChange]
    model: ModelSwitch | None = Field(description="null: the same model")
    loras_added: list[str]
    loras_removed: list[str]


class SessionChanges(BaseModel):
    """`GET /sessions/{session_id}/changes`: the change strip, in time order; steps that changed
    nothing are left out."""

    changes: list[ChangeStep]


class FlagRequest(BaseModel):
    flag: Flag | None = Field(description="pick, reject, or null to clear")


class FlagAnswer(BaseModel):
    asset_id: uuid.UUID
    flag: Flag | None


def _distinct(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if len(set(ids)) != len(ids):
        raise ValueError("must name each image once")
    return ids


class StackRequest(BaseModel):
    asset_ids: Annotated[
        list[uuid.UUID], Field(min_length=2, max_length=MAX_STACK_ASSETS), AfterValidator(_distinct)
    ] = Field(description="two or more different images of the session, to stack together by hand")
