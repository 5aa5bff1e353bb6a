"""What a saved search's query and a share request accept (services/gateway/sharing/schemas.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.gateway.sharing.schemas import GalleryQuery, SavedSearchRequest, ShareRequest


def test_gallery_query_keeps_what_was_set_in_the_gallery_s_names() -> None:
    query = GalleryQuery.model_validate(
        {"q": "lighthouse", "lora": "detail", "from": "2024-03-01T10:00:00+02:00", "has_time": True}
    )
    assert query.from_ == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)  # kept in UTC, as the gallery reads it
    assert query.model_dump(mode="json", by_alias=True, exclude_none=True) == {
        "q": "lighthouse", "lora": "detail", "from": "2024-03-01T08:00:00Z", "has_time": True,
    }  # fmt: skip


@pytest.mark.parametrize(
    "query",
    [
        {"colour": "red"},  # not a gallery parameter
        {"has_time": 0},
        {"has_time": "yes"},
        {"from": 1_700_000_000},  # seconds, not a date-time
        {"to": "1700000000"},
        {"tool": ""},
        {"session": "not-an-id"},
        {"q": "x" * 501},
        {"model": "a\x00b"},
    ],
)
def test_gallery_query_refuses_what_the_gallery_would(query: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GalleryQuery.model_validate(query)


def test_saved_search_needs_a_name() -> None:
    assert SavedSearchRequest.model_validate({"name": "  mine ", "query": {}}).name == "mine"
    for body in ({"name": "  ", "query": {}}, {"query": {}}, {"name": "x", "query": {}, "extra": 1}):
        with pytest.raises(ValidationError):
            SavedSearchRequest.model_validate(body)


def test_share_request_bounds() -> None:
    assert ShareRequest.model_validate({"expires_in_days": 1}).show_prompts is False
    assert ShareRequest.model_validate({"expires_in_days": 365, "show_prompts": True}).show_prompts
    for body in ({"expires_in_days": 0}, {"expires_in_days": 366}, {"expires_in_days": "7"}, {},
                 {"expires_in_days": 7, "show_prompts": "yes"}):  # fmt: skip
        with pytest.raises(ValidationError):
            ShareRequest.model_validate(body)
