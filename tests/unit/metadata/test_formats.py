"""Per-tool readers, on files built in memory (and a few real corpus files)."""

from __future__ import annotations

import json

import piexif
import pytest

from libs.metadata import read_generation

from .builders import jpeg_with_exif, png_bytes, stealth_png, text_chunk, user_comment
from .corpus_scoring import CORPUS

INFOTEXT = (
    "a red fox, snow\nNegative prompt: blurry, lowres\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 123456789, "
    "Size: 832x1216, Model hash: abc, Model: juggernautXL, Version: v1.10.1"
)


@pytest.mark.parametrize("kind", ["tEXt", "zTXt", "iTXt", "iTXt-z"])
def test_a1111_png_in_every_text_chunk_kind(kind: str) -> None:
    record = read_generation(png_bytes(text_chunk("parameters", INFOTEXT, kind)))
    assert (record.tool, record.prompt, record.negative_prompt) == (
        "a1111",
        "a red fox, snow",
        "blurry, lowres",
    )
    assert (record.seed, record.steps, record.cfg) == (123456789, 28, 6.5)
    assert (record.sampler, record.model) == ("DPM++ 2M", "juggernautXL")
    assert record.extra["infotext"]["Schedule type"] == "Karras"
    assert record.error is None


@pytest.mark.parametrize("order", ["BE", "LE"])
def test_user_comment_utf16_of_either_byte_order_in_an_ii_header(order: str) -> None:
    # piexif writes an MM header by default; force the text order to disagree with it for LE
    data = jpeg_with_exif({"Exif": {piexif.ExifIFD.UserComment: user_comment(INFOTEXT, order)}})
    record = read_generation(data)
    assert record.format == "JPEG"
    assert record.prompt == "a red fox, snow"
    assert record.seed == 123456789


def test_user_comment_ascii_prefix_and_no_prefix() -> None:
    ascii_data = jpeg_with_exif(
        {"Exif": {piexif.ExifIFD.UserComment: b"ASCII\x00\x00\x00" + INFOTEXT.encode()}}
    )
    bare_data = jpeg_with_exif({"Exif": {piexif.ExifIFD.UserComment: INFOTEXT.encode() + b"\x00\x00"}})
    assert read_generation(ascii_data).steps == 28
    assert read_generation(bare_data).steps == 28


def test_civitai_created_date_is_a_generation_time() -> None:
    text = INFOTEXT + ", Created Date: 2024-05-18T11:28:26.9555996Z"
    data = jpeg_with_exif({"Exif": {piexif.ExifIFD.UserComment: user_comment(text, "BE")}})
    record = read_generation(data)
    assert record.tool == "civitai"
    assert (
        record.generated_at is not None
        and record.generated_at.isoformat() == "2024-05-18T11:28:26.955599+00:00"
    )
    assert record.timestamp_source == "infotext:Created Date"


def test_novelai_text_chunks() -> None:
    comment = {
        "prompt": "1girl",
        "uc": "bad hands",
        "seed": 7,
        "steps": 28,
        "scale": 5.0,
        "sampler": "k_euler",
    }
    data = png_bytes(
        text_chunk("Software", "NovelAI"),
        text_chunk("Source", "Stable Diffusion XL C1E1DE52"),
        text_chunk("Description", "1girl"),
        text_chunk("Comment", json.dumps(comment)),
    )
    record = read_generation(data)
    assert (record.tool, record.prompt, record.negative_prompt) == ("novelai", "1girl", "bad hands")
    assert (record.seed, record.steps, record.cfg, record.sampler) == (7, 28, 5.0, "k_euler")
    assert record.model == "Stable Diffusion XL C1E1DE52"


@pytest.mark.parametrize(
    ("mode", "compressed"), [("alpha", True), ("alpha", False), ("rgb", False), ("rgb", True)]
)
def test_stealth_pnginfo_variants(mode: str, compressed: bool) -> None:
    record = read_generation(stealth_png(INFOTEXT, compressed=compressed, mode=mode))
    assert record.tool == "a1111"
    assert record.seed == 123456789
    assert record.raw["stealth"]["mode"] == mode


def test_stealth_on_small_image_uses_the_full_decode() -> None:
    record = read_generation(
        stealth_png("a\nSteps: 1, Seed: 2, CFG scale: 3", compressed=False, size=(40, 40))
    )
    assert (record.tool, record.seed) == ("a1111", 2)


def test_invokeai_dream_line_with_inline_negative() -> None:
    dream = '"a castle on a hill [fog, people]" -s 50 -S 42 -W 512 -H 768 -C 7.5 -A k_lms'
    record = read_generation(png_bytes(text_chunk("Dream", dream)))
    assert (record.tool, record.prompt, record.negative_prompt) == (
        "invokeai",
        "a castle on a hill",
        "fog, people",
    )
    assert (record.seed, record.steps, record.cfg, record.sampler) == (42, 50, 7.5, "k_lms")


def test_invokeai_3_metadata() -> None:
    meta = {"positive_prompt": "p", "negative_prompt": "n", "seed": 1, "steps": 2, "cfg_scale": 3.5,
            "scheduler": "euler", "model": {"model_name": "juggernautXL"}}  # fmt: skip
    record = read_generation(png_bytes(text_chunk("invokeai_metadata", json.dumps(meta))))
    assert (record.tool, record.prompt, record.model, record.sampler, record.cfg) == (
        "invokeai", "p", "juggernautXL", "euler", 3.5)  # fmt: skip


def test_fooocus_a1111_scheme() -> None:
    text = INFOTEXT.replace("Version: v1.10.1", "Version: Fooocus v2.5.5")
    record = read_generation(png_bytes(text_chunk("parameters", text), text_chunk("fooocus_scheme", "a1111")))
    assert record.tool == "fooocus"
    assert record.extra["fooocus_scheme"] == "a1111"
    assert record.seed == 123456789


def test_fooocus_jpeg_exif_json() -> None:
    params = {"prompt": "cat", "negative_prompt": "", "seed": "99", "steps": 30, "guidance_scale": 4,
              "sampler": "dpmpp_2m_sde_gpu", "base_model": "juggernautXL", "version": "Fooocus v2.5.5"}  # fmt: skip
    exif = {
        "0th": {piexif.ImageIFD.Software: b"Fooocus v2.5.5"},
        "Exif": {
            piexif.ExifIFD.UserComment: json.dumps(params).encode(),
            piexif.ExifIFD.MakerNote: b"fooocus",
        },
    }
    record = read_generation(jpeg_with_exif(exif))
    assert (record.tool, record.prompt, record.seed, record.cfg) == ("fooocus", "cat", 99, 4.0)
    assert record.extra["fooocus_scheme"] == "fooocus"


def test_swarmui_date_has_day_precision_in_tenant_zone() -> None:
    from zoneinfo import ZoneInfo

    data = {"sui_image_params": {"prompt": "p", "seed": 3, "cfgscale": 7, "steps": 20, "model": "m"},
            "sui_extra_data": {"date": "2025-08-04"}}  # fmt: skip
    jpeg = jpeg_with_exif({"Exif": {piexif.ExifIFD.UserComment: user_comment(json.dumps(data), "LE")}})
    record = read_generation(jpeg, tenant_tz=ZoneInfo("Europe/Paris"))
    assert record.tool == "swarmui"
    assert record.generated_at is not None and record.generated_at.isoformat() == "2025-08-04T00:00:00+02:00"
    assert record.timestamp_precision == "day"


def test_easydiffusion_per_key_text_chunks() -> None:
    data = png_bytes(
        text_chunk("prompt", "a lighthouse"),
        text_chunk("negative_prompt", "people"),
        text_chunk("seed", "5"),
        text_chunk("use_stable_diffusion_model", "sd-v1-5"),
        text_chunk("sampler_name", "euler_a"),
        text_chunk("num_inference_steps", "25"),
        text_chunk("guidance_scale", "7.5"),
    )
    record = read_generation(data)
    assert (record.tool, record.prompt, record.model, record.steps, record.cfg) == (
        "easydiffusion", "a lighthouse", "sd-v1-5", 25, 7.5)  # fmt: skip


def test_midjourney_prompt_params_and_creation_time() -> None:
    data = png_bytes(
        text_chunk("Author", "someone"),
        text_chunk("Creation Time", "Thu, 20 Jun 2024 22:50:03 GMT"),
        text_chunk(
            "Description", "https://s.mj.run/abc a foggy harbour --ar 4:5 --chaos 16 Job ID: d95be554-1111"
        ),
    )
    record = read_generation(data)
    assert (record.tool, record.prompt) == ("midjourney", "a foggy harbour")
    assert record.extra["midjourney"]["params"] == {"ar": "4:5", "chaos": "16"}
    assert record.extra["midjourney"]["job_id"] == "d95be554-1111"
    assert record.extra["midjourney"]["image_prompts"] == ["https://s.mj.run/abc"]
    assert record.generated_at is not None and record.generated_at.isoformat() == "2024-06-20T22:50:03+00:00"
    assert record.timestamp_source == "png:Creation Time"


def test_comfyui_file_with_a1111_parameters_prefers_flat_values() -> None:
    record = read_generation((CORPUS / "comfyui/XL_00008.png").read_bytes())
    assert record.tool == "comfyui"
    assert (
        record.sampler == "dpmpp_3m_sde_gpu Karras"
    )  # from `parameters`, not the graph's "dpmpp_3m_sde_gpu"
    assert record.extra["comfyui_parameters_chunk"] is True


def test_comfyui_webp_exif_make_model() -> None:
    record = read_generation((CORPUS / "comfyui/mochi_simple_checkpoint.webp").read_bytes())
    assert (record.format, record.tool, record.seed) == ("WEBP", "comfyui", 93806664037998)


def test_civitai_comfy_backed_json_gets_tool_civitai() -> None:
    graph = {
        "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 2, "cfg": 3.0, "sampler_name": "euler",
              "scheduler": "normal", "denoise": 1.0, "model": ["resource-stack", 0]}},
        "resource-stack": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "urn:air:sdxl:checkpoint:civitai:1@2"}},
        "extra": {"airs": ["urn:air:sdxl:checkpoint:civitai:1@2"]},
    }  # fmt: skip
    data = jpeg_with_exif({"Exif": {piexif.ExifIFD.UserComment: user_comment(json.dumps(graph), "BE")}})
    record = read_generation(data)
    assert record.tool == "civitai"
    assert record.extra["civitai_backend"] == "comfyui"


def test_drawthings_xmp() -> None:
    record = read_generation(next((CORPUS / "drawthings").iterdir()).read_bytes())
    assert (record.tool, record.sampler, record.cfg) == ("drawthings", "Euler A Trailing", 3.5)


def test_non_ai_png_with_time_chunk_has_no_tool_and_no_embedded_time() -> None:
    record = read_generation((CORPUS / "_negative/1000000156.png").read_bytes())
    assert record.tool is None
    assert record.generated_at is None
    assert record.raw["png_time"] == "2020-06-07T05:22:52Z"


def test_camera_exif_is_not_a_generation_time() -> None:
    record = read_generation((CORPUS / "_negative/see-and-rock.webp").read_bytes())
    assert (record.tool, record.generated_at) == (None, None)
    assert record.raw["exif"]["DateTimeOriginal"] == "2013:10:21 15:19:01"


def test_extension_does_not_decide_the_format() -> None:
    record = read_generation((CORPUS / "civitai/JossyLoRa_e000003_02_20241030181251.png").read_bytes())
    assert record.format == "JPEG"


def test_c2pa_signature_time_for_dalle() -> None:
    record = read_generation((CORPUS / "openai/DALL-E_cloud_surfing_puppy.webp").read_bytes())
    assert (record.tool, record.model, record.timestamp_source) == ("openai", "DALL·E", "c2pa:signature")
    assert "manifests" in record.raw["c2pa"]
