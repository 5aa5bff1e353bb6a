"""read_comfyui against the ComfyUI files of the real corpus and hand-built graphs per tracing rule."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from libs.metadata.comfyui import (
    MAX_DEPTH,
    MAX_NODES,
    ComfyGeneration,
    bare_model_name,
    read_comfyui,
)

from .corpus_scoring import load_expected

CORPUS = Path(__file__).resolve().parents[3].parent / "shared/corpus/real"
# EXPECTED.json with the issue-17 rule: the base pass is the headline of multi-sampler files.
EXPECTED: dict[str, dict[str, Any]] = load_expected()
COMFY_FILES = sorted(key for key, value in EXPECTED.items() if value["tool"] == "comfyui")
TOP_LEVEL = ("prompt", "negative_prompt", "seed", "model", "sampler", "steps", "cfg")
# XL_00008's EXPECTED sampler comes from the A1111 "parameters" chunk its save node adds
# ("dpmpp_3m_sde_gpu Karras"); the graph itself has sampler_name + scheduler separately.
FROM_PARAMETERS_CHUNK = {("comfyui/XL_00008.png", "sampler")}


def graphs_in(path: Path) -> tuple[dict | None, dict | None]:
    """The raw prompt/workflow JSON of a ComfyUI file: PNG tEXt, WebP EXIF Make/Model, or a
    UserComment JSON {"prompt", "workflow"} (comfyui-saveimage-plus JPEG)."""
    image = Image.open(path)
    text = getattr(image, "text", {}) or {}
    prompt = json.loads(text["prompt"]) if "prompt" in text else None
    workflow = json.loads(text["workflow"]) if "workflow" in text else None
    for value in image.getexif().values():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str):
            continue
        if value.startswith("prompt:"):
            prompt = json.loads(value.removeprefix("prompt:"))
        elif value.startswith("workflow:"):
            workflow = json.loads(value.removeprefix("workflow:"))
        elif value.lstrip().startswith("{") and '"prompt"' in value:
            both = json.loads(value)
            prompt, workflow = both.get("prompt"), both.get("workflow")
    return prompt, workflow


def test_the_corpus_has_the_comfyui_files() -> None:
    assert len(COMFY_FILES) == 12


@pytest.mark.parametrize("key", COMFY_FILES)
def test_corpus_file_matches_expected(key: str) -> None:
    expected = EXPECTED[key]
    result = read_comfyui(*graphs_in(CORPUS / key))

    assert result is not None
    for name in TOP_LEVEL:
        if (key, name) in FROM_PARAMETERS_CHUNK:
            continue
        value, want = getattr(result, name), expected[name]
        if isinstance(value, str):
            value = value[:200]
        if name == "model" and value is not None:  # the headline model is the bare name
            want = bare_model_name(want)
        assert value == want, name

    expected_nodes = expected.get("comfy_sampler_nodes")
    if expected_nodes is None:  # workflow-only file: no API graph to compare with
        return
    assert [s["node_id"] for s in result.samplers] == [n["id"] for n in expected_nodes]
    for sampler, node in zip(result.samplers, expected_nodes, strict=True):
        assert sampler["class_type"] == node["class_type"]
        assert sampler["seed"] == node.get("seed", node.get("noise_seed", sampler["seed"]))
        if "cfg" in node:
            assert sampler["cfg"] == node["cfg"]
        for field in ("steps", "scheduler", "denoise"):
            if field in node:
                assert sampler[field] == node[field]
        if "sampler_name" in node:
            assert sampler["sampler"] == node["sampler_name"]


def test_single_sampler_files_report_where_each_value_came_from() -> None:
    result = read_comfyui(*graphs_in(CORPUS / "comfyui/flux_00939_.png"))
    assert result is not None
    assert result.sources == {
        "seed": "25:RandomNoise.noise_seed",
        "steps": "17:BasicScheduler.steps",
        "sampler": "16:KSamplerSelect.sampler_name",
        "model": "12:UNETLoader.unet_name",
        "prompt": "104:ImpactWildcardEncode.populated_text",
    }
    assert (result.width, result.height) == (768, 1024)
    assert [lora["name"] for lora in result.loras] == [
        "Judy_Alvarez_Cyberpunk_2077_Flux_LoRa-jdycp.safetensors",
        "fluxSmallAlimama.safetensors",
    ]
    assert result.samplers[0]["guidance"] == 3.5
    # The FaceDetailer touch-up is a refiner, not a second generation.
    assert [r["class_type"] for r in result.refiners] == ["FaceDetailer"]


def test_text_the_graph_cannot_compute_comes_from_a_display_node_of_the_workflow() -> None:
    # XL_00008: prompt = concat(primitive, "Load Styles CSV" style); ShowText shows the result.
    result = read_comfyui(*graphs_in(CORPUS / "comfyui/XL_00008.png"))
    assert result is not None
    assert result.prompt is not None and result.prompt.startswith("Cute Black Girl, (Upper body photo:1.1)")
    assert result.sources["prompt"] == "27:TextConcatenateNikosis (shown in workflow)"
    assert [r["class_type"] for r in result.refiners] == ["UltimateSDUpscale"]


def test_workflow_only_file_fills_samplers_but_not_top_level() -> None:
    prompt, workflow = graphs_in(CORPUS / "comfyui/simple_example.png")
    assert prompt is None
    result = read_comfyui(prompt, workflow)
    assert result is not None
    assert result.from_workflow
    assert [s["class_type"] for s in result.samplers] == ["KSamplerAdvanced"]
    assert all(getattr(result, name) is None for name in TOP_LEVEL)


def test_to_dict_is_json_serialisable() -> None:
    result = read_comfyui(*graphs_in(CORPUS / "comfyui/ComfyUI_07052_.jpeg"))
    assert result is not None
    as_dict = json.loads(json.dumps(result.to_dict()))
    assert len(as_dict["samplers"]) == 2
    assert as_dict["seed"] == 144167239  # the base pass, #1907


# ---- hand-built API graphs ------------------------------------------------------------------


def node(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs}


def ksampler_graph(**overrides: Any) -> dict[str, Any]:
    graph = {
        "4": node("CheckpointLoaderSimple", ckpt_name="base.safetensors"),
        "5": node("EmptyLatentImage", width=832, height=1216, batch_size=1),
        "6": node("CLIPTextEncode", text="a red fox", clip=["4", 1]),
        "7": node("CLIPTextEncode", text="blurry", clip=["4", 1]),
        "3": node(
            "KSampler",
            seed=42,
            steps=25,
            cfg=6.5,
            sampler_name="euler",
            scheduler="normal",
            denoise=1.0,
            model=["4", 0],
            positive=["6", 0],
            negative=["7", 0],
            latent_image=["5", 0],
        ),
        "8": node("VAEDecode", samples=["3", 0], vae=["4", 2]),
        "9": node("SaveImage", images=["8", 0]),
    }
    graph.update(overrides)
    return graph


def read(graph: Any, workflow: Any = None) -> ComfyGeneration:
    result = read_comfyui(graph, workflow)
    assert result is not None
    return result


def test_plain_ksampler_graph() -> None:
    result = read(ksampler_graph())
    assert (result.prompt, result.negative_prompt, result.seed) == ("a red fox", "blurry", 42)
    assert (result.model, result.sampler, result.steps, result.cfg) == ("base", "euler", 25, 6.5)
    assert result.model_file == "base.safetensors"
    assert (result.width, result.height) == (832, 1216)
    assert result.sources["prompt"] == "6:CLIPTextEncode.text"


def test_sdxl_encoder_keeps_a_repeated_prompt_once_and_joins_different_ones() -> None:
    same = read(
        ksampler_graph(**{"6": node("CLIPTextEncodeSDXL", text_g="castle", text_l="castle", width=1024)})
    )
    assert same.prompt == "castle"
    different = read(
        ksampler_graph(**{"6": node("CLIPTextEncodeSDXL", text_g="castle", text_l="oil painting")})
    )
    assert different.prompt == "castle\noil painting"


def test_flux_basic_guider_has_no_cfg_and_reports_guidance() -> None:
    graph = {
        "1": node("UNETLoader", unet_name="flux1-dev.safetensors"),
        "2": node("CLIPTextEncodeFlux", clip_l="a lighthouse", t5xxl="a lighthouse", guidance=3.5),
        "3": node("BasicGuider", model=["1", 0], conditioning=["2", 0]),
        "4": node("RandomNoise", noise_seed=7),
        "5": node("KSamplerSelect", sampler_name="euler"),
        "6": node("BasicScheduler", scheduler="simple", steps=20, denoise=1.0, model=["1", 0]),
        "7": node("EmptySD3LatentImage", width=1024, height=768, batch_size=1),
        "8": node(
            "SamplerCustomAdvanced",
            noise=["4", 0],
            guider=["3", 0],
            sampler=["5", 0],
            sigmas=["6", 0],
            latent_image=["7", 0],
        ),
        "9": node("SaveImage", images=["8", 0]),
    }
    result = read(graph)
    assert (result.prompt, result.negative_prompt, result.cfg) == ("a lighthouse", None, None)
    assert (result.seed, result.steps, result.sampler, result.model) == (
        7,
        20,
        "euler",
        "flux1-dev",
    )
    assert result.samplers[0]["guidance"] == 3.5
    assert result.samplers[0]["scheduler"] == "simple"


def test_cfg_guider_gives_cfg_and_negative() -> None:
    graph = ksampler_graph()
    del graph["3"]
    graph |= {
        "10": node("CFGGuider", cfg=4.0, model=["4", 0], positive=["6", 0], negative=["7", 0]),
        "11": node("RandomNoise", noise_seed=5),
        "12": node("KarrasScheduler", steps=30, sigma_max=14.6, sigma_min=0.03, rho=7.0),
        "13": node("SplitSigmas", step=10, sigmas=["12", 0]),
        "14": node("SamplerEulerAncestral", eta=1.0, s_noise=1.0),
        "3": node(
            "SamplerCustomAdvanced",
            noise=["11", 0],
            guider=["10", 0],
            sampler=["14", 0],
            sigmas=["13", 0],
            latent_image=["5", 0],
        ),
    }
    result = read(graph)
    assert (result.cfg, result.negative_prompt, result.steps) == (4.0, "blurry", 30)
    assert result.sampler == "SamplerEulerAncestral"  # no sampler_name: the sampler node's class


def test_lora_chain_is_followed_to_the_checkpoint() -> None:
    graph = ksampler_graph(
        **{
            "20": node(
                "LoraLoader", lora_name="a.safetensors", strength_model=0.8, strength_clip=0.6, model=["4", 0]
            ),
            "21": node(
                "LoraLoaderModelOnly", lora_name="b.safetensors", strength_model="1.2", model=["20", 0]
            ),
            "22": node("ModelSamplingDiscrete", sampling="v_prediction", model=["21", 0]),
        }
    )
    graph["3"]["inputs"]["model"] = ["22", 0]
    result = read(graph)
    assert result.model == "base"
    assert result.loras == [
        {"name": "b.safetensors", "strength_model": 1.2, "strength_clip": None, "node_id": "21"},
        {"name": "a.safetensors", "strength_model": 0.8, "strength_clip": 0.6, "node_id": "20"},
    ]


@pytest.mark.parametrize(
    ("seed_node", "seed_input"),
    [
        (node("Seed (rgthree)", seed=123456789012345678), "seed"),
        (node("CR Seed", seed=123456789012345678), "seed"),
        (node("PrimitiveInt", value=123456789012345678), "value"),
    ],
)
def test_seed_from_a_linked_seed_node_keeps_big_integers_exact(seed_node: dict, seed_input: str) -> None:
    graph = ksampler_graph(**{"30": seed_node})
    graph["3"]["inputs"]["seed"] = ["30", 0]
    result = read(graph)
    assert result.seed == 123456789012345678
    assert result.sources["seed"] == f"30:{seed_node['class_type']}.{seed_input}"


def test_conditioning_combine_and_zero_out() -> None:
    graph = ksampler_graph(
        **{
            "40": node("CLIPTextEncode", text="sunset sky", clip=["4", 1]),
            "41": node("ConditioningSetArea", width=512, height=256, conditioning=["40", 0]),
            "42": node("ConditioningCombine", conditioning_1=["6", 0], conditioning_2=["41", 0]),
            "43": node("ConditioningZeroOut", conditioning=["7", 0]),
        }
    )
    graph["3"]["inputs"] |= {"positive": ["42", 0], "negative": ["43", 0]}
    result = read(graph)
    assert result.prompt == "a red fox\nsunset sky"
    assert result.negative_prompt == ""


def test_controlnet_apply_advanced_routes_by_output_slot() -> None:
    graph = ksampler_graph(
        **{
            "50": node(
                "ControlNetApplyAdvanced", strength=0.7, positive=["6", 0], negative=["7", 0], image=["60", 0]
            )
        }
    )
    graph["3"]["inputs"] |= {"positive": ["50", 0], "negative": ["50", 1]}
    result = read(graph)
    assert (result.prompt, result.negative_prompt) == ("a red fox", "blurry")


def test_text_from_string_nodes_concatenation_and_styler() -> None:
    graph = ksampler_graph(
        **{
            "60": node("PrimitiveStringMultiline", value="a knight"),
            "61": node("String Literal", string="in the rain"),
            "62": node(
                "Text Concatenate",
                delimiter=" | ",
                clean_whitespace="true",
                text_a=["60", 0],
                text_b=["61", 0],
            ),
            "63": node("SDXLPromptStyler", text_positive=["62", 0], text_negative="ugly", style="cinematic"),
        }
    )
    graph["6"]["inputs"]["text"] = ["63", 0]
    graph["7"]["inputs"]["text"] = ["63", 1]
    result = read(graph)
    assert result.prompt == "a knight | in the rain"
    assert result.negative_prompt == "ugly"
    assert result.samplers[0]["styles"] == ["cinematic"]


def test_a_second_pass_on_the_first_ones_latent_leaves_the_first_as_headline() -> None:
    graph = ksampler_graph(
        **{
            "22": node("LatentUpscale", width=1600, height=2400, samples=["3", 0]),
            "24": node(
                "KSampler",
                seed=43,
                steps=10,
                cfg=5,
                sampler_name="dpmpp_2m",
                scheduler="karras",
                denoise=0.5,
                model=["4", 0],
                positive=["6", 0],
                negative=["7", 0],
                latent_image=["22", 0],
            ),
            "8": node("VAEDecode", samples=["24", 0], vae=["4", 2]),
        }
    )
    result = read(graph)
    assert [s["node_id"] for s in result.samplers] == ["3", "24"]
    assert [s["seed"] for s in result.samplers] == [42, 43]
    assert [s["role"] for s in result.samplers] == ["base", "upscale"]
    assert (result.base, result.seed, result.steps, result.prompt) == ("3", 42, 25, "a red fox")
    assert (result.width, result.height) == (None, None)  # the two passes differ in size
    assert result.samplers[1]["width"] == 1600


def test_sampler_not_feeding_any_output_is_ignored() -> None:
    graph = ksampler_graph(
        **{
            "70": node(
                "KSampler",
                seed=1,
                steps=1,
                cfg=1,
                model=["4", 0],
                positive=["6", 0],
                negative=["7", 0],
                latent_image=["5", 0],
            )
        }
    )
    result = read(graph)
    assert [s["node_id"] for s in result.samplers] == ["3"]
    assert result.seed == 42


def test_custom_samplers_count_and_detailers_are_refiners() -> None:
    graph = ksampler_graph()
    graph["3"]["class_type"] = "KSampler (Efficient)"
    graph["80"] = node(
        "FaceDetailer", seed=9, steps=10, image=["8", 0], model=["4", 0], positive=["6", 0], negative=["7", 0]
    )
    graph["9"]["inputs"]["images"] = ["80", 0]
    result = read(graph)
    assert [s["class_type"] for s in result.samplers] == ["KSampler (Efficient)"]
    assert [r["node_id"] for r in result.refiners] == ["80"]
    assert result.seed == 42


def test_civitai_resource_stack_loaders() -> None:
    graph = ksampler_graph(
        **{
            "resource-stack": node(
                "CheckpointLoaderSimple", ckpt_name="urn:air:sdxl:checkpoint:civitai:101055@128078"
            ),
            "resource-stack-1": node(
                "LoraLoader",
                lora_name="urn:air:sdxl:lora:civitai:1234@5678",
                strength_model=0.7,
                strength_clip=1,
                model=["resource-stack", 0],
                clip=["resource-stack", 1],
            ),
        }
    )
    del graph["4"]
    graph["3"]["inputs"]["model"] = ["resource-stack-1", 0]
    graph["extra"] = {"airs": ["urn:air:sdxl:checkpoint:civitai:101055@128078"]}
    graph["extraMetadata"] = '{"prompt": "a red fox"}'
    result = read(graph)
    assert result.model == "urn:air:sdxl:checkpoint:civitai:101055@128078"
    assert result.loras[0]["name"] == "urn:air:sdxl:lora:civitai:1234@5678"
    assert result.prompt == "a red fox"


def test_strings_where_numbers_were_expected() -> None:
    graph = ksampler_graph()
    graph["3"]["inputs"] |= {"seed": "None", "steps": "20", "cfg": "7.5", "denoise": [1, 2, 3]}
    result = read(graph)
    assert (result.seed, result.steps, result.cfg) == (None, 20, 7.5)
    assert result.samplers[0]["denoise"] is None


def test_cycles_terminate() -> None:
    graph = ksampler_graph(
        **{
            "90": node("ConditioningCombine", conditioning_1=["91", 0], conditioning_2=["6", 0]),
            "91": node("ConditioningCombine", conditioning_1=["90", 0], conditioning_2=["91", 0]),
            "92": node("LoraLoader", lora_name="x.safetensors", model=["93", 0]),
            "93": node("ModelSamplingFlux", model=["92", 0]),
            "94": node("Seed (rgthree)", seed=["94", 0]),
        }
    )
    graph["3"]["inputs"] |= {"positive": ["90", 0], "model": ["92", 0], "seed": ["94", 0]}
    result = read(graph)
    assert result.prompt == "a red fox"
    assert result.model is None and result.seed is None
    assert [lora["name"] for lora in result.loras] == ["x.safetensors"]


def test_dangling_links_and_malformed_nodes() -> None:
    graph = ksampler_graph(**{"bad": "not a node", "worse": {"class_type": 3}, "10": node("Note")})
    graph["3"]["inputs"] |= {"positive": ["99", 0], "model": ["404", 0], "latent_image": [None, "x"]}
    graph["6"]["inputs"] = "not a dict"
    result = read(graph)
    assert result.prompt is None and result.model is None and result.width is None
    assert result.negative_prompt == "blurry" and result.seed == 42


@pytest.mark.parametrize("value", [None, {}, [], "prompt", {"a": 1}, {"1": {"inputs": {}}}, {"nodes": "x"}])
def test_data_that_is_not_a_comfyui_graph_gives_none(value: Any) -> None:
    assert read_comfyui(value, value) is None


def test_huge_graph_is_cut_and_stays_fast() -> None:
    graph = ksampler_graph()
    graph["3"]["inputs"]["model"] = ["100", 0]
    for i in range(100, 100 + MAX_NODES * 3):  # a LoRA chain far longer than both caps
        graph[str(i)] = node("LoraLoaderModelOnly", lora_name=f"{i}.safetensors", model=[str(i + 1), 0])
    started = time.perf_counter()
    result = read(graph)
    assert time.perf_counter() - started < 2
    assert [s["node_id"] for s in result.samplers] == ["3"]
    assert result.model is None  # the checkpoint is beyond MAX_DEPTH
    assert 0 < len(result.loras) <= MAX_DEPTH


def test_a_unicode_digit_is_not_a_number() -> None:
    """ "²" is a digit to str.isdigit() but not to int() (found by the property test below): a seed or
    a node id made of it is read as no number, never raised on."""
    for node_id in ("²", "3"):
        graph = {node_id: {"class_type": "KSampler", "inputs": {"seed": "²", "steps": "20", "cfg": "7"}}}
        result = read_comfyui(graph, None)
        assert result is not None and (result.seed, result.steps) == (None, 20)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
        ),
        max_leaves=30,
    )
)
def test_arbitrary_json_never_raises(value: Any) -> None:
    graph = {
        "1": {"class_type": "KSampler", "inputs": {"model": value, "positive": value, "seed": value}},
        "2": value,
    }
    read_comfyui(graph, value)
    read_comfyui(None, {"nodes": [value, {"id": 1, "type": "KSampler", "inputs": value}], "links": value})


# ---- UI graph (workflow) conversion ---------------------------------------------------------


def ui_node(
    node_id: int, kind: str, widgets: list | None = None, inputs: list | None = None, mode: int = 0
) -> dict:
    return {
        "id": node_id,
        "type": kind,
        "mode": mode,
        "widgets_values": widgets or [],
        "inputs": inputs or [],
    }


def test_workflow_only_graph_with_reroute_primitive_and_muted_node() -> None:
    workflow = {
        "nodes": [
            ui_node(4, "CheckpointLoaderSimple", ["base.safetensors"]),
            ui_node(10, "Reroute", inputs=[{"name": "", "type": "*", "link": 1}]),
            ui_node(6, "CLIPTextEncode", ["a red fox"], [{"name": "clip", "type": "CLIP", "link": 3}]),
            ui_node(7, "CLIPTextEncode", ["blurry"], [{"name": "clip", "type": "CLIP", "link": 4}]),
            ui_node(11, "PrimitiveNode", [777, "fixed"]),
            ui_node(5, "EmptyLatentImage", [640, 960, 1]),
            ui_node(
                12,
                "LoraLoader",
                ["muted.safetensors", 1, 1],
                [{"name": "model", "type": "MODEL", "link": 2}],
                mode=2,
            ),
            ui_node(
                3,
                "KSampler",
                [1, "randomize", 30, 5.5, "dpmpp_2m", "karras", 1.0],
                [
                    {"name": "model", "type": "MODEL", "link": 5},
                    {"name": "positive", "type": "CONDITIONING", "link": 6},
                    {"name": "negative", "type": "CONDITIONING", "link": 7},
                    {"name": "latent_image", "type": "LATENT", "link": 8},
                    {"name": "seed", "type": "INT", "link": 9, "widget": {"name": "seed"}},
                ],
            ),
            ui_node(8, "VAEDecode", inputs=[{"name": "samples", "type": "LATENT", "link": 10}]),
            ui_node(9, "SaveImage", ["ComfyUI"], [{"name": "images", "type": "IMAGE", "link": 11}]),
        ],
        "links": [
            [1, 4, 0, 10, 0, "MODEL"],
            [2, 4, 0, 12, 0, "MODEL"],
            [3, 4, 1, 6, 0, "CLIP"],
            [4, 4, 1, 7, 0, "CLIP"],
            [5, 10, 0, 3, 0, "MODEL"],
            [6, 6, 0, 3, 1, "CONDITIONING"],
            [7, 7, 0, 3, 2, "CONDITIONING"],
            [8, 5, 0, 3, 3, "LATENT"],
            [9, 11, 0, 3, 4, "INT"],
            [10, 3, 0, 8, 0, "LATENT"],
            [11, 8, 0, 9, 0, "IMAGE"],
        ],
    }
    result = read(None, workflow)
    assert result.from_workflow
    [sampler] = result.samplers
    assert (sampler["prompt"], sampler["negative_prompt"], sampler["model"]) == (
        "a red fox",
        "blurry",
        "base",
    )
    assert (sampler["seed"], sampler["steps"], sampler["cfg"], sampler["sampler"]) == (
        777,
        30,
        5.5,
        "dpmpp_2m",
    )
    assert (sampler["width"], sampler["height"]) == (640, 960)
    assert sampler["model_file"] == "base.safetensors"
    assert sampler["loras"] == []  # the muted LoRA loader is not part of the graph
    assert result.prompt is None and result.seed is None  # UI values are not trusted at top level


def test_bypassed_node_passes_its_input_through() -> None:
    workflow = {
        "nodes": [
            ui_node(4, "CheckpointLoaderSimple", ["base.safetensors"]),
            ui_node(
                12,
                "LoraLoader",
                ["bypassed.safetensors", 1, 1],
                [{"name": "model", "type": "MODEL", "link": 1}],
                mode=4,
            ),
            ui_node(
                3,
                "KSampler",
                [5, "fixed", 20, 7, "euler", "normal", 1],
                [{"name": "model", "type": "MODEL", "link": 2}],
            ),
        ],
        "links": [{"id": 1, "origin_id": 4, "origin_slot": 0, "type": "MODEL"}, [2, 12, 0, 3, 0, "MODEL"]],
    }
    [sampler] = read(None, workflow).samplers
    assert sampler["model"] == "base"
    assert sampler["loras"] == []
    assert (sampler["seed"], sampler["steps"]) == (5, 20)


def test_impact_basic_pipe_sampler_counts_as_a_second_pass() -> None:
    graph = ksampler_graph(
        **{
            "95": node(
                "ToBasicPipe",
                model=["4", 0],
                clip=["4", 1],
                vae=["4", 2],
                positive=["6", 0],
                negative=["7", 0],
            ),
            "96": node(
                "ImpactKSamplerBasicPipe", seed=3, steps=8, cfg=4, basic_pipe=["95", 0], latent_image=["3", 0]
            ),
            "8": node("VAEDecode", samples=["96", 1], vae=["4", 2]),
        }
    )
    result = read(graph)
    assert [s["node_id"] for s in result.samplers] == ["3", "96"]
    assert [s["role"] for s in result.samplers] == ["base", "refine"]
    assert result.seed == 42
