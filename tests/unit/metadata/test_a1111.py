"""A1111 infotext: A1111's own split rule, quoted values, absent sampler."""

from libs.metadata.a1111 import looks_like_infotext, parse_infotext, variant


def test_prompt_negative_and_parameters_are_split() -> None:
    info = parse_infotext(
        "a cat\non a mat\nNegative prompt: blurry,\nugly\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x768, Model: sdxl"
    )
    assert info.prompt == "a cat\non a mat"
    assert info.negative_prompt == "blurry,\nugly"
    assert info.params["Sampler"] == "Euler a"
    assert info.params["Size"] == "512x768"


def test_negative_prompt_on_the_last_line_is_not_taken_for_parameters() -> None:
    info = parse_infotext("a cat\nNegative prompt: dog, bad hands")
    assert info.prompt == "a cat"
    assert info.negative_prompt == "dog, bad hands"
    assert info.params == {}


def test_last_line_with_fewer_than_three_pairs_stays_in_the_prompt() -> None:
    info = parse_infotext("style: anime, mood: calm")
    assert info.prompt == "style: anime, mood: calm"
    assert info.params == {}


def test_quoted_values_keep_their_commas() -> None:
    info = parse_infotext('x\nSteps: 5, Lora hashes: "a: 1, b: 2", Seed: 3, Version: 1.10')
    assert info.params["Lora hashes"] == "a: 1, b: 2"
    assert info.params["Seed"] == "3"


def test_json_values_keep_their_commas() -> None:
    info = parse_infotext('x\nSteps: 5, Seed: 3, Civitai resources: [{"a":1,"b":2}], Clip skip: 2')
    assert info.params["Civitai resources"] == '[{"a":1,"b":2}]'
    assert info.params["Clip skip"] == "2"


def test_sdnext_infotext_without_sampler() -> None:
    info = parse_infotext("cat\nSteps: 20, Seed: 1, CFG scale: 6, App: SD.Next, Version: abc123")
    assert "Sampler" not in info.params
    assert variant(info.params) == "sdnext"


def test_forge_variant_from_version() -> None:
    assert variant({"Version": "f2.0.1v1.10.1-previous-519"}) == "forge"
    assert variant({"Version": "v1.10.1"}) == "a1111"


def test_no_negative_line_means_none_not_empty() -> None:
    assert parse_infotext("cat\nSteps: 1, Seed: 2, CFG scale: 3").negative_prompt is None
    assert parse_infotext("cat\nNegative prompt: \nSteps: 1, Seed: 2, CFG scale: 3").negative_prompt == ""


def test_plain_text_is_not_infotext() -> None:
    assert not looks_like_infotext("just a caption, nothing else")
    assert looks_like_infotext("cat\nSteps: 1, Sampler: Euler, Seed: 2")
