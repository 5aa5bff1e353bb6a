"""What the accounts routes take and give."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from libs.common.text import clean_text
from services.gateway.accounts.passwords import MAX_LENGTH, weakness


def _text(value: str) -> str:
    """Text PostgreSQL can store and UTF-8 can encode: no NUL, no lone surrogate."""
    if clean_text(value) != value:
        raise ValueError("must be text without NUL characters or unpaired surrogates")
    return value


Text = Annotated[str, AfterValidator(_text)]
# deliberately loose (the one real test of an address is mail reaching it): something@domain.tld
Email = Annotated[
    Text, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
]
Password = Annotated[Text, StringConstraints(max_length=MAX_LENGTH)]


def _not_blank(value: str) -> str:
    # a check of its own: StringConstraints' min_length ran before its strip here, so "   " became ""
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


Name = Annotated[Text, AfterValidator(_not_blank), StringConstraints(max_length=200)]


class SignUp(BaseModel):
    email: Email
    password: Password
    name: Name

    @field_validator("password")
    @classmethod
    def strong_enough(cls, password: str, info: ValidationInfo) -> str:
        """Too weak is a 422 like any invalid field, saying why (see passwords.py)."""
        problem = weakness(password, info.data.get("email") or "")
        if problem is not None:
            raise ValueError(problem)
        return password


class SignIn(BaseModel):
    """`{"email", "password"}` for a person; `{"token"}` (an API token, e.g. the demo's) also opens a
    browser session for that token's workspace."""

    email: Email | None = None
    password: Password | None = None
    token: Annotated[Text, StringConstraints(max_length=200)] | None = None

    @model_validator(mode="after")
    def one_way(self) -> Self:
        if self.token is not None:
            if self.email is not None or self.password is not None:
                raise ValueError("give either a token, or an email and a password")
        elif self.email is None or self.password is None:
            raise ValueError("give an email and a password (or an API token)")
        return self


class Me(BaseModel):
    account_id: uuid.UUID | None = Field(
        description="null for a workspace that only has API tokens (the demo)"
    )
    email: str | None
    name: str | None
    workspace_id: uuid.UUID
    tenant_id: uuid.UUID = Field(description="the same as workspace_id")
    tenant: str = Field(description="the workspace's name")
    time_zone: str


class LoggedOut(BaseModel):
    ok: bool = Field(description="always true: the session is over (or there was none)")


class TokenRequest(BaseModel):
    label: Annotated[Text, StringConstraints(strip_whitespace=True, max_length=100)] = ""


class TokenInfo(BaseModel):
    id: uuid.UUID
    label: str
    prefix: str = Field(description="the token's first characters, to recognise it")
    created_at: datetime
    last_used_at: datetime | None = Field(description="to the minute; null if never used")


class NewToken(TokenInfo):
    token: str = Field(description="the token itself: shown this once, stored only as a digest")
