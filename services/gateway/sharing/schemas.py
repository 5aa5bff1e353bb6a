"""What the saved-search and share-link routes take and give."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from libs.common.text import clean_text
from services.gateway.endpoints import FilterText, Flag
from services.gateway.endpoints import Instant as GalleryInstant
from services.gateway.schemas import CoverImage, IsoTime, NameCount


def _text(value: str) -> str:
    """Text PostgreSQL can store and UTF-8 can encode: no NUL, no lone surrogate."""
    if clean_text(value) != value:
        raise ValueError("must be text without NUL characters or unpaired surrogates")
    return value


Text = Annotated[str, AfterValidator(_text)]


def _name(value: str) -> str:
    """Trimmed, and not empty once trimmed. (`StringConstraints(strip_whitespace=True, min_length=1)`
    after an AfterValidator checks the length before stripping: "   " would pass as "".)"""
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _iso_text(value: Any) -> Any:
    """In a JSON body a time is ISO 8601 text, as the schema says, not a number of seconds."""
    if not isinstance(value, str | datetime):
        raise ValueError("must be a date-time such as 2025-03-21T10:00:00Z")
    return value


# the gallery's own parameter types (services/gateway/endpoints.py `asset_filters`): a saved query is
# refused for what the gallery would refuse, and its times are kept in UTC as the gallery reads them
Instant = Annotated[GalleryInstant, BeforeValidator(_iso_text)]


class GalleryQuery(BaseModel):
    """The gallery's filter parameters (`GET /api/v1/assets?q=&tool=&...`), every one optional."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    q: Annotated[Text, StringConstraints(max_length=500)] | None = None
    tool: FilterText | None = None
    model: FilterText | None = None
    lora: FilterText | None = None
    from_: Instant | None = Field(default=None, alias="from")
    to: Instant | None = None
    # strict: the schema says boolean, and 0 or "yes" is not one
    has_time: Annotated[bool, Field(strict=True)] | None = None
    session: uuid.UUID | None = None
    # the keepers view (`flag_filter`): a search saved as "keepers only" must open as keepers only
    flag: Flag | None = Field(
        default=None, description="`pick` for keepers only (or `reject`), as the gallery"
    )
    include_rejected: Annotated[bool, Field(strict=True)] | None = Field(
        default=None, description="rejected assets are left out unless this is true, as in the gallery"
    )


class SavedSearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[Text, StringConstraints(min_length=1, max_length=100), AfterValidator(_name)]
    query: GalleryQuery


class SavedSearch(BaseModel):
    id: uuid.UUID
    name: str
    query: dict[str, Any] = Field(description="the gallery parameters, as given (unset ones left out)")
    created_at: datetime


class ShareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in_days: int = Field(ge=1, le=365, strict=True)
    show_prompts: bool = Field(
        strict=True, default=False, description="show prompts (and prompt phrases) to the link's visitors"
    )


class ShareInfo(BaseModel):
    id: uuid.UUID
    session_id: uuid.UUID = Field(description="the session the link was made for (it follows merges)")
    prefix: str = Field(description="the token's first characters, to recognise it")
    show_prompts: bool
    created_at: datetime
    expires_at: datetime


class NewShare(ShareInfo):
    url: str = Field(
        description="the link: `ATELIER_PUBLIC_ORIGIN` (else the request's origin) + `/s/<token>`"
    )
    token: str = Field(description="the token itself: shown this once, stored only as a digest")


# --- the public view a share link opens (`/s/{token}/...`) ---------------------------------------------


class SharedSummary(BaseModel):
    """The session's summary (as a card's), without its prompt phrases unless the owner allowed prompts."""

    phrases: list[str] | SkipJsonSchema[None] = Field(
        default=None, description="only when the link shows prompts"
    )
    tools: list[NameCount]
    models: list[NameCount]


class SharedAsset(BaseModel):
    """An asset of the shared session: the card of `GET /api/v1/sessions/{id}/assets` with the link's own
    thumbnail URLs; `filename`, `prompt` and `negative_prompt` are left out unless the link shows prompts."""

    filename: str | SkipJsonSchema[None] = Field(default=None, description="only when the link shows prompts")
    format: str | None
    tool: str | None
    prompt: str | None = Field(
        default=None, description="only when the link shows prompts (may be null then)"
    )
    negative_prompt: str | None = Field(default=None, description="only when the link shows prompts")
    model: str | None
    sampler: str | None
    steps: int | None
    cfg: float | None
    width: int | None
    height: int | None
    timestamp_source: str | None
    timestamp_precision: str | None
    asset_id: uuid.UUID
    seed: int | None
    generated_at: IsoTime | None
    dominant_colors: list[str]
    loras: list[str] | SkipJsonSchema[None] = Field(
        default=None, description="only when the link shows prompts"
    )
    thumbnail_url: str = Field(description="the card thumbnail, through the link")
    detail_url: str = Field(description="the larger thumbnail, through the link")


class SharedSession(BaseModel):
    """`GET /s/{token}/session`: the shared session's card fields and its assets in time order."""

    start: IsoTime
    end: IsoTime
    asset_count: int
    precision: str
    updated_at: IsoTime
    summary: SharedSummary
    reflection_summary: str | None = Field(
        description="null unless the link shows prompts (and there is one)"
    )
    show_prompts: bool
    cover: list[CoverImage] = Field(description="thumbnails through the link")
    assets: list[SharedAsset]
