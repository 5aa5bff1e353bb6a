"""Explicit lineage: what a file itself says about the files it was made from.

`lineage_facts` turns a `GenerationRecord` (what the metadata readers found) into `LineageFacts`:
the generation parameters the inferred rules compare, the keys other files may name this one by,
and `Reference`s to parents. Each reference names a key of the parent, the relation, the rule that
found it and the words in the file that prove it, so a person can check it.

Sources (see ../shared/notes/metadata-formats.md for where each reader puts them):
- C2PA ingredients of the active manifest (relationship parentOf / componentOf / inputTo), matched
  by the ingredient's instance id, its own manifest label, or its hash; the asset's own instance id
  and active manifest label are its keys.
- AUTOMATIC1111 "Init image hash" (img2img; the init image is saved as `<md5>.png`), "Mask blur"/
  "Inpaint area" (inpaint), and the Extras tab's "Postprocess ..." fields appended to a copy of the
  parent's parameters (upscale, or derived for face restoration only).
- ComfyUI LoadImage nodes whose image flows into VAEEncode (img2img), VAEEncodeForInpaint or
  InpaintModelConditioning (inpaint), or an upscale-model chain (upscale), following the graph links.
- InvokeAI generation_mode / init_image / strength (3.x+ metadata, 2.x sd-metadata, 1.x Dream -I).
- Midjourney job ids (own key) and image prompts that name another job.
Perceptual-hash matches (re-encode, resize, crop) need no reference: `linking` compares hashes.
`generation_mode` records that a file was made from a picture even when it names none (A1111's
"Denoising strength" without hires fix: A1111 saves no init image by default).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from libs.lineage.facts import LineageFacts, Reference, Relation
from libs.metadata.record import GenerationRecord

MAX_KEYS = 32
MAX_REFERENCES = 32
MAX_KEY_CHARS = 300
MAX_EVIDENCE_CHARS = 300

# A1111 Extras writes these after a copy of the source image's own infotext
_A1111_POSTPROCESS_UPSCALE = ("Postprocess upscale by", "Postprocess upscale to", "Postprocess upscaler")
_A1111_POSTPROCESS_PREFIXES = ("Postprocess", "GFPGAN", "CodeFormer", "Extras")
# infotext keys that describe the program, not the picture: a copy made later may differ in them
_A1111_VOLATILE = (
    "Version",
    "App",
    "Hashes",
    "Lora hashes",
    "TI hashes",
    "Emphasis",
    "Downcast alphas_cumprod",
)
_A1111_HIRES_KEYS = ("Hires upscale", "Hires steps", "Hires upscaler", "Hires resize", "Hires prompt")
_A1111_INPAINT_KEYS = ("Mask blur", "Inpaint area", "Masked area padding", "Mask mode", "Masked content")

_LORA_TAG = re.compile(r"<lora:([^:>]+)(?::[^>]*)?>", re.IGNORECASE)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")

# ComfyUI: what a loaded image becomes when it reaches these nodes (first match along the links wins
# in this order of strength: an inpaint encoder says more than a plain encoder)
_COMFY_INPAINT = frozenset({"VAEEncodeForInpaint", "InpaintModelConditioning", "VAEEncodeInpaint"})
# an instruct-pix2pix edit model encodes the picture it edits itself
_COMFY_IMG2IMG = frozenset({"VAEEncode", "VAEEncodeTiled", "InstructPixToPixConditioning"})
_COMFY_UPSCALE = frozenset(
    {
        "ImageUpscaleWithModel", "UltimateSDUpscale", "UltimateSDUpscaleNoUpscale", "ImageScale", "ImageScaleBy",
        "ImageScaleToTotalPixels",
    }
)  # fmt: skip
# nodes that turn a picture into a control signal: what follows is guidance, not lineage
_COMFY_CONTROL_PREFIXES = ("ControlNet", "IPAdapter", "CLIPVision", "StyleModel", "unCLIP", "T2IAdapter")
_COMFY_CONTROL_WORDS = (
    "Canny",
    "Depth",
    "Pose",
    "Lineart",
    "LineArt",
    "Scribble",
    "Preprocessor",
    "HED",
    "Normal",
)
_COMFY_LOADERS = frozenset({"LoadImage", "LoadImageOutput", "Image Load", "LoadImageFromPath"})
_COMFY_MAX_HOPS = 12


def lineage_facts(
    record: GenerationRecord,
    *,
    sha256: str,
    filename: str,
    phash: str | None,
    pixels_md5: str | None = None,
) -> LineageFacts:
    """Everything lineage needs from one imported file.

    `pixels_md5` (optional, `phash.pixels_md5` of the decoded image) lets an A1111 img2img result
    find its init image by content ("Init image hash") even when the saved init image was renamed.
    """
    keys: list[str] = [f"sha256:{sha256.lower()}"]
    name = basename(filename)
    if name:
        keys.append(f"file:{name}")
    if pixels_md5:
        keys.append(f"a1111-init:{pixels_md5.lower()}")
    references: list[Reference] = []

    infotext = _dict(record.extra.get("infotext"))
    if infotext:
        own, refs = _a1111(record, infotext)
        keys += own
        references += refs
    graph = comfy_api_graph(record)
    if graph:
        references += comfy_references(graph)
    if record.tool == "invokeai":
        references += _invokeai(record)
    own, refs = _midjourney(record)
    keys += own
    references += refs
    own, refs = _c2pa(record)
    keys += own
    references += refs

    return LineageFacts(
        seed=record.seed,
        negative_prompt=(record.negative_prompt or None) and record.negative_prompt[:500],  # type: ignore[index]
        sampler=(record.sampler or None) and record.sampler[:100],  # type: ignore[index]
        steps=record.steps if record.steps is not None and 0 <= record.steps < 2**31 else None,
        cfg=record.cfg if record.cfg is not None and math.isfinite(record.cfg) else None,
        loras=_loras(record)[:32],
        phash=phash,
        keys=_unique(k[:MAX_KEY_CHARS] for k in keys)[:MAX_KEYS],
        references=_unique_references(references)[:MAX_REFERENCES],
        generation_mode=_generation_mode(record, infotext, references),
    )


def basename(path: str) -> str:
    """The file name a tool would refer to: last path part, lower case, ComfyUI's " [input]" dropped."""
    name = re.sub(r"\s*\[(input|output|temp)\]\s*$", "", path.strip())
    return re.split(r"[\\/]", name)[-1].strip().lower()


def reference(key: str, relation: Relation, rule: str, evidence: str) -> Reference:
    """A `Reference` with its texts cut to what the contract allows."""
    return Reference(
        key=key[:MAX_KEY_CHARS], relation=relation, rule=rule[:60], evidence=evidence[:MAX_EVIDENCE_CHARS]
    )


def _generation_mode(
    record: GenerationRecord, infotext: Mapping[str, Any], references: Sequence[Reference]
) -> Literal["img2img", "inpaint"] | None:
    """Whether the file says it was made from a picture, named or not.

    A1111 writes "Denoising strength" for img2img, and for txt2img only with its hires fix (which adds
    "Hires ..." keys); A1111 does not save the init image by default, so most img2img results name
    no parent. An Extras copy repeats its source's fields: it says nothing about itself."""
    relations = {r.relation for r in references if r.rule != "a1111-extras"}
    if "inpaint" in relations:
        return "inpaint"
    if "img2img" in relations:
        return "img2img"
    if infotext and not any(str(k).startswith(_A1111_POSTPROCESS_PREFIXES) for k in infotext):
        if "Denoising strength" in infotext and not any(k in infotext for k in _A1111_HIRES_KEYS):
            return "inpaint" if any(k in infotext for k in _A1111_INPAINT_KEYS) else "img2img"
    if record.tool == "invokeai":
        texts = _dict(record.raw.get("png_text"))
        meta = _json_dict(texts.get("invokeai_metadata")) or {}
        mode = str(
            meta.get("generation_mode") or _dict(record.extra.get("invokeai")).get("generation_mode") or ""
        )
        if "inpaint" in mode or "outpaint" in mode:
            return "inpaint"
        if "img2img" in mode:
            return "img2img"
    return None


# --------------------------------------------------------------------------- AUTOMATIC1111


def a1111_parameters_key(prompt: str | None, negative: str | None, params: Mapping[str, str]) -> str:
    """The key of "these exact generation parameters", the ones the Extras tab copies onto its output.

    Postprocessing fields and program-version fields are left out: the copy gains the former and may
    be made by a newer program."""
    kept = sorted(
        (k, v)
        for k, v in params.items()
        if not k.startswith(_A1111_POSTPROCESS_PREFIXES) and k not in _A1111_VOLATILE
    )
    text = json.dumps([(prompt or "").strip(), (negative or "").strip(), kept], ensure_ascii=False)
    return "a1111-params:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _a1111(record: GenerationRecord, params: dict[str, Any]) -> tuple[list[str], list[Reference]]:
    text_params = {str(k): str(v) for k, v in params.items()}
    key = a1111_parameters_key(record.prompt, record.negative_prompt, text_params)
    refs: list[Reference] = []
    postprocess = {k: v for k, v in text_params.items() if k.startswith(_A1111_POSTPROCESS_PREFIXES)}
    own: list[str] = []
    if postprocess:
        # a copy of the parent's parameters: the parent holds the key, this file does not
        upscaled = any(k in text_params for k in _A1111_POSTPROCESS_UPSCALE)
        shown = ", ".join(f"{k}: {v}" for k, v in list(postprocess.items())[:3])
        refs.append(
            reference(
                key,
                "upscale" if upscaled else "derived",
                "a1111-extras",
                f"A1111 Extras ({shown}) on the parameters of seed {text_params.get('Seed', '?')}",
            )
        )
    else:
        own.append(key)
    # on an Extras copy the init image hash is the source's own: the init image is a grandparent
    init_hash = "" if postprocess else text_params.get("Init image hash", "").strip().lower()
    if re.fullmatch(r"[0-9a-f]{32}", init_hash):
        inpaint = any(k in text_params for k in _A1111_INPAINT_KEYS)
        relation: Relation = "inpaint" if inpaint else "img2img"
        strength = text_params.get("Denoising strength")
        evidence = f"A1111 {relation}, Init image hash {init_hash}" + (
            f", denoising {strength}" if strength else ""
        )
        refs.append(reference(f"a1111-init:{init_hash}", relation, "a1111-init-hash", evidence))
        refs.append(reference(f"file:{init_hash}.png", relation, "a1111-init-hash", evidence))
    return own, refs


# --------------------------------------------------------------------------- ComfyUI


def comfy_api_graph(record: GenerationRecord) -> dict[str, dict[str, Any]] | None:
    """The API-format graph the file carries (PNG "prompt" text, WebP EXIF Model "prompt:", or a
    JSON UserComment holding {"prompt": ...}); None without one."""
    candidates: list[Any] = []
    texts = _dict(record.raw.get("png_text"))
    candidates.append(texts.get("prompt"))
    exif = _dict(record.raw.get("exif"))
    for value in exif.values():
        if isinstance(value, str) and value.startswith("prompt:"):
            candidates.append(value[len("prompt:") :])
        elif isinstance(value, str) and value.lstrip().startswith("{") and '"prompt"' in value[:200]:
            try:
                loaded = json.loads(value)
            except (ValueError, RecursionError):
                continue
            if isinstance(loaded, dict):
                candidates.append(loaded.get("prompt"))
    for candidate in candidates:
        if isinstance(candidate, str):
            try:
                candidate = json.loads(candidate)
            except (ValueError, RecursionError):
                continue
        graph = _api_graph(candidate)
        if graph:
            return graph
    return None


def _api_graph(value: Any) -> dict[str, dict[str, Any]] | None:
    if not isinstance(value, dict):
        return None
    graph = {
        str(k): {
            "class_type": v["class_type"],
            "inputs": v.get("inputs") if isinstance(v.get("inputs"), dict) else {},
        }
        for k, v in value.items()
        if isinstance(v, dict) and isinstance(v.get("class_type"), str)
    }
    return graph or None


def _is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str | int)
        and isinstance(value[1], int)
    )


def comfy_references(graph: Mapping[str, Mapping[str, Any]]) -> list[Reference]:
    """A reference per LoadImage whose picture reaches an encoder or an upscaler.

    The relation comes from where the loaded pixels go, following the links forward: into an
    inpaint encoder → inpaint, into a VAE encoder → img2img, through an upscale into a saved image →
    upscale. A LoadImage feeding only a ControlNet, an IP-Adapter or a mask is a reference, not a parent."""
    consumers: dict[str, list[tuple[str, str, int]]] = {}
    for node_id, node in graph.items():
        for input_name, value in _dict(node.get("inputs")).items():
            if _is_link(value):
                consumers.setdefault(str(value[0]), []).append((node_id, str(input_name), int(value[1])))
    refs: list[Reference] = []
    for node_id, node in graph.items():
        if node.get("class_type") not in _COMFY_LOADERS:
            continue
        inputs = _dict(node.get("inputs"))
        image = inputs.get("image") or inputs.get("image_path") or inputs.get("path")
        if not isinstance(image, str) or not image.strip():
            continue
        relation = _comfy_relation(graph, consumers, node_id)
        if relation is None:
            continue
        found, via = relation
        name = basename(image)
        refs.append(
            reference(
                f"file:{name}",
                found,
                "comfyui-loadimage",
                f"ComfyUI LoadImage '{name}' (node {node_id}) into {via}",
            )
        )
    return refs


def _comfy_relation(
    graph: Mapping[str, Mapping[str, Any]], consumers: Mapping[str, list[tuple[str, str, int]]], start: str
) -> tuple[Relation, str] | None:
    """Breadth-first along the loader's IMAGE output (slot 0); the strongest use found wins.

    An encoder that starts a sampling from the pixels makes the loaded file a parent (inpaint, then
    img2img); a resize or upscale model whose result is saved makes an upscale. A path that turns the
    picture into a control signal (Canny, depth, pose preprocessors, ControlNet, CLIP vision) stops:
    a control image guides the generation, it is not what the output was made from. Flux's Canny and
    Depth models take their control image through InstructPixToPixConditioning too, so that node
    counts as an edit only when no loaded model is a canny/depth/control one."""
    control_models = _comfy_control_models(graph)
    seen = {start}
    frontier: list[tuple[str, str | None]] = [(start, None)]  # (node, the resize passed on the way)
    found: dict[Relation, str] = {}
    for _ in range(_COMFY_MAX_HOPS):
        following: list[tuple[str, str | None]] = []
        for node_id, scaled_by in frontier:
            for consumer, input_name, slot in consumers.get(node_id, []):
                if node_id == start and slot != 0:
                    continue  # the loader's MASK output is not the picture
                kind = str(graph[consumer].get("class_type"))
                if kind.startswith(_COMFY_CONTROL_PREFIXES) or any(w in kind for w in _COMFY_CONTROL_WORDS):
                    continue
                picture_input = input_name in ("pixels", "image", "images")
                if kind in _COMFY_INPAINT and picture_input:
                    found.setdefault("inpaint", kind)
                elif kind in _COMFY_IMG2IMG and picture_input:
                    if kind != "InstructPixToPixConditioning" or not control_models:
                        found.setdefault("img2img", kind)
                elif "save" in kind.lower() and scaled_by is not None:
                    found.setdefault("upscale", scaled_by)
                if consumer not in seen:
                    seen.add(consumer)
                    following.append((consumer, kind if kind in _COMFY_UPSCALE else scaled_by))
        frontier = following
        if not frontier:
            break
    for relation in ("inpaint", "img2img", "upscale"):
        if relation in found:
            return relation, found[relation]  # type: ignore[return-value]
    return None


def _comfy_control_models(graph: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether a loaded model (checkpoint, UNet, LoRA) is a control model (flux1-canny-dev, depth LoRA)."""
    for node in graph.values():
        for key, value in _dict(node.get("inputs")).items():
            if key.endswith(("_name", "name")) and isinstance(value, str):
                lowered = value.lower()
                if any(
                    word in lowered for word in ("canny", "depth", "control", "pose", "lineart", "scribble")
                ):
                    return True
    return False


# --------------------------------------------------------------------------- InvokeAI


def _invokeai(record: GenerationRecord) -> list[Reference]:
    texts = _dict(record.raw.get("png_text"))
    meta = _json_dict(texts.get("invokeai_metadata")) or {}
    mode = str(
        meta.get("generation_mode") or _dict(record.extra.get("invokeai")).get("generation_mode") or ""
    )
    init = meta.get("init_image") or _dict(record.extra.get("invokeai")).get("init_image")
    if isinstance(init, dict):
        init = init.get("image_name")
    strength = meta.get("strength", _dict(record.extra.get("invokeai")).get("strength"))
    options = _dict(record.extra.get("dream_options"))
    if not isinstance(init, str) and (options.get("-I") or options.get("--init_img")):
        # 1.x: the Dream command line "-I init.png -f 0.75" (with "-M mask.png" an inpaint)
        init = options.get("-I") or options.get("--init_img")
        mode = "inpaint" if (options.get("-M") or options.get("--init_mask")) else "img2img"
        strength = options.get("-f") or options.get("--strength")
    if not isinstance(init, str):
        # 2.x: sd-metadata {"image": {"type": "img2img", "init_image_path": ...}}
        image = _dict((_json_dict(texts.get("sd-metadata")) or {}).get("image"))
        init = image.get("init_image_path")
        mode = str(image.get("type") or mode)
        strength = image.get("strength", strength)
    if not isinstance(init, str) or not init.strip():
        return []
    lowered = mode.lower()
    relation: Relation = "inpaint" if ("inpaint" in lowered or "outpaint" in lowered) else "img2img"
    name = basename(init)
    evidence = f"InvokeAI {mode or relation} from {name}" + (
        f", strength {strength}" if strength is not None else ""
    )
    return [reference(f"file:{name}", relation, "invokeai-init-image", evidence)]


# --------------------------------------------------------------------------- Midjourney


def _midjourney(record: GenerationRecord) -> tuple[list[str], list[Reference]]:
    info = _dict(record.extra.get("midjourney"))
    own: list[str] = []
    refs: list[Reference] = []
    job = info.get("job_id")
    if isinstance(job, str) and _UUID.fullmatch(job.strip()):
        own.append(f"mj:{job.strip().lower()}")
    for url in info.get("image_prompts") or []:
        if not isinstance(url, str):
            continue
        match = _UUID.search(url)
        if match and match.group(0).lower() != str(job).lower():
            refs.append(
                reference(
                    f"mj:{match.group(0).lower()}",
                    "img2img",
                    "midjourney-image-prompt",
                    f"Midjourney image prompt {url}",
                )
            )
    return own, refs


# --------------------------------------------------------------------------- C2PA


def _c2pa(record: GenerationRecord) -> tuple[list[str], list[Reference]]:
    store = _dict(record.raw.get("c2pa"))
    manifests = _dict(store.get("manifests"))
    active_label = store.get("active_manifest")
    own: list[str] = []
    if isinstance(active_label, str) and active_label:
        own.append(f"c2pa-manifest:{active_label}")
    active = _dict(manifests.get(active_label)) if isinstance(active_label, str) else {}
    instance = active.get("instance_id")
    if _unique_id(instance):
        own.append(f"c2pa:{instance}")
    ingredients: list[dict[str, Any]] = [i for i in _list(active.get("ingredients")) if isinstance(i, dict)]
    if not ingredients:
        ingredients = [
            i
            for i in _list(_dict(record.extra.get("c2pa")).get("ingredients"))
            if isinstance(i, dict) and (i.get("manifest") in (None, active_label))
        ]
    actions = [a for a in _list(_dict(record.extra.get("c2pa")).get("actions")) if isinstance(a, dict)]
    active_actions = [a for a in actions if a.get("manifest") in (None, active_label)]
    refs: list[Reference] = []
    for ingredient in ingredients:
        relationship = str(ingredient.get("relationship") or "componentOf")
        relation = _c2pa_relation(relationship, active_actions)
        title = str(ingredient.get("title") or "an ingredient")
        evidence = f"C2PA ingredient '{title}' ({relationship})"
        for key in _ingredient_keys(ingredient):
            refs.append(reference(key, relation, "c2pa-ingredient", evidence))
    return own, refs


def _ingredient_keys(ingredient: Mapping[str, Any]) -> list[str]:
    keys: list[str] = []
    if _unique_id(ingredient.get("instance_id")):
        keys.append(f"c2pa:{ingredient['instance_id']}")
    if isinstance(ingredient.get("active_manifest"), str) and ingredient["active_manifest"]:
        keys.append(f"c2pa-manifest:{ingredient['active_manifest']}")
    digest = ingredient.get("hash")
    if isinstance(digest, str) and _HEX_SHA256.match(digest.lower()):
        keys.append(f"sha256:{digest.lower()}")
    return keys


def _unique_id(value: Any) -> bool:
    """An instance id that names one file: Bing writes "1.0" into every image, which names nothing."""
    return isinstance(value, str) and len(value.strip()) >= 12


def _c2pa_relation(relationship: str, actions: Iterable[Mapping[str, Any]]) -> Relation:
    """parentOf: the asset is an edit of the ingredient (what kind, the actions say); inputTo: the
    ingredient was an input of a generation (img2img); componentOf: a part of a composition."""
    if relationship == "inputTo":
        return "img2img"
    if relationship != "parentOf":
        return "derived"
    text = json.dumps(list(actions)).lower()
    if "upscal" in text:
        return "upscale"
    if "compositewithtrainedalgorithmicmedia" in text or "generative fill" in text or "inpaint" in text:
        return "inpaint"
    return "derived"


# --------------------------------------------------------------------------- helpers


def _loras(record: GenerationRecord) -> list[str]:
    names: list[str] = []
    for match in _LORA_TAG.finditer(record.prompt or ""):
        names.append(match.group(1).strip())
    for lora in _list(_dict(record.extra.get("comfyui")).get("loras")):
        if isinstance(lora, dict) and isinstance(lora.get("name"), str):
            names.append(lora["name"])
    meta = _json_dict(_dict(record.raw.get("png_text")).get("invokeai_metadata")) or {}
    for lora in _list(meta.get("loras")):
        model = _dict(lora).get("model") or _dict(lora).get("lora")
        name = _dict(model).get("name") or _dict(model).get("model_name")
        if isinstance(name, str):
            names.append(name)
    return _unique(_lora_name(n) for n in names if n.strip())


def _lora_name(name: str) -> str:
    stem = re.split(r"[\\/]", name.strip())[-1]
    return re.sub(r"\.(safetensors|ckpt|pt)$", "", stem, flags=re.IGNORECASE)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _unique_references(references: Iterable[Reference]) -> list[Reference]:
    return list({(r.key, r.relation): r for r in references}.values())


def _json_dict(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        return None
    try:
        loaded = json.loads(value)
    except (ValueError, RecursionError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
