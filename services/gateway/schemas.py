"""What the gateway's JSON routes answer, for the OpenAPI document a typed client is generated from
(openapi-typescript, web/).

Each model names every key its route sends, in the order the route builds it, with the key's
nullability: a route that returns a dict is validated and serialised through its model
(`response_model=`), and a route that builds its own `JSONResponse` (paged lists with their headers
and ETag, a session with its ETag) declares its model for the document only, so its body stays the
bytes it always was. tests/integration/test_openapi_types.py checks real bodies against these models,
key for key.

Times the routes send as `datetime.isoformat()` text ("2025-03-21T10:00:00+00:00") are typed as that
text (`IsoTime`, a string with format date-time): read back into a `datetime` and serialised again,
pydantic would write "...Z" and change the body.

Accounts and sharing keep their own models (services/gateway/accounts/schemas.py,
services/gateway/sharing/schemas.py); the share link's view of a session is there.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

# ISO 8601 text as `datetime.isoformat()` writes it, with its offset
IsoTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
# the group a session card falls in, in the tenant's time zone (weeks start on Monday)
SessionGroup = Literal["today", "this_week", "earlier"]


class CoverImage(BaseModel):
    """One of a session card's cover images."""

    asset_id: uuid.UUID
    thumbnail_url: str = Field(description="the asset's card thumbnail")


class NameCount(BaseModel):
    name: str
    count: int = Field(description="how many of the session's assets have it")


class SessionSummary(BaseModel):
    """What a session is about before any reflection (libs/sessions/summary.py): top prompt phrases
    (at most 5), tools and models (at most 3 each), most frequent first."""

    phrases: list[str]
    tools: list[NameCount]
    models: list[NameCount]


class SessionCard(BaseModel):
    """A session as the timeline shows it (`session_json` in services/gateway/endpoints.py)."""

    id: uuid.UUID
    start: IsoTime
    end: IsoTime
    asset_count: int = Field(description="every image in the session, rejected ones too")
    rejected_count: int = Field(
        description="how many of them the person rejected: lists hide these unless asked, and the cover leaves them out"
    )
    precision: str = Field(description="how precise the session's times are: second, minute, day, ...")
    group: SessionGroup = Field(description="today, this_week or earlier, in the tenant's time zone")
    cover: list[CoverImage]
    updated_at: IsoTime
    reflection_summary: str | None = Field(description="null until the session has a reflection")
    summary: SessionSummary


class AssetCard(BaseModel):
    """An asset as a session lists it (`asset_json`); the gallery's adds its session."""

    filename: str
    format: str | None = Field(description="PNG, JPEG, WEBP, ...")
    tool: str | None
    prompt: str | None
    negative_prompt: str | None
    model: str | None
    sampler: str | None
    steps: int | None
    cfg: float | None
    width: int | None
    height: int | None
    timestamp_source: str | None = Field(description="where generated_at was read from")
    timestamp_precision: str | None
    asset_id: uuid.UUID
    seed: int | None
    generated_at: IsoTime | None = Field(description="null: no usable time (the asset is in no session)")
    dominant_colors: list[str]
    loras: list[str] = Field(description="the LoRA names it used: lower case, no folder or extension")
    thumbnail_url: str = Field(description="the card thumbnail (WebP)")
    detail_url: str = Field(description="the larger thumbnail (WebP)")
    flag: Literal["pick", "reject"] | None = Field(
        description="the person's pick or reject (keyboard P / X; U clears it); null: unflagged"
    )


class GalleryAsset(AssetCard):
    """An asset of the gallery and search (`GET /assets`): the card and the session it is in."""

    session_id: uuid.UUID | None = Field(description="null while the asset is in no session")


class AssetDetail(GalleryAsset):
    """`GET /assets/{asset_id}`: the card, its content hash and everything its metadata reader found."""

    sha256: str
    metadata: dict[str, Any] = Field(description="the raw metadata blocks read from the file, as JSON")
    metadata_error: str | None = Field(description="why the metadata could not be read, if it could not")


class SessionDetail(SessionCard):
    """`GET /sessions/{session_id}`: the card and its assets in time order."""

    merged_from: uuid.UUID | None = Field(
        description="the id asked for, when it was merged into this session; else null"
    )
    previous_session_id: uuid.UUID | None = Field(description="the session just before it in time, if any")
    next_session_id: uuid.UUID | None = Field(description="the session just after it in time, if any")
    assets: list[AssetCard]


class QuarantinedFile(BaseModel):
    """A file that could not be imported, with the reason."""

    asset_id: uuid.UUID
    filename: str
    reason: str
    at: IsoTime


class FacetValue(BaseModel):
    value: str
    count: int


class Facets(BaseModel):
    """The filter menus: each facet's 50 most frequent values with their counts (`X-Facets-Exact`)."""

    tool: list[FacetValue]
    model: list[FacetValue]
    lora: list[FacetValue]


class UploadResult(BaseModel):
    """One result per file of an upload, in order (a zip: one per entry)."""

    filename: str = Field(description="as sent; a zip's entries as archive.zip/inner/path.png")
    status: Literal["queued", "imported", "duplicate", "rejected"]
    asset_id: uuid.UUID | None = Field(description="null when rejected")
    # present only when rejected (never null): SkipJsonSchema keeps null out of the document
    reason: str | SkipJsonSchema[None] = Field(default=None, description="why it was rejected")


class KnownHashes(BaseModel):
    known: list[str] = Field(description="the SHA-256s asked about that the workspace already has, sorted")


class TimeZone(BaseModel):
    time_zone: str = Field(description="an IANA name, e.g. Europe/Paris")


class ConnectedFolder(BaseModel):
    """A connected folder, as ingest reports it."""

    id: uuid.UUID
    path: str
    status: Literal["pending", "watching", "error"]
    error: str | None
    created_at: IsoTime
    last_scan_at: IsoTime | None = Field(description="when a scan of the whole folder last ended")
    file_count: int


class EditedSessions(BaseModel):
    """A split's answer: the sessions the edit left, in time order."""

    sessions: list[SessionCard]


class MergedSessions(EditedSessions):
    """A merge's answer: the survivor, and the id that now redirects to it."""

    merged_from: list[uuid.UUID]


class SessionGap(BaseModel):
    gap_minutes: int | None = Field(description="minutes of pause that start a new session; null: automatic")


class SessionRuleChange(SessionGap):
    """The setting, the rule in words and the newest sessions (at most 100) after re-segmenting."""

    rule: str = Field(description='e.g. "fixed gap 30 min"')
    sessions: list[SessionCard]
