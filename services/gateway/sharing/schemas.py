"""What the saved-search and share-link routes take and give."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from libs.common.text import clean_text


def _text(value: str) -> str:
    """Text PostgreSQL can store and UTF-8 can encode: no NUL, no lone surrogate."""
    if clean_text(value) != value:
        raise ValueError("must be text without NUL characters or unpaired surrogates")
    return value


Text = Annotated[str, AfterValidator(_text)]


def _iso_text(value: Any) -> Any:
    """A time is ISO 8601 text, as the schema says (not a number of seconds)."""
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time")
    return value


Instant = Annotated[datetime, BeforeValidator(_iso_text)]
Short = Annotated[Text, StringConstraints(max_length=200)]


class GalleryQuery(BaseModel):
    """The gallery's filter parameters (`GET /api/v1/assets?q=&tool=&...`), every one optional."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    q: Annotated[Text, StringConstraints(max_length=500)] | None = None
    tool: Short | None = None
    model: Short | None = None
    lora: Short | None = None
    from_: Instant | None = Field(default=None, alias="from")
    to: Instant | None = None
    # strict: the schema says boolean, and 0 or "yes" is not one
    has_time: Annotated[bool, Field(strict=True)] | None = None
    session: uuid.UUID | None = None


class SavedSearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
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
