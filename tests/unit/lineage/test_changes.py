"""The change strip: what changed between consecutive generations."""

from __future__ import annotations

from libs.lineage.changes import ChangeStep, ModelSwitch, ParameterChange, change_strip

from .making import gen

FOX = "a red fox in the snow, golden hour, oil painting"


def test_words_parameters_model_and_loras_between_consecutive_generations() -> None:
    gens = [
        gen("a", FOX, 1, loras=["detail_tweaker"]),
        gen("b", FOX, 2, minutes=1, loras=["detail_tweaker"]),
        gen("c", FOX.replace("golden hour", "blue hour, aurora"), 2, minutes=2, loras=["detail_tweaker"]),
        gen("d", FOX.replace("golden hour", "blue hour, aurora"), 2, minutes=3, loras=["detail_tweaker"]),
        gen(
            "e",
            FOX,
            2,
            minutes=4,
            model="juggernautXL_v9",
            cfg=5.5,
            steps=40,
            size=(832, 1216),
            negative_prompt="blurry",
            loras=["film_grain"],
        ),
    ]
    steps = change_strip(gens)
    assert [s.asset_id for s in steps] == ["b", "c", "e"]  # d changed nothing: left out
    assert steps[0] == ChangeStep(
        asset_id="b", previous_asset_id="a", parameters=[ParameterChange("seed", "1", "2")]
    )
    assert (steps[1].prompt_added, steps[1].prompt_removed) == (["blue", "aurora"], ["golden"])
    last = steps[2]
    assert last.previous_asset_id == "d"
    assert last.model == ModelSwitch("dreamshaperXL_turbo", "juggernautXL_v9")
    assert last.parameters == [
        ParameterChange("steps", "30", "40"),
        ParameterChange("cfg", "7", "5.5"),
        ParameterChange("size", "1024x1024", "832x1216"),
        ParameterChange("negative prompt", None, "blurry"),
    ]
    assert (last.loras_added, last.loras_removed) == (["film_grain"], ["detail_tweaker"])
    assert (last.prompt_added, last.prompt_removed) == (["golden"], ["blue", "aurora"])


def test_weights_and_repeated_words() -> None:
    a = gen("a", "(red fox:1.3), snow, snow", 1)
    b = gen("b", "red fox, snow, <lora:detail:0.5>", 1, minutes=1)
    (step,) = change_strip([a, b])
    assert (step.prompt_added, step.prompt_removed) == ([], ["snow"])


def test_no_steps_for_fewer_than_two_generations() -> None:
    assert change_strip([]) == [] and change_strip([gen("a", FOX, 1)]) == []


def test_images_without_generation_data_are_skipped() -> None:
    copy = gen("copy", None, None, tool=None, model=None, minutes=1)
    steps = change_strip([gen("a", FOX, 1), copy, gen("b", FOX, 2, minutes=2)])
    assert [(s.previous_asset_id, s.asset_id, s.prompt_added) for s in steps] == [("a", "b", [])]
