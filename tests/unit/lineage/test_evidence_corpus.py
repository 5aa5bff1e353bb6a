"""Explicit lineage read from real files: every reference the corpus files carry is found, with its
relation, and nothing else; where the corpus has no file for a source, a faithful one is built from
the format's documentation (../shared/notes/metadata-formats.md) and read by the real readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from libs.lineage.evidence import lineage_facts
from libs.lineage.facts import Edge, Generation, LineageFacts
from libs.lineage.linking import link_all
from libs.metadata.reader import read_generation_file
from libs.metadata.record import GenerationRecord

from .making import EXAMPLES, REAL, T0, generation_of_bytes, generation_of_file, picture, png

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".avif", ".gif"}

# file → {(key the parent holds, relation, rule)}: every reference in the two corpora
EXPECTED_REFERENCES: dict[str, set[tuple[str, str, str]]] = {
    # ComfyUI: LoadImage into VAEEncode / an edit model's encoder (img2img) or an inpaint encoder
    "comfyui/img2img_cropped.png": {("file:example.png", "img2img", "comfyui-loadimage")},
    "img2img/img2img_workflow.png": {("file:example.png", "img2img", "comfyui-loadimage")},
    "edit_models/sdxl_edit_model.png": {("file:mountains.png", "img2img", "comfyui-loadimage")},
    "hidream/hidream_e1_example.png": {("file:mountains.png", "img2img", "comfyui-loadimage")},
    "hidream/hidream_e1.1_example.png": {("file:flux_dev_example.png", "img2img", "comfyui-loadimage")},
    "flux/flux_kontext_example.png": {("file:fennec_girl_sing.png", "img2img", "comfyui-loadimage")},
    "flux/flux_kontext_example_comic.webp": {("file:fennec_girl_sing.png", "img2img", "comfyui-loadimage")},
    "flux2/flux2_example.png": {
        ("file:fennec_girl_sing.png", "img2img", "comfyui-loadimage"),
        ("file:sunset.png", "img2img", "comfyui-loadimage"),
    },
    "omnigen/omnigen2_example.png": {("file:fennec_girl_sing.png", "img2img", "comfyui-loadimage")},
    "flux/flux_fill_inpaint_example.png": {
        ("file:yosemite_inpaint_example.png", "inpaint", "comfyui-loadimage")
    },
    "inpaint/inpain_model_cat.png": {("file:yosemite_inpaint_example.png", "inpaint", "comfyui-loadimage")},
    "inpaint/inpain_model_woman.png": {("file:yosemite_inpaint_example.png", "inpaint", "comfyui-loadimage")},
    "inpaint/inpaint_anythingv3_woman.png": {
        ("file:yosemite_inpaint_example.png", "inpaint", "comfyui-loadimage")
    },
    "inpaint/inpaint_example.png": {("file:yosemite_inpaint_example.png", "inpaint", "comfyui-loadimage")},
    "model_merging/model_merging_inpaint.png": {
        ("file:yosemite_inpaint_example.png", "inpaint", "comfyui-loadimage")
    },
    "inpaint/inpain_model_outpainting.png": {
        ("file:yosemite_outpaint_example.png", "inpaint", "comfyui-loadimage")
    },
    # the documentation's outpaint example carries the graph that made it from itself (same name)
    "inpaint/yosemite_outpaint_example.png": {
        ("file:yosemite_outpaint_example.png", "inpaint", "comfyui-loadimage")
    },
    # C2PA: the active manifest's ingredients, by instance id and by the ingredient's own manifest
    "firefly/ocsp.jpg": {
        ("c2pa:xmp:iid:726ddd55-d57b-4b4e-9c81-d56e6389049d", "derived", "c2pa-ingredient"),
        ("c2pa-manifest:urn:uuid:83875007-1e81-4027-847f-4137f13027db", "derived", "c2pa-ingredient"),
    },
    "firefly/thumbnail-in-databox.png": {
        ("c2pa:xmp:iid:9e8f2d4c-e9e4-4de4-8cef-acfe16cc859f", "derived", "c2pa-ingredient"),
        ("c2pa-manifest:urn:uuid:e15cfcde-2779-4223-b39e-339733e1bed2", "derived", "c2pa-ingredient"),
    },
    "google_gemini/gemini_img.png": {
        ("c2pa-manifest:urn:c2pa:bebd8789-d56f-91ad-5954-400498208525", "derived", "c2pa-ingredient"),
    },
    "openai/ChatGPT_Image.png": {
        ("c2pa:xmp:iid:4bdea1c1-61f1-4827-99a7-c6ee2c0ed623", "derived", "c2pa-ingredient"),
        ("c2pa-manifest:urn:c2pa:32ddaf11-f265-46f2-9bdc-562e64ecce62", "derived", "c2pa-ingredient"),
    },
    "openai/DALL-E_cloud_surfing_puppy.webp": {
        ("c2pa:xmp:iid:051ca97b-9f4c-428a-a28b-0c4bf1240cd2", "derived", "c2pa-ingredient"),
        ("c2pa-manifest:urn:uuid:4c27da49-3ecf-452d-b7a9-c433fad86d3a", "derived", "c2pa-ingredient"),
    },
}

# keys other files may name these by (beyond sha256: and file:)
EXPECTED_OWN_KEYS = {
    "midjourney/image-description.png": {"mj:ce230fb8-1f1f-45cd-b7dd-6e4295cfd913"},
    "firefly/cai.jpg": {
        "c2pa-manifest:urn:uuid:f3d5636b-1d82-49e4-9abe-632fa9b0d47d",
        "c2pa:xmp:iid:932f0358-59ab-4f2a-ba4e-1ae7ed0273fc",
    },
    "openai/ChatGPT_Image.png": {
        "c2pa-manifest:urn:c2pa:3c7031d4-0533-4cd5-9345-be05747b097c",
        "c2pa:xmp:iid:728e8ae9-2b00-4a84-b2dd-c6d65f1e49bf",
    },
    # Bing writes instance id "1.0" into every image: it names no file, so it is no key
    "bing_image_creator/bing_creator_cloud_surfing_puppy.jpg": {
        "c2pa-manifest:urn:uuid:5acd4ed0-ce0d-4a9c-93ca-f5f50effb501"
    },
}


def _corpus_files() -> list[tuple[str, Path]]:
    assert REAL.is_dir() and EXAMPLES.is_dir(), "the shared corpus is missing"
    files = []
    for root in (REAL, EXAMPLES):
        for path in sorted(root.glob("*/*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                files.append((str(path.relative_to(root)), path))
    return files


def _facts(path: Path) -> LineageFacts:
    record = read_generation_file(path)
    return lineage_facts(record, sha256="0" * 64, filename=path.name, phash=None)


def test_every_reference_in_the_corpus_is_found_with_its_relation_and_nothing_else() -> None:
    found: dict[str, set[tuple[str, str, str]]] = {}
    for name, path in _corpus_files():
        references: set[tuple[str, str, str]] = {(r.key, r.relation, r.rule) for r in _facts(path).references}
        if references:
            found[name] = references
    assert found == EXPECTED_REFERENCES


def test_the_keys_files_are_named_by() -> None:
    files = dict(_corpus_files())
    for name, keys in EXPECTED_OWN_KEYS.items():
        facts = _facts(files[name])
        own = {k for k in facts.keys if not k.startswith(("sha256:", "file:"))}
        assert own == keys, name
        assert f"file:{Path(name).name.lower()}" in facts.keys


def test_a_control_image_is_not_a_parent() -> None:
    """ControlNet, Canny, depth maps, unCLIP and Flux's canny/depth models take a picture as guidance."""
    files = dict(_corpus_files())
    for name in (
        "controlnet/controlnet_example.png", "controlnet/depth_controlnet.png", "controlnet/pose_worship.png",
        "flux/flux_canny_model_example.png", "flux/flux_depth_lora_example.png", "unclip/unclip_example.png",
        "sd3/sd3_controlnet_example.png", "stable_cascade/stable_cascade__canny_controlnet.png",
        "upscale_models/esrgan_example.png",  # upscales its own generation, loads no file
    ):  # fmt: skip
        assert _facts(files[name]).references == [], name


def test_comfyui_documentation_inpaints_link_to_the_image_they_load() -> None:
    """The inpaint examples load yosemite_inpaint_example.png / yosemite_outpaint_example.png, which
    are in the corpus too: imported together, the explicit edges are found (and no self-edge)."""
    names = [
        "inpaint/yosemite_inpaint_example.png", "inpaint/yosemite_outpaint_example.png",
        "inpaint/inpaint_example.png", "inpaint/inpain_model_cat.png", "inpaint/inpain_model_woman.png",
        "inpaint/inpaint_anythingv3_woman.png", "inpaint/inpain_model_outpainting.png",
        "model_merging/model_merging_inpaint.png", "flux/flux_fill_inpaint_example.png",
        "controlnet/controlnet_example.png", "img2img/img2img_workflow.png",
    ]  # fmt: skip
    gens = [generation_of_file(EXAMPLES / name) for name in names]
    edges = {(e.parent_id, e.child_id, e.relation, e.explicit) for e in link_all(gens)}
    inpaint_parent = "inpaint/yosemite_inpaint_example.png"
    outpaint_parent = "inpaint/yosemite_outpaint_example.png"
    assert edges == {
        (inpaint_parent, "inpaint/inpaint_example.png", "inpaint", True),
        (inpaint_parent, "inpaint/inpain_model_cat.png", "inpaint", True),
        (inpaint_parent, "inpaint/inpain_model_woman.png", "inpaint", True),
        (inpaint_parent, "inpaint/inpaint_anythingv3_woman.png", "inpaint", True),
        (inpaint_parent, "model_merging/model_merging_inpaint.png", "inpaint", True),
        (inpaint_parent, "flux/flux_fill_inpaint_example.png", "inpaint", True),
        (outpaint_parent, "inpaint/inpain_model_outpainting.png", "inpaint", True),
    }


# --------------------------------------------------------------------------- built files

PARAMS = (
    "Steps: 30, Sampler: DPM++ 2M Karras, Schedule type: Karras, CFG scale: 6, Seed: 3017446621, "
    "Size: 512x512, Model hash: 4496b36d48, Model: dreamshaperXL_turbo, Version: v1.10.1"
)
PROMPT = "a lighthouse on a cliff at golden hour, dramatic clouds, oil painting"
NEGATIVE = "blurry, lowres"


def _infotext(params: str = PARAMS, prompt: str = PROMPT) -> str:
    return f"{prompt}\nNegative prompt: {NEGATIVE}\n{params}"


def _edges(*gens: Generation) -> set[tuple[str, str, str, str, bool]]:
    return {(e.parent_id, e.child_id, e.relation, e.rule, e.explicit) for e in link_all(list(gens))}


def test_a1111_img2img_finds_its_saved_init_image_by_the_init_image_hash() -> None:
    """A1111 with "Save a copy of image before doing img2img" writes the init image as
    outputs/init-images/<md5 of its pixels>.png, and "Init image hash: <md5>" into the result."""
    source = picture(1, (512, 512))
    md5 = __import__("hashlib").md5(source.tobytes()).hexdigest()
    original = generation_of_bytes(png(source, {"parameters": _infotext()}), "00041-3017446621.png", at=T0)
    init_copy = generation_of_bytes(png(source), f"{md5}.png", at=T0.replace(minute=2))
    params = (
        PARAMS.replace("Seed: 3017446621", "Seed: 77") + f", Denoising strength: 0.55, Init image hash: {md5}"
    )
    result = generation_of_bytes(
        png(picture(2, (512, 512)), {"parameters": _infotext(params)}),
        "00042-77.png",
        at=T0.replace(minute=2),
    )
    assert {(r.key, r.relation) for r in result.facts.references} == {
        (f"a1111-init:{md5}", "img2img"),
        (f"file:{md5}.png", "img2img"),
    }
    edges = _edges(original, init_copy, result)
    assert (f"{md5}.png", "00042-77.png", "img2img", "a1111-init-hash", True) in edges
    # the saved copy is the original's pixels without its text: a copy, found by the perceptual hash
    assert ("00041-3017446621.png", f"{md5}.png", "derived", "phash-copy", False) in edges


def test_a1111_inpaint_is_told_by_its_mask_fields() -> None:
    params = (
        PARAMS
        + ", Denoising strength: 0.75, Mask blur: 4, Inpaint area: Only masked, Init image hash: "
        + "ab" * 16
    )
    record = read_generation_file_bytes(png(picture(3), {"parameters": _infotext(params)}), "inpaint.png")
    facts = lineage_facts(record, sha256="0" * 64, filename="inpaint.png", phash=None)
    assert {(r.key, r.relation, r.rule) for r in facts.references} == {
        ("a1111-init:" + "ab" * 16, "inpaint", "a1111-init-hash"),
        ("file:" + "ab" * 16 + ".png", "inpaint", "a1111-init-hash"),
    }


def test_a1111_extras_upscale_is_an_upscale_of_the_image_with_the_same_parameters() -> None:
    """The Extras tab appends its "Postprocess ..." fields to a copy of the source's infotext."""
    source = picture(4, (512, 512))
    original = generation_of_bytes(png(source, {"parameters": _infotext()}), "00041-3017446621.png", at=T0)
    reroll = generation_of_bytes(
        png(picture(5, (512, 512)), {"parameters": _infotext(PARAMS.replace("3017446621", "12"))}),
        "00042-12.png",
        at=T0.replace(minute=1),
    )
    extras = PARAMS.replace("Version: v1.10.1", "Version: v1.10.2") + (
        ", Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+"
    )
    upscaled = generation_of_bytes(
        png(source.resize((1024, 1024)), {"parameters": _infotext(extras)}),
        "00003.png",
        at=T0.replace(minute=5),
    )
    face_only = generation_of_bytes(
        png(source, {"parameters": _infotext(PARAMS + ", GFPGAN visibility: 1")}),
        "00004.png",
        at=T0.replace(minute=6),
    )
    edges = _edges(original, reroll, upscaled, face_only)
    assert ("00041-3017446621.png", "00003.png", "upscale", "a1111-extras", True) in edges
    assert ("00041-3017446621.png", "00004.png", "derived", "a1111-extras", True) in edges
    # the copy holds no key of its own parameters: another Extras pass still finds the original
    assert not any(k.startswith("a1111-params:") for k in upscaled.facts.keys)


def read_generation_file_bytes(data: bytes, filename: str) -> GenerationRecord:
    from libs.metadata.reader import read_generation

    return read_generation(data, filename=filename)


def _comfy_png(graph: dict, seed: int = 9) -> bytes:
    return png(
        picture(seed), {"prompt": json.dumps(graph), "workflow": json.dumps({"nodes": [], "links": []})}
    )


SAMPLER = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox in snow", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 5,
            "steps": 20,
            "cfg": 7,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 0.6,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["11", 0],
        },
    },
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
}


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        pytest.param(  # img2img through a resize: the encoder says what it is
            {
                "10": {"class_type": "LoadImage", "inputs": {"image": "ComfyUI_00012_.png", "upload": "image"}},
                "12": {"class_type": "ImageScale", "inputs": {"image": ["10", 0], "width": 1024, "height": 1024,
                                                              "upscale_method": "bilinear", "crop": "center"}},
                "11": {"class_type": "VAEEncode", "inputs": {"pixels": ["12", 0], "vae": ["4", 2]}},
            },
            {("file:comfyui_00012_.png", "img2img")},
            id="img2img",
        ),
        pytest.param(  # InpaintModelConditioning hands the sampler its latent
            {
                "10": {"class_type": "LoadImage", "inputs": {"image": "clipspace/clipspace-mask-1.png [input]"}},
                "11": {"class_type": "InpaintModelConditioning", "inputs": {
                    "positive": ["6", 0], "negative": ["7", 0], "vae": ["4", 2], "pixels": ["10", 0],
                    "mask": ["10", 1], "noise_mask": True}},
            },
            {("file:clipspace-mask-1.png", "inpaint")},
            id="inpaint",
        ),
        pytest.param(  # the loaded image only as a mask: no parent
            {
                "10": {"class_type": "LoadImageMask", "inputs": {"image": "mask.png", "channel": "alpha"}},
                "13": {"class_type": "LoadImage", "inputs": {"image": "base.png"}},
                "11": {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["14", 0], "mask": ["13", 1]}},
                "14": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
            },
            set(),
            id="mask-only",
        ),
        pytest.param(  # ControlNet guidance: not a parent
            {
                "10": {"class_type": "LoadImage", "inputs": {"image": "pose.png"}},
                "12": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": "openpose.safetensors"}},
                "13": {"class_type": "ControlNetApply", "inputs": {"conditioning": ["6", 0], "control_net": ["12", 0],
                                                                   "image": ["10", 0], "strength": 1.0}},
                "11": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
            },
            set(),
            id="controlnet",
        ),
    ],
)  # fmt: skip
def test_comfyui_loadimage_chains(nodes: dict, expected: set[tuple[str, str]]) -> None:
    graph = {**SAMPLER, **nodes}
    record = read_generation_file_bytes(_comfy_png(graph), "ComfyUI_00013_.png")
    assert record.tool == "comfyui"
    facts = lineage_facts(record, sha256="0" * 64, filename="ComfyUI_00013_.png", phash=None)
    assert {(r.key, r.relation) for r in facts.references} == expected


def test_comfyui_upscale_model_chain_links_the_upscale_to_the_generation_it_loads() -> None:
    generated = generation_of_bytes(_comfy_png({**SAMPLER, "11": {"class_type": "EmptyLatentImage", "inputs": {
        "width": 512, "height": 512, "batch_size": 1}}}), "ComfyUI_00012_.png", at=T0)  # fmt: skip
    upscale_graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "ComfyUI_00012_.png", "upload": "image"}},
        "2": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "4x-UltraSharp.pth"}},
        "3": {
            "class_type": "ImageUpscaleWithModel",
            "inputs": {"upscale_model": ["2", 0], "image": ["1", 0]},
        },
        "4": {"class_type": "SaveImage", "inputs": {"filename_prefix": "upscaled", "images": ["3", 0]}},
    }
    upscaled = generation_of_bytes(
        _comfy_png(upscale_graph, seed=10), "upscaled_00001_.png", at=T0.replace(minute=3)
    )
    assert {(r.key, r.relation) for r in upscaled.facts.references} == {
        ("file:comfyui_00012_.png", "upscale")
    }
    assert _edges(generated, upscaled) == {
        ("ComfyUI_00012_.png", "upscaled_00001_.png", "upscale", "comfyui-loadimage", True)
    }


def test_comfyui_file_name_must_exist_before_the_generation_that_loads_it() -> None:
    """ComfyUI's counter restarts per prefix: a later ComfyUI_00012_.png is not the parent."""
    graph = {**SAMPLER, "10": {"class_type": "LoadImage", "inputs": {"image": "ComfyUI_00012_.png"}},
             "11": {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}}}  # fmt: skip
    child = generation_of_bytes(_comfy_png(graph, seed=11), "ComfyUI_00020_.png", at=T0.replace(hour=12))
    earlier = generation_of_bytes(
        png(picture(12)), "ComfyUI_00012_.png", asset_id="earlier", at=T0.replace(hour=11)
    )
    later = generation_of_bytes(
        png(picture(13)), "ComfyUI_00012_.png", asset_id="later", at=T0.replace(hour=15)
    )
    assert {(e.parent_id, e.relation) for e in link_all([child, earlier, later])} == {("earlier", "img2img")}


def test_invokeai_init_image_in_each_metadata_generation() -> None:
    v3 = {
        "positive_prompt": "a castle", "negative_prompt": "", "seed": 1, "steps": 30, "cfg_scale": 7.5,
        "scheduler": "euler", "width": 512, "height": 512, "model": {"model_name": "sd-1.5"},
        "generation_mode": "img2img", "init_image": "2b9c1f8e-7a1d-4d3c-9f5e-0a1b2c3d4e5f.png", "strength": 0.7,
    }  # fmt: skip
    inpaint = {**v3, "generation_mode": "sdxl_inpaint", "init_image": "base.png"}
    v2 = {"model_weights": "stable-diffusion-1.5", "image": {"prompt": [{"prompt": "a castle", "weight": 1}],
          "seed": 1, "steps": 30, "cfg_scale": 7.5, "sampler": "k_lms", "type": "img2img",
          "init_image_path": "outputs/init-images/castle.png", "strength": 0.6}}  # fmt: skip
    dream = '"a castle" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms -I outputs/old/000012.42.png -f 0.75'
    cases = [
        ({"invokeai_metadata": json.dumps(v3)}, ("file:2b9c1f8e-7a1d-4d3c-9f5e-0a1b2c3d4e5f.png", "img2img")),
        ({"invokeai_metadata": json.dumps(inpaint)}, ("file:base.png", "inpaint")),
        ({"sd-metadata": json.dumps(v2)}, ("file:castle.png", "img2img")),
        ({"Dream": dream}, ("file:000012.42.png", "img2img")),
    ]
    for texts, expected in cases:
        record = read_generation_file_bytes(png(picture(14), texts), "invoke.png")
        assert record.tool == "invokeai", texts
        facts = lineage_facts(record, sha256="0" * 64, filename="invoke.png", phash=None)
        assert [(r.key, r.relation) for r in facts.references] == [expected], texts
        assert facts.references[0].rule == "invokeai-init-image"


def test_midjourney_image_prompt_names_the_job_it_starts_from() -> None:
    job, parent_job = "0c1e9a44-2d7b-4f7e-9a3e-6c5b2f1d8e70", "d95be554-1b2c-4d3e-8f90-a1b2c3d4e5f6"

    def mj(job_id: str, prompt: str, seed: int) -> bytes:
        texts = {"Author": "someone", "Creation Time": "Thu, 20 Jun 2024 22:50:03 GMT",
                 "Description": f"{prompt} --v 6 Job ID: {job_id}"}  # fmt: skip
        return png(picture(seed), texts)

    parent = generation_of_bytes(mj(parent_job, "a koi pond at dawn", 15), "parent.png")
    child = generation_of_bytes(
        mj(job, f"https://cdn.midjourney.com/{parent_job}/0_0.png a koi pond at dusk", 16), "child.png"
    )
    assert f"mj:{parent_job}" in parent.facts.keys
    assert [(r.key, r.relation) for r in child.facts.references] == [(f"mj:{parent_job}", "img2img")]
    assert {(e.parent_id, e.child_id, e.relation, e.explicit) for e in link_all([parent, child])} == {
        ("parent.png", "child.png", "img2img", True)
    }


def _c2pa_record(label: str, instance: str, ingredients: list[dict], actions: list[dict]) -> GenerationRecord:
    """A record as the C2PA reader fills it from c2pa-python's manifest store JSON."""
    store = {"active_manifest": label, "manifests": {label: {"instance_id": instance, "ingredients": ingredients,
             "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": actions}}]}}}  # fmt: skip
    record = GenerationRecord(tool="firefly", format="JPEG")
    record.raw["c2pa"] = store
    record.extra["c2pa"] = {
        "ingredients": [{**i, "manifest": label} for i in ingredients],
        "actions": [{**a, "manifest": label} for a in actions],
    }
    return record


@pytest.mark.parametrize(
    ("relationship", "actions", "relation"),
    [
        ("inputTo", [{"action": "c2pa.created"}], "img2img"),
        ("componentOf", [{"action": "c2pa.placed"}], "derived"),
        ("parentOf", [{"action": "c2pa.opened"}, {"action": "c2pa.edited"}], "derived"),
        ("parentOf", [{"action": "c2pa.edited", "digitalSourceType":
                       "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"}], "inpaint"),
        ("parentOf", [{"action": "c2pa.resized", "parameters": {"description": "Upscaled 2x"}}], "upscale"),
    ],
)  # fmt: skip
def test_c2pa_ingredient_relationship_gives_the_relation_and_matches_by_instance_id(
    relationship: str, actions: list[dict], relation: str
) -> None:
    parent_record = _c2pa_record(
        "urn:uuid:parent", "xmp:iid:0000-parent-instance", [], [{"action": "c2pa.created"}]
    )
    ingredient = {
        "title": "dawn.jpg",
        "relationship": relationship,
        "instance_id": "xmp:iid:0000-parent-instance",
    }
    child_record = _c2pa_record("urn:uuid:child", "xmp:iid:0000-child-instance", [ingredient], actions)
    parent = lineage_facts(parent_record, sha256="a" * 64, filename="dawn.jpg", phash=None)
    child = lineage_facts(child_record, sha256="b" * 64, filename="dawn-edit.jpg", phash=None)
    assert "c2pa:xmp:iid:0000-parent-instance" in parent.keys
    assert [(r.key, r.relation) for r in child.references] == [
        ("c2pa:xmp:iid:0000-parent-instance", relation)
    ]
    gens = [
        Generation("dawn", None, "firefly", None, None, 100, 100, parent),
        Generation("edit", None, "firefly", None, None, 100, 100, child),
    ]
    edges: list[Edge] = link_all(gens)
    assert [(e.parent_id, e.child_id, e.relation, e.explicit) for e in edges] == [
        ("dawn", "edit", relation, True)
    ]


def test_c2pa_ingredient_matched_by_hash() -> None:
    digest = "c" * 64
    record = _c2pa_record("urn:uuid:x", "xmp:iid:0000-x-instance", [{"title": "a", "relationship": "parentOf",
                          "hash": digest.upper()}], [])  # fmt: skip
    facts = lineage_facts(record, sha256="d" * 64, filename="x.jpg", phash=None)
    assert [r.key for r in facts.references] == [f"sha256:{digest}"]


@pytest.mark.parametrize(
    ("extra", "mode"),
    [
        (", Denoising strength: 0.45", "img2img"),  # A1111 img2img with the init image not saved (default)
        (", Denoising strength: 0.7, Mask blur: 4, Inpaint area: Whole picture", "inpaint"),
        (
            ", Denoising strength: 0.7, Hires upscale: 2, Hires steps: 15, Hires upscaler: Latent",
            None,
        ),  # txt2img
        ("", None),
        (", Denoising strength: 0.45, Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+", None),
    ],
)
def test_a1111_says_when_it_was_made_from_a_picture_even_without_naming_it(
    extra: str, mode: str | None
) -> None:
    record = read_generation_file_bytes(png(picture(20), {"parameters": _infotext(PARAMS + extra)}), "x.png")
    assert lineage_facts(record, sha256="0" * 64, filename="x.png", phash=None).generation_mode == mode


def test_corpus_generation_modes() -> None:
    """Every file that names an img2img or inpaint parent says so in generation_mode too; no txt2img
    file of the corpus claims one (the hires-fix A1111 files write Denoising strength as well)."""
    for name, path in _corpus_files():
        facts = _facts(path)
        relations = {r.relation for r in facts.references} & {"img2img", "inpaint"}
        expected = "inpaint" if "inpaint" in relations else ("img2img" if relations else None)
        assert facts.generation_mode == expected, name


def test_odd_values_do_not_break_the_facts() -> None:
    """Facts travel in events and database columns: out-of-range numbers are left out, texts cut."""
    record = GenerationRecord(tool="a1111", prompt="x", steps=10**12, cfg=float("nan"), seed=2**70)
    record.extra["infotext"] = {"Steps": "1" * 40, "Init image hash": "zz", "Postprocess upscale by": None}
    facts = lineage_facts(record, sha256="A" * 64, filename="/some/dir/" + "n" * 400 + ".PNG", phash=None)
    assert facts.steps is None and facts.cfg is None and facts.seed == 2**70
    assert all(len(k) <= 300 for k in facts.keys) and facts.keys[0] == "sha256:" + "a" * 64
    assert json.loads(facts.model_dump_json())["references"][0]["relation"] == "upscale"
