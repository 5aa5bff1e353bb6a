"""What the reflection routes take and give."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field


class Quote(BaseModel):
    """What a reflection of this session costs, valid until `expires_at`."""

    quote_id: uuid.UUID
    credits: int
    expires_at: str
    model: str = Field(description="the curator's model; 'builtin' is the offline curator")


class Unprocessable(BaseModel):
    """422: the session is too small (`detail` says so), or the request is malformed (the list of what)."""

    detail: str | list[dict[str, Any]]


class ReflectionRequest(BaseModel):
    quote_id: uuid.UUID


class ReflectionAccepted(BaseModel):
    reflection_id: uuid.UUID
    status: str


class Statement(BaseModel):
    text: str
    asset_ids: list[str]


class Reflection(BaseModel):
    """A reflection: `status` pending, running, completed or failed; its parts once completed."""

    reflection_id: uuid.UUID
    session_id: uuid.UUID
    status: str
    model: str | None
    curator: str | None
    summary: str | None = Field(description="Summary of exploration: one paragraph")
    summary_statements: list[Statement]
    style_patterns: list[Statement]
    evolution_notes: list[Statement]
    facts: list[dict[str, Any]] = Field(description="the measured facts it rests on, each with its asset ids")
    credits_reserved: int | None
    credits_charged: int | None
    error: str | None
    created_at: str
    completed_at: str | None
