"""A session's summary (top prompt phrases, tools, models) from its members, without any I/O."""

from __future__ import annotations

from libs.sessions.summary import MemberGroup, phrases, summarize


def test_prompt_syntax_and_boilerplate_are_not_phrases() -> None:
    prompt = "masterpiece, best quality, (a lighthouse at dusk:1.3), [oil painting], <lora:film_grain:0.6>, Dramatic Light."
    assert phrases(prompt) == ["a lighthouse at dusk", "oil painting", "dramatic light"]


def test_long_natural_language_pieces_are_shortened() -> None:
    assert phrases("a tiny robot watering a garden of glass flowers under a violet sky") == [
        "a tiny robot watering a garden"
    ]


def test_top_phrases_count_images_and_prefer_what_recurs() -> None:
    summary = summarize([
        MemberGroup("a lighthouse at dusk, oil painting", "comfyui", "sdxl_base", 30),
        MemberGroup("a lighthouse at dusk, watercolor", "comfyui", "sdxl_base", 12),
        MemberGroup("a lighthouse at dawn, oil painting", "a1111", "juggernaut", 5),
        MemberGroup("a one-off experiment", "a1111", "juggernaut", 1),
        MemberGroup(None, "midjourney", None, 2),
    ])  # fmt: skip
    assert summary["phrases"] == [
        "a lighthouse at dusk",
        "oil painting",
        "watercolor",
        "a lighthouse at dawn",
    ]
    assert summary["tools"] == [{"name": "comfyui", "count": 42}, {"name": "a1111", "count": 6},
                                {"name": "midjourney", "count": 2}]  # fmt: skip
    assert summary["models"] == [{"name": "sdxl_base", "count": 42}, {"name": "juggernaut", "count": 6}]


def test_a_session_of_one_image_still_has_its_phrases() -> None:
    summary = summarize([MemberGroup("a red fox, snow", "novelai", None, 1)])
    assert summary == {
        "phrases": ["a red fox", "snow"],
        "tools": [{"name": "novelai", "count": 1}],
        "models": [],
    }


def test_no_members_no_summary_content() -> None:
    assert summarize([]) == {"phrases": [], "tools": [], "models": []}
