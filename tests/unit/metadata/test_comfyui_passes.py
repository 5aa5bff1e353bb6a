"""Multi-pass ComfyUI graphs, hand-built one per pass kind: the base pass is the headline
(issue 17) and every other pass is listed with its role."""

from __future__ import annotations

from typing import Any

import pytest

from libs.metadata.comfyui import HEADLINE, ComfyGeneration, bare_model_name

from .test_comfyui import node, read

NEGATIVE = "blurry, watermark"


def sdxl_checkpoint(node_id: str, name: str) -> dict[str, Any]:
    return {node_id: node("CheckpointLoaderSimple", ckpt_name=name)}


def encoders(clip: list, positive: str, negative: str = NEGATIVE, *, ids: tuple[str, str]) -> dict[str, Any]:
    return {
        ids[0]: node("CLIPTextEncode", text=positive, clip=clip),
        ids[1]: node("CLIPTextEncode", text=negative, clip=clip),
    }


def ksampler(
    seed: int, latent: list, *, model: list, positive: list, negative: list, **settings: Any
) -> dict:
    values = {"steps": 20, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}
    values |= settings
    return node(
        "KSampler",
        seed=seed,
        model=model,
        positive=positive,
        negative=negative,
        latent_image=latent,
        **values,
    )


def saved(samples: list, vae: list) -> dict[str, Any]:
    return {"90": node("VAEDecode", samples=samples, vae=vae), "91": node("SaveImage", images=["90", 0])}


def roles(result: ComfyGeneration) -> dict[str, str]:
    return {s["node_id"]: s["role"] for s in result.samplers + result.refiners}


def hires_fix(
    upscale: dict[str, Any], second_latent: list, second_prompt: str = "a castle"
) -> dict[str, Any]:
    """txt2img at 512x768, then a second KSampler at denoise 0.5 on an upscaled copy."""
    return {
        **sdxl_checkpoint("4", "sd15/dreamshaper_8.safetensors"),
        "5": node("EmptyLatentImage", width=512, height=768, batch_size=1),
        **encoders(["4", 1], "a castle", ids=("6", "7")),
        **encoders(["4", 1], second_prompt, ids=("16", "17")),
        "3": ksampler(11, ["5", 0], model=["4", 0], positive=["6", 0], negative=["7", 0], steps=25),
        **upscale,
        "12": ksampler(
            12, second_latent, model=["4", 0], positive=["16", 0], negative=["17", 0], steps=10, denoise=0.5
        ),
        **saved(["12", 0], ["4", 2]),
    }


# ---- refiner --------------------------------------------------------------------------------


def test_sdxl_base_and_refiner_headline_is_the_base() -> None:
    advanced = {"steps": 25, "cfg": 8.0, "sampler_name": "euler", "scheduler": "normal"}
    graph = {
        **sdxl_checkpoint("4", "sd_xl_base_1.0.safetensors"),
        **sdxl_checkpoint("12", "sd_xl_refiner_1.0.safetensors"),
        "5": node("EmptyLatentImage", width=1024, height=1024, batch_size=1),
        **encoders(["4", 1], "evening sunset scenery", ids=("6", "7")),
        **encoders(["12", 1], "evening sunset scenery", ids=("15", "16")),
        # The refiner's node id is smaller: the order of ids must not matter.
        "2": node(
            "KSamplerAdvanced",
            add_noise="disable",
            noise_seed=0,
            start_at_step=20,
            end_at_step=10000,
            model=["12", 0],
            positive=["15", 0],
            negative=["16", 0],
            latent_image=["10", 0],
            **advanced,
        ),
        "10": node(
            "KSamplerAdvanced",
            add_noise="enable",
            noise_seed=721897303308196,
            start_at_step=0,
            end_at_step=20,
            model=["4", 0],
            positive=["6", 0],
            negative=["7", 0],
            latent_image=["5", 0],
            **advanced,
        ),
        **saved(["2", 0], ["12", 2]),
    }
    result = read(graph)
    assert result.base == "10"
    assert roles(result) == {"2": "refine", "10": "base"}
    assert (result.prompt, result.negative_prompt) == ("evening sunset scenery", NEGATIVE)
    assert (result.seed, result.steps, result.cfg, result.sampler) == (721897303308196, 25, 8.0, "euler")
    assert (result.model, result.model_file) == ("sd_xl_base_1.0", "sd_xl_base_1.0.safetensors")
    refiner = next(s for s in result.samplers if s["role"] == "refine")
    assert (refiner["model"], refiner["start_at_step"], refiner["end_at_step"]) == (
        "sd_xl_refiner_1.0",
        20,
        10000,
    )
    assert result.sources["seed"] == "10:KSamplerAdvanced.noise_seed"
    assert result.notes == []


# ---- hires fix ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upscale", "second_latent"),
    [
        ({"8": node("LatentUpscaleBy", upscale_method="bislerp", scale_by=1.5, samples=["3", 0])}, ["8", 0]),
        (
            {  # in pixel space: decode, upscale with a model, encode again
                "8": node("VAEDecode", samples=["3", 0], vae=["4", 2]),
                "9": node("UpscaleModelLoader", model_name="RealESRGAN_x4plus.pth"),
                "10": node("ImageUpscaleWithModel", upscale_model=["9", 0], image=["8", 0]),
                "11": node("VAEEncode", pixels=["10", 0], vae=["4", 2]),
            },
            ["11", 0],
        ),
    ],
    ids=["latent", "pixel"],
)
def test_hires_fix_second_pass_is_an_upscale_with_its_denoise(upscale: dict, second_latent: list) -> None:
    result = read(hires_fix(upscale, second_latent, second_prompt="a castle, detailed stonework"))
    assert roles(result) == {"3": "base", "12": "upscale"}
    assert (result.seed, result.steps, result.prompt) == (11, 25, "a castle")
    assert result.model == "dreamshaper_8"
    second = result.samplers[1]
    assert (second["denoise"], second["prompt"]) == (0.5, "a castle, detailed stonework")


def test_both_passes_saved_still_have_one_base() -> None:
    graph = hires_fix({"8": node("LatentUpscale", width=768, height=1152, samples=["3", 0])}, ["8", 0])
    graph |= {
        "20": node("VAEDecode", samples=["3", 0], vae=["4", 2]),
        "21": node("SaveImage", images=["20", 0]),
    }
    result = read(graph)
    assert (result.base, result.seed) == ("3", 11)


# ---- Stable Cascade -------------------------------------------------------------------------


def test_stable_cascade_stage_c_is_the_base_and_stage_b_decodes() -> None:
    graph = {
        **sdxl_checkpoint("41", "stable_cascade_stage_c.safetensors"),
        **sdxl_checkpoint("42", "stable_cascade_stage_b.safetensors"),
        "34": node("StableCascade_EmptyLatentImage", width=1024, height=1024, compression=42, batch_size=1),
        **encoders(["41", 1], "evening sunset scenery blue sky", "text, watermark", ids=("6", "7")),
        "30": ksampler(
            314307448448003, ["34", 0], model=["41", 0], positive=["6", 0], negative=["7", 0], cfg=4.0
        ),
        "36": node("StableCascade_StageB_Conditioning", conditioning=["6", 0], stage_c=["30", 0]),
        # Stage B's latent is an empty latent too (slot 1): only its conditioning holds stage C.
        "3": ksampler(
            183495397600639, ["34", 1], model=["42", 0], positive=["36", 0], negative=["7", 0], cfg=1.1
        ),
        **saved(["3", 0], ["42", 2]),
    }
    result = read(graph)
    assert roles(result) == {"3": "decode", "30": "base"}
    assert (result.seed, result.cfg, result.model) == (314307448448003, 4.0, "stable_cascade_stage_c")
    assert (result.prompt, result.negative_prompt) == ("evening sunset scenery blue sky", "text, watermark")
    assert (result.width, result.height) == (1024, 1024)


# ---- two-pass Flux ---------------------------------------------------------------------------


def test_two_pass_flux_custom_samplers_read_the_first_pass() -> None:
    graph = {
        "1": node("UNETLoader", unet_name="FLUX/flux1-dev.safetensors", weight_dtype="default"),
        "2": node("DualCLIPLoader", clip_name1="clip_l.safetensors", clip_name2="t5xxl_fp16.safetensors"),
        "3": node("CLIPTextEncode", text="a lighthouse at dawn", clip=["2", 0]),
        "4": node("FluxGuidance", guidance=3.5, conditioning=["3", 0]),
        "5": node("BasicGuider", model=["1", 0], conditioning=["4", 0]),
        "6": node("KSamplerSelect", sampler_name="euler"),
        "7": node("PrimitiveInt", value=123456789012345678),
        "8": node("RandomNoise", noise_seed=["7", 0]),
        "9": node("BasicScheduler", scheduler="simple", steps=20, denoise=1.0, model=["1", 0]),
        "10": node("EmptySD3LatentImage", width=1024, height=1024, batch_size=1),
        "11": node(
            "SamplerCustomAdvanced",
            noise=["8", 0],
            guider=["5", 0],
            sampler=["6", 0],
            sigmas=["9", 0],
            latent_image=["10", 0],
        ),
        "12": node("LatentUpscaleBy", upscale_method="bislerp", scale_by=1.5, samples=["11", 0]),
        "13": node("RandomNoise", noise_seed=99),
        "14": node("BasicScheduler", scheduler="beta", steps=10, denoise=0.45, model=["1", 0]),
        "15": node(
            "SamplerCustomAdvanced",
            noise=["13", 0],
            guider=["5", 0],
            sampler=["6", 0],
            sigmas=["14", 0],
            latent_image=["12", 0],
        ),
        **saved(["15", 0], ["1", 2]),
    }
    result = read(graph)
    assert roles(result) == {"11": "base", "15": "upscale"}
    assert (result.seed, result.steps, result.sampler, result.cfg) == (123456789012345678, 20, "euler", None)
    assert (result.model, result.prompt, result.negative_prompt) == (
        "flux1-dev",
        "a lighthouse at dawn",
        None,
    )
    assert result.samplers[0]["guidance"] == 3.5
    assert (result.samplers[1]["seed"], result.samplers[1]["denoise"]) == (99, 0.45)
    assert result.sources["seed"] == "7:PrimitiveInt.value"


def test_flux_kontext_edit_of_the_first_image_is_a_decode_pass() -> None:
    graph = {
        "1": node("UNETLoader", unet_name="flux1-kontext-dev.safetensors"),
        "2": node("CLIPTextEncode", text="an anime girl singing", clip=["9", 0]),
        "3": node("CLIPTextEncode", text="", clip=["9", 0]),
        "4": node("EmptySD3LatentImage", width=1024, height=1024, batch_size=1),
        "5": ksampler(1, ["4", 0], model=["1", 0], positive=["2", 0], negative=["3", 0], cfg=1.0),
        "6": node("CLIPTextEncode", text="make her sit on a bench", clip=["9", 0]),
        "7": node("ReferenceLatent", conditioning=["6", 0], latent=["5", 0]),
        "8": node("FluxGuidance", guidance=2.5, conditioning=["7", 0]),
        "10": node("EmptySD3LatentImage", width=1024, height=1024, batch_size=1),
        "11": ksampler(2, ["10", 0], model=["1", 0], positive=["8", 0], negative=["3", 0], cfg=1.0),
        **saved(["11", 0], ["1", 2]),
    }
    result = read(graph)
    assert roles(result) == {"5": "base", "11": "decode"}
    assert result.prompt == "an anime girl singing"
    assert result.samplers[1]["prompt"] == "make her sit on a bench"


# ---- area composition, SDXL text_g/text_l, GLIGEN --------------------------------------------


def test_area_composition_keeps_every_text_in_graph_order() -> None:
    graph = {
        **sdxl_checkpoint("4", "anything-v3.ckpt"),
        "5": node("EmptyLatentImage", width=704, height=1280, batch_size=1),
        **encoders(["4", 1], "landscape, mountains", ids=("6", "7")),
        "13": node("CLIPTextEncode", text="(night:1.3) stars", clip=["4", 1]),
        "14": node("CLIPTextEncode", text="(evening:1.2) sunset", clip=["4", 1]),
        "15": node("CLIPTextEncode", text="(night:1.3) stars", clip=["4", 1]),  # repeated text: kept once
        "20": node(
            "ConditioningSetArea", width=704, height=384, x=0, y=0, strength=1.0, conditioning=["13", 0]
        ),
        "21": node(
            "ConditioningSetArea", width=704, height=384, x=0, y=320, strength=1.0, conditioning=["14", 0]
        ),
        "22": node(
            "ConditioningSetArea", width=704, height=384, x=0, y=704, strength=1.0, conditioning=["15", 0]
        ),
        "23": node("ConditioningCombine", conditioning_1=["20", 0], conditioning_2=["21", 0]),
        "24": node("ConditioningCombine", conditioning_1=["23", 0], conditioning_2=["22", 0]),
        "25": node("ConditioningCombine", conditioning_1=["24", 0], conditioning_2=["6", 0]),
        "3": ksampler(5, ["5", 0], model=["4", 0], positive=["25", 0], negative=["7", 0]),
        **saved(["3", 0], ["4", 2]),
    }
    result = read(graph)
    assert result.prompt_parts == ["(night:1.3) stars", "(evening:1.2) sunset", "landscape, mountains"]
    assert result.prompt == "\n".join(result.prompt_parts)
    assert result.negative_prompt_parts == [NEGATIVE]


def test_sdxl_text_g_and_text_l_that_differ_are_two_parts() -> None:
    graph = {
        **sdxl_checkpoint("4", "sd_xl_base_1.0.safetensors"),
        "5": node("EmptyLatentImage", width=1024, height=1024, batch_size=1),
        "6": node(
            "CLIPTextEncodeSDXL",
            text_g="a castle on a hill",
            text_l="oil painting",
            width=1024,
            clip=["4", 1],
        ),
        "7": node("CLIPTextEncodeSDXL", text_g="blurry", text_l="blurry", width=1024, clip=["4", 1]),
        "3": ksampler(5, ["5", 0], model=["4", 0], positive=["6", 0], negative=["7", 0]),
        **saved(["3", 0], ["4", 2]),
    }
    result = read(graph)
    assert (result.prompt_parts, result.prompt) == (
        ["a castle on a hill", "oil painting"],
        "a castle on a hill\noil painting",
    )
    assert (result.negative_prompt_parts, result.negative_prompt) == (["blurry"], "blurry")


def test_gligen_box_texts_follow_the_prompt_they_extend() -> None:
    graph = {
        **sdxl_checkpoint("4", "v1-5-pruned-emaonly.ckpt"),
        "5": node("EmptyLatentImage", width=768, height=768, batch_size=1),
        **encoders(["4", 1], "snowy landscape", ids=("6", "7")),
        "10": node("GLIGENLoader", gligen_name="gligen_sd14_textbox_pruned.safetensors"),
        "21": node(
            "GLIGENTextBoxApply",
            text="purple galaxy bottle",
            conditioning_to=["6", 0],
            clip=["4", 1],
            gligen_textbox_model=["10", 0],
        ),
        "22": node(
            "GLIGENTextBoxApply",
            text="sun",
            conditioning_to=["21", 0],
            clip=["4", 1],
            gligen_textbox_model=["10", 0],
        ),
        "3": ksampler(5, ["5", 0], model=["4", 0], positive=["22", 0], negative=["7", 0]),
        **saved(["3", 0], ["4", 2]),
    }
    assert read(graph).prompt_parts == ["snowy landscape", "purple galaxy bottle", "sun"]


# ---- img2img, inpaint ----------------------------------------------------------------------


def test_img2img_chain_headline_is_the_first_sampler() -> None:
    graph = {
        **sdxl_checkpoint("4", "v1-5-pruned-emaonly.ckpt"),
        "10": node("LoadImage", image="photo.png"),
        "11": node("VAEEncode", pixels=["10", 0], vae=["4", 2]),
        **encoders(["4", 1], "victorian woman with wings", ids=("6", "7")),
        "3": ksampler(
            280823642470253, ["11", 0], model=["4", 0], positive=["6", 0], negative=["7", 0], denoise=0.87
        ),
        "12": ksampler(2, ["3", 0], model=["4", 0], positive=["6", 0], negative=["7", 0], denoise=0.3),
        **saved(["12", 0], ["4", 2]),
    }
    result = read(graph)
    assert roles(result) == {"3": "base", "12": "refine"}
    assert (result.seed, result.prompt) == (280823642470253, "victorian woman with wings")
    assert result.samplers[0]["denoise"] == 0.87


def test_inpaint_with_model_conditioning_routes_each_polarity() -> None:
    graph = {
        **sdxl_checkpoint("4", "512-inpainting-ema.safetensors"),
        "10": node("LoadImage", image="cat.png"),
        **encoders(["4", 1], "closeup photograph of a maine coon", ids=("6", "7")),
        "11": node(
            "InpaintModelConditioning",
            positive=["6", 0],
            negative=["7", 0],
            vae=["4", 2],
            pixels=["10", 0],
            mask=["10", 1],
            noise_mask=True,
        ),
        "3": ksampler(9, ["11", 2], model=["4", 0], positive=["11", 0], negative=["11", 1]),
        **saved(["3", 0], ["4", 2]),
    }
    result = read(graph)
    assert (result.base, result.prompt, result.negative_prompt) == (
        "3",
        "closeup photograph of a maine coon",
        NEGATIVE,
    )
    assert result.model == "512-inpainting-ema"


def test_inpaint_with_vae_encode_for_inpaint() -> None:
    graph = {
        **sdxl_checkpoint("4", "512-inpainting-ema.safetensors"),
        "10": node("LoadImage", image="yosemite.png"),
        "11": node("VAEEncodeForInpaint", grow_mask_by=6, pixels=["10", 0], vae=["4", 2], mask=["10", 1]),
        **encoders(["4", 1], "outdoors in yosemite", ids=("6", "7")),
        "3": ksampler(9, ["11", 0], model=["4", 0], positive=["6", 0], negative=["7", 0]),
        **saved(["3", 0], ["4", 2]),
    }
    assert (read(graph).base, read(graph).prompt) == ("3", "outdoors in yosemite")


# ---- ControlNet, LoRA chain ------------------------------------------------------------------


def test_controlnet_in_a_two_pass_graph() -> None:
    graph = hires_fix({"8": node("LatentUpscale", width=768, height=1152, samples=["3", 0])}, ["8", 0])
    graph |= {
        "30": node("ControlNetLoader", control_net_name="control_openpose.safetensors"),
        "31": node("LoadImage", image="pose.png"),
        "32": node(
            "ControlNetApply", strength=1.0, conditioning=["6", 0], control_net=["30", 0], image=["31", 0]
        ),
        "33": node(
            "ControlNetApplyAdvanced",
            strength=0.7,
            positive=["32", 0],
            negative=["7", 0],
            control_net=["30", 0],
            image=["31", 0],
        ),
    }
    graph["3"]["inputs"] |= {"positive": ["33", 0], "negative": ["33", 1]}
    result = read(graph)
    assert (result.base, result.prompt, result.negative_prompt) == ("3", "a castle", NEGATIVE)


def test_lora_chain_of_the_base_pass_gives_its_checkpoint_and_every_lora_once() -> None:
    graph = hires_fix({"8": node("LatentUpscale", width=768, height=1152, samples=["3", 0])}, ["8", 0])
    graph |= {
        "40": node(
            "LoraLoader",
            lora_name="detail.safetensors",
            strength_model=0.8,
            strength_clip=0.6,
            model=["4", 0],
        ),
        "41": node("LoraLoaderModelOnly", lora_name="style.safetensors", strength_model=1.2, model=["40", 0]),
        "42": node("ModelSamplingDiscrete", sampling="eps", model=["41", 0]),
    }
    graph["3"]["inputs"]["model"] = ["42", 0]
    graph["12"]["inputs"]["model"] = ["40", 0]
    result = read(graph)
    assert (result.model, result.model_file) == ("dreamshaper_8", "sd15/dreamshaper_8.safetensors")
    assert [lora["name"] for lora in result.loras] == ["style.safetensors", "detail.safetensors"]
    assert [lora["name"] for lora in result.samplers[1]["loras"]] == ["detail.safetensors"]


# ---- custom sampler with guider, scheduler and noise nodes ---------------------------------


def test_custom_sampler_reads_noise_guider_scheduler_and_sampler_nodes() -> None:
    graph = {
        **sdxl_checkpoint("4", "juggernautXL.safetensors"),
        **encoders(["4", 1], "a red fox in snow", ids=("6", "7")),
        "20": node("Seed (rgthree)", seed=4242),
        "21": node("RandomNoise", noise_seed=["20", 0]),
        "22": node("CFGGuider", cfg=4.5, model=["4", 0], positive=["6", 0], negative=["7", 0]),
        "23": node("KSamplerSelect", sampler_name="dpmpp_2m"),
        "24": node("PrimitiveInt", value=28),
        "25": node("BasicScheduler", scheduler="karras", steps=["24", 0], denoise=1.0, model=["4", 0]),
        "26": node("EmptyLatentImage", width=832, height=1216, batch_size=1),
        "27": node(
            "SamplerCustomAdvanced",
            noise=["21", 0],
            guider=["22", 0],
            sampler=["23", 0],
            sigmas=["25", 0],
            latent_image=["26", 0],
        ),
        **saved(["27", 0], ["4", 2]),
    }
    result = read(graph)
    assert {name: getattr(result, name) for name in HEADLINE} == {
        "prompt": "a red fox in snow",
        "negative_prompt": NEGATIVE,
        "seed": 4242,
        "model": "juggernautXL",
        "sampler": "dpmpp_2m",
        "steps": 28,
        "cfg": 4.5,
    }
    assert result.sources == {
        "seed": "20:Seed (rgthree).seed",
        "steps": "24:PrimitiveInt.value",
        "cfg": "22:CFGGuider.cfg",
        "sampler": "23:KSamplerSelect.sampler_name",
        "model": "4:CheckpointLoaderSimple.ckpt_name",
        "prompt": "6:CLIPTextEncode.text",
        "negative_prompt": "7:CLIPTextEncode.text",
    }
    assert result.samplers[0]["scheduler"] == "karras"


def test_image_to_video_node_passes_the_positive_and_a_prompt_input_is_text() -> None:
    graph = {
        "1": node("UNETLoader", unet_name="hunyuan_video_i2v_720p_bf16.safetensors"),
        "2": node(
            "TextEncodeHunyuanVideo_ImageToVideo", prompt="a girl waves", image_interleave=4, clip=["9", 0]
        ),
        "3": node(
            "HunyuanImageToVideo", width=720, height=720, length=57, positive=["2", 0], start_image=["8", 0]
        ),
        "4": node("FluxGuidance", guidance=6.0, conditioning=["3", 0]),
        "5": node("BasicGuider", model=["1", 0], conditioning=["4", 0]),
        "6": node("RandomNoise", noise_seed=7),
        "7": node(
            "SamplerCustomAdvanced",
            noise=["6", 0],
            guider=["5", 0],
            sampler=["10", 0],
            sigmas=["11", 0],
            latent_image=["3", 1],
        ),
        "8": node("LoadImage", image="start.png"),
        "10": node("KSamplerSelect", sampler_name="euler"),
        "11": node("BasicScheduler", scheduler="simple", steps=20, denoise=1.0, model=["1", 0]),
        **saved(["7", 0], ["1", 2]),
    }
    result = read(graph)
    assert (result.prompt, result.seed, result.steps, result.cfg) == ("a girl waves", 7, 20, None)


# ---- no unique base ----------------------------------------------------------------------


def two_generations_stitched() -> dict[str, Any]:
    graph = {
        **sdxl_checkpoint("4", "sd_xl_base_1.0.safetensors"),
        "5": node("EmptyLatentImage", width=1024, height=1024, batch_size=1),
        **encoders(["4", 1], "a cat", ids=("6", "7")),
        **encoders(["4", 1], "a dog", ids=("16", "17")),
        "3": ksampler(1, ["5", 0], model=["4", 0], positive=["6", 0], negative=["7", 0]),
        "13": ksampler(2, ["5", 0], model=["4", 0], positive=["16", 0], negative=["17", 0]),
        "8": node("VAEDecode", samples=["3", 0], vae=["4", 2]),
        "18": node("VAEDecode", samples=["13", 0], vae=["4", 2]),
        "20": node("ImageStitch", direction="right", image1=["8", 0], image2=["18", 0]),
        "21": node("SaveImage", images=["20", 0]),
    }
    return graph


def test_two_independent_generations_in_one_image_leave_the_headline_empty_and_say_why() -> None:
    result = read(two_generations_stitched())
    assert result.base is None
    assert all(getattr(result, name) is None for name in HEADLINE)
    assert roles(result) == {"3": "base", "13": "base"}
    assert [s["prompt"] for s in result.samplers] == ["a cat", "a dog"]
    assert result.notes == [
        "no unique base pass: 2 independent generations (#3 KSampler, #13 KSampler) feed the saved image, "
        "so prompt, seed and settings are per sampler only"
    ]


def test_a_generation_that_reaches_only_a_preview_is_not_the_saved_image() -> None:
    graph = two_generations_stitched()
    graph["21"]["inputs"]["images"] = ["8", 0]
    graph["22"] = node("PreviewImage", images=["18", 0])
    del graph["20"]
    result = read(graph)
    assert [s["node_id"] for s in result.samplers] == ["3", "13"]  # both still listed
    assert (result.base, result.prompt, result.notes) == ("3", "a cat", [])


def test_workflow_only_graph_keeps_an_empty_headline_and_says_why() -> None:
    workflow = {
        "nodes": [
            {
                "id": 3,
                "type": "KSampler",
                "mode": 0,
                "widgets_values": [5, "fixed", 20, 7, "euler", "normal", 1],
            },
        ],
        "links": [],
    }
    result = read(None, workflow)
    assert result.from_workflow and result.base is None and result.seed is None
    assert result.samplers[0]["role"] == "base"
    assert result.notes and "UI graph only" in result.notes[0]


# ---- model names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "bare"),
    [
        ("sd_xl_base_1.0.safetensors", "sd_xl_base_1.0"),
        ("SDXL\\juggernautXL_v9.safetensors", "juggernautXL_v9"),
        ("flux/flux1-dev.sft", "flux1-dev"),
        ("animepro-Q5_K_M.gguf", "animepro-Q5_K_M"),
        ("v1-5-pruned-emaonly.ckpt", "v1-5-pruned-emaonly"),
        ("model-v1.5", "model-v1.5"),  # not a weight-file extension
        ("urn:air:sdxl:checkpoint:civitai:101055@128078", "urn:air:sdxl:checkpoint:civitai:101055@128078"),
        (".safetensors", ".safetensors"),
    ],
)
def test_bare_model_name(name: str, bare: str) -> None:
    assert bare_model_name(name) == bare


def test_samplers_that_read_each_other_have_no_base_and_say_so() -> None:
    graph = two_generations_stitched()
    graph["3"]["inputs"]["latent_image"] = ["13", 0]
    graph["13"]["inputs"]["latent_image"] = ["3", 0]
    result = read(graph)
    assert result.base is None and result.seed is None
    assert result.notes == ["no base pass: every sampler reads another sampler's output (a cycle)"]
