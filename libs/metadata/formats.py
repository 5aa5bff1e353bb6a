"""Tool readers: turn the raw metadata blocks of one file into generation fields.

`read_tool_metadata(record, found)` looks at what the container held (PNG text chunks,
decoded EXIF tags, XMP properties, stealth text) and recognises the tool that wrote it:
A1111/Forge/SD.Next, ComfyUI, NovelAI, InvokeAI, Fooocus, SwarmUI, Civitai, Draw Things,
Midjourney, Easy Diffusion. It fills the record and returns the embedded time candidates.
C2PA-signed tools are handled in reader.py (they need the manifest store, not these blocks).

Each `_read_<tool>` takes already-decoded values; JSON goes through `load_json`, which
turns malformed, NaN-containing or absurdly nested JSON into a MetadataError.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from . import a1111
from .record import GenerationRecord, MetadataError
from .timestamps import Rung, TimeCandidate, parse_time_text

MAX_JSON_CHARS = 64 * 1024 * 1024


@dataclass
class FoundMetadata:
    """Decoded metadata blocks of one file, as collected by reader.py."""

    texts: dict[str, str] = field(default_factory=dict)
    exif: dict[str, Any] = field(default_factory=dict)
    xmp: dict[str, Any] = field(default_factory=dict)
    comment: str | None = None
    stealth: str | None = None


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class JsonKeys:
    """Where one tool's JSON keeps the fields every tool has (None: it has no such key)."""

    prompt: str
    negative_prompt: str | None
    seed: str
    steps: str
    cfg: str
    sampler: str
    model: str | None


FOOOCUS_KEYS = JsonKeys(
    "prompt", "negative_prompt", "seed", "steps", "guidance_scale", "sampler", "base_model"
)
SWARMUI_KEYS = JsonKeys("prompt", "negativeprompt", "seed", "steps", "cfgscale", "sampler", "model")
EASYDIFFUSION_KEYS = JsonKeys(
    "prompt", "negative_prompt", "seed", "num_inference_steps", "guidance_scale", "sampler_name",
    "use_stable_diffusion_model",
)  # fmt: skip
DRAWTHINGS_KEYS = JsonKeys("c", "uc", "seed", "steps", "scale", "sampler", "model")
NOVELAI_KEYS = JsonKeys("prompt", "uc", "seed", "steps", "scale", "sampler", None)
INVOKEAI3_KEYS = JsonKeys(
    "positive_prompt", "negative_prompt", "seed", "steps", "cfg_scale", "scheduler", None
)


def fill_common_fields(record: GenerationRecord, data: dict[str, Any], keys: JsonKeys) -> None:
    record.prompt = to_str(data.get(keys.prompt))
    record.negative_prompt = to_str(data.get(keys.negative_prompt)) if keys.negative_prompt else None
    record.seed = to_int(data.get(keys.seed))
    record.steps = to_int(data.get(keys.steps))
    record.cfg = to_float(data.get(keys.cfg))
    record.sampler = to_str(data.get(keys.sampler))
    if keys.model:
        record.model = to_str(data.get(keys.model))


def load_json(text: str, what: str) -> Any:
    """Parse JSON strictly enough for hostile input: no NaN/Infinity, bounded size and depth."""
    if len(text) > MAX_JSON_CHARS:
        raise MetadataError(f"{what} is larger than {MAX_JSON_CHARS} characters")

    def reject_constant(name: str) -> Any:
        raise MetadataError(f"{what} contains {name}, which is not JSON")

    try:
        return json.loads(text, parse_constant=reject_constant)
    except RecursionError:
        raise MetadataError(f"{what} is nested too deeply") from None
    except ValueError as exc:
        raise MetadataError(f"{what} is not valid JSON ({exc})") from None


def maybe_json(text: str | None) -> bool:
    return isinstance(text, str) and text.lstrip()[:1] in ("{", "[")


def to_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        if re.fullmatch(r"[+-]?\d+\.0*", text):
            return int(float(text))
    return None


def to_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if number == number and abs(number) != float("inf") else None


def to_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _size(value: Any) -> tuple[int, int] | None:
    """ "1152x896", "(1152, 896)", [1152, 896] → (w, h)."""
    if isinstance(value, list | tuple) and len(value) == 2:
        w, h = to_int(value[0]), to_int(value[1])
        return (w, h) if w and h else None
    if isinstance(value, str):
        match = re.fullmatch(r"\s*\(?\s*(\d+)\s*[x,×]\s*(\d+)\s*\)?\s*", value)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


# --------------------------------------------------------------------------- dispatch

_EASYDIFFUSION_KEYS = {"use_stable_diffusion_model", "num_inference_steps", "guidance_scale"}
_COMFY_EXIF_PREFIX = re.compile(r"^\s*([A-Za-z_][\w\-]*)\s*:\s*(?=[{\[])")


def read_tool_metadata(record: GenerationRecord, found: FoundMetadata) -> list[TimeCandidate]:
    """Recognise the generator from the decoded blocks, fill `record`, return embedded times."""
    texts = found.texts
    times: list[TimeCandidate] = []

    # PNG text chunks, most specific first
    if "invokeai_metadata" in texts or "sd-metadata" in texts or "Dream" in texts:
        _read_invokeai(record, texts)
    elif texts.get("Software", "").startswith("NovelAI") or (
        "Comment" in texts and texts.get("Title", "").startswith("AI ") and "Description" in texts
    ):
        _read_novelai(record, texts)
    elif _EASYDIFFUSION_KEYS & texts.keys() and not maybe_json(texts.get("prompt")):
        _read_easydiffusion(record, dict(texts))
    elif "parameters" in texts:
        times += _read_parameters(record, texts["parameters"], texts, origin="png:parameters")
        if "prompt" in texts or "workflow" in texts:
            _attach_comfy_graph(record, texts, prefer_flat=True)
    elif "prompt" in texts or "workflow" in texts:
        _read_comfy_chunks(record, texts.get("prompt"), texts.get("workflow"), origin="png")
    elif "Description" in texts and ("Creation Time" in texts or "Author" in texts or _mj_guid(found)):
        times += _read_midjourney(record, texts, found.xmp)

    if record.tool is None and found.exif:
        times += _read_exif_tools(record, found.exif)
    if record.tool is None and found.xmp:
        times += _read_xmp_tools(record, found.xmp)
    if record.tool is None and found.stealth:
        times += _read_text_block(record, found.stealth, origin="stealth")
        if record.tool is not None:
            record.extra["stealth"] = True
    if record.tool is None and found.comment and a1111.looks_like_infotext(found.comment):
        times += _read_infotext(record, found.comment, origin="comment")
    return times


def _read_exif_tools(record: GenerationRecord, exif: dict[str, Any]) -> list[TimeCandidate]:
    # ComfyUI SaveAnimatedWEBP: Model = "prompt:{json}", Make = "workflow:{json}", further keys below
    chunks: dict[str, str] = {}
    for tag in ("Model", "Make", "ImageDescription", "DocumentName"):
        value = exif.get(tag)
        if isinstance(value, str):
            match = _COMFY_EXIF_PREFIX.match(value)
            if match:
                chunks[match.group(1)] = value[match.end() :]
    if "prompt" in chunks or "workflow" in chunks:
        _read_comfy_chunks(record, chunks.get("prompt"), chunks.get("workflow"), origin="exif")
        return []
    comment = exif.get("UserComment")
    if isinstance(comment, str) and comment:
        software = exif.get("Software")
        scheme = exif.get("MakerNote")
        if isinstance(software, str) and software.startswith("Fooocus"):
            return _read_fooocus_text(record, comment, software, scheme if isinstance(scheme, str) else None)
        return _read_text_block(record, comment, origin="exif:UserComment")
    return []


def _read_xmp_tools(record: GenerationRecord, xmp: dict[str, Any]) -> list[TimeCandidate]:
    creator = str(xmp.get("xmp:CreatorTool", ""))
    if creator.startswith("Draw Things"):
        _read_drawthings(record, xmp)
    elif xmp.get("Iptc4xmpExt:DigImageGUID") and "midjourney" in json.dumps(xmp).lower():
        record.tool = "midjourney"
    elif isinstance(xmp.get("exif:UserComment"), str) and xmp["exif:UserComment"]:
        return _read_text_block(record, xmp["exif:UserComment"], origin="xmp:exif:UserComment")
    return []


def _read_text_block(record: GenerationRecord, text: str, origin: str) -> list[TimeCandidate]:
    """A block that may hold JSON (SwarmUI, ComfyUI, Civitai, Fooocus, Easy Diffusion, NovelAI) or infotext."""
    if maybe_json(text):
        data = load_json(text, f"{origin} JSON")
        if isinstance(data, dict):
            return _read_json_block(record, data, origin)
        return []
    if a1111.looks_like_infotext(text):
        return _read_infotext(record, text, origin)
    return []


def _read_json_block(record: GenerationRecord, data: dict[str, Any], origin: str) -> list[TimeCandidate]:
    if "sui_image_params" in data:
        return _read_swarmui(record, data)
    if isinstance(data.get("prompt"), dict) or isinstance(data.get("workflow"), dict):
        _apply_comfy(record, _dict_or_none(data.get("prompt")), _dict_or_none(data.get("workflow")), origin)
        return []
    if _is_comfy_graph(data):
        _read_comfy_graph_with_extras(record, data, origin)
        return []
    if _is_fooocus_json(data):
        _read_fooocus_json(record, data)
        return []
    if _EASYDIFFUSION_KEYS & data.keys():
        _read_easydiffusion(record, data)
        return []
    if "Software" in data and ("Comment" in data or "Description" in data):  # NovelAI stealth JSON
        texts = {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
        _read_novelai(record, texts)
        return []
    if "uc" in data and ("scale" in data or "steps" in data):
        _read_novelai(record, {"Comment": json.dumps(data)})
        return []
    if "c" in data and "seed" in data:
        _read_drawthings_json(record, data)
        return []
    return []


def _dict_or_none(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


# --------------------------------------------------------------------------- A1111 family


def _read_parameters(
    record: GenerationRecord, text: str, texts: dict[str, str], origin: str
) -> list[TimeCandidate]:
    scheme = texts.get("fooocus_scheme")
    if scheme is not None:
        return _read_fooocus_text(record, text, None, scheme)
    return _read_text_block(record, text, origin)


def _read_infotext(record: GenerationRecord, text: str, origin: str) -> list[TimeCandidate]:
    info = a1111.parse_infotext(text)
    params = info.params
    record.prompt = info.prompt
    record.negative_prompt = info.negative_prompt
    record.seed = to_int(params.get("Seed"))
    record.steps = to_int(params.get("Steps"))
    record.cfg = to_float(params.get("CFG scale"))
    record.sampler = a1111.sampler_name(params)
    record.model = params.get("Model") or None
    size = a1111.image_size(params)
    record.extra["infotext"] = params
    if size:
        record.extra["params_size"] = list(size)
    record.extra["metadata_origin"] = origin

    times: list[TimeCandidate] = []
    created = params.get("Created Date")
    if created:
        value = parse_time_text(created)
        if value is not None:
            times.append(TimeCandidate(Rung.EMBEDDED, "infotext:Created Date", value))
    if created or "Civitai resources" in params or "Civitai metadata" in params or _civitai_trainer(params):
        record.tool = "civitai"
        resources = params.get("Civitai resources")
        if resources and maybe_json(resources):
            try:
                record.extra["civitai_resources"] = load_json(resources, "Civitai resources")
            except MetadataError:
                pass
    elif params.get("Version", "").startswith("Fooocus"):
        record.tool = "fooocus"
    else:
        record.tool = "a1111"
        record.extra["a1111_variant"] = a1111.variant(params)
    return times


def _civitai_trainer(params: dict[str, str]) -> bool:
    # Civitai's LoRA trainer names the base model by its numeric model-version id and writes no seed
    return bool(re.fullmatch(r"\d+\.safetensors", params.get("Model", ""))) and "Seed" not in params


# --------------------------------------------------------------------------- ComfyUI


def _read_comfy_chunks(
    record: GenerationRecord, prompt: str | None, workflow: str | None, origin: str
) -> None:
    graph = _comfy_json(record, prompt, f"{origin} ComfyUI prompt")
    ui = _comfy_json(record, workflow, f"{origin} ComfyUI workflow")
    _apply_comfy(record, graph, ui, origin)


def _comfy_json(record: GenerationRecord, text: str | None, what: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        data = load_json(text, what)
    except MetadataError as exc:
        record.note_error(str(exc))
        return None
    return data if isinstance(data, dict) else None


def _attach_comfy_graph(record: GenerationRecord, texts: dict[str, str], prefer_flat: bool) -> None:
    """A ComfyUI file that also carries A1111 `parameters`: keep the flat values, add the graph."""
    flat = {
        k: getattr(record, k)
        for k in ("prompt", "negative_prompt", "seed", "model", "sampler", "steps", "cfg")
    }
    _read_comfy_chunks(record, texts.get("prompt"), texts.get("workflow"), origin="png")
    if prefer_flat:
        for key, value in flat.items():
            if value is not None:
                setattr(record, key, value)
        record.extra["comfyui_parameters_chunk"] = True


def _is_comfy_graph(data: dict[str, Any]) -> bool:
    nodes = [v for v in data.values() if isinstance(v, dict)]
    return bool(nodes) and sum(1 for n in nodes if "class_type" in n) >= max(1, len(nodes) // 2)


def _read_comfy_graph_with_extras(record: GenerationRecord, data: dict[str, Any], origin: str) -> None:
    """A bare API graph, possibly with Civitai's `extra`/`extraMetadata` keys and resource-stack nodes."""
    graph = {k: v for k, v in data.items() if isinstance(v, dict) and "class_type" in v}
    civitai = (
        "extra" in data
        or "extraMetadata" in data
        or any(str(k).startswith("resource-stack") for k in graph)
        or "urn:air:" in json.dumps(graph)[:1_000_000]
    )
    _apply_comfy(record, graph, None, origin)
    if civitai:
        record.tool = "civitai"
        record.extra["civitai_backend"] = "comfyui"
        for key in ("extra", "extraMetadata"):
            if key in data:
                record.extra[f"civitai_{key}"] = data[key]


def _apply_comfy(
    record: GenerationRecord, prompt: dict[str, Any] | None, workflow: dict[str, Any] | None, origin: str
) -> None:
    record.tool = "comfyui"
    record.extra["metadata_origin"] = origin
    try:
        from .comfyui import read_comfyui
    except ImportError:  # the graph tracer is a separate module; without it we still know the tool
        record.extra["comfyui_tracer"] = "unavailable"
        return
    try:
        generation = read_comfyui(prompt, workflow)
    except RecursionError:
        record.note_error("ComfyUI graph is nested too deeply to trace")
        return
    except Exception as exc:  # a tracer bug on one odd graph must not fail the whole file
        record.note_error(f"ComfyUI graph could not be traced ({type(exc).__name__}: {exc})")
        return
    if generation is None:
        return
    record.prompt = generation.prompt
    record.negative_prompt = generation.negative_prompt
    record.seed = to_int(generation.seed)
    record.model = generation.model
    record.sampler = generation.sampler
    record.steps = to_int(generation.steps)
    record.cfg = to_float(generation.cfg)
    record.extra["comfyui"] = generation.to_dict()


# --------------------------------------------------------------------------- other tools


def _read_novelai(record: GenerationRecord, texts: dict[str, str]) -> None:
    record.tool = "novelai"
    comment: dict[str, Any] = {}
    if maybe_json(texts.get("Comment")):
        loaded = load_json(texts["Comment"], "NovelAI Comment")
        comment = loaded if isinstance(loaded, dict) else {}
    fill_common_fields(record, comment, NOVELAI_KEYS)
    record.prompt = record.prompt or texts.get("Description")
    record.model = texts.get("Source")
    record.extra["novelai"] = {
        k: v
        for k, v in comment.items()
        if k not in ("prompt", "uc", "signed_hash") and not isinstance(v, dict)
    }
    for key in ("Title", "Software", "Generation time"):
        if key in texts:
            record.extra["novelai"][key] = texts[key]


def _read_invokeai(record: GenerationRecord, texts: dict[str, str]) -> None:
    record.tool = "invokeai"
    if "invokeai_metadata" in texts:
        meta = load_json(texts["invokeai_metadata"], "invokeai_metadata")
        if not isinstance(meta, dict):
            return
        record.extra["invokeai_version"] = "3+"
        fill_common_fields(record, meta, INVOKEAI3_KEYS)
        model = meta.get("model")
        record.model = (
            to_str(model.get("model_name") or model.get("name")) if isinstance(model, dict) else to_str(model)
        )
        record.extra["invokeai"] = {k: v for k, v in meta.items() if not isinstance(v, dict | list)}
        return
    if "sd-metadata" in texts:
        meta = load_json(texts["sd-metadata"], "sd-metadata")
        if isinstance(meta, dict):
            record.extra["invokeai_version"] = "2"
            image: dict[str, Any] = meta["image"] if isinstance(meta.get("image"), dict) else {}
            prompt = image.get("prompt")
            if isinstance(prompt, list) and prompt and isinstance(prompt[0], dict):
                prompt = prompt[0].get("prompt")
            if isinstance(prompt, str):
                record.prompt, record.negative_prompt = split_bracket_negative(prompt)
            record.seed = to_int(image.get("seed"))
            record.steps = to_int(image.get("steps"))
            record.cfg = to_float(image.get("cfg_scale"))
            record.sampler = to_str(image.get("sampler"))
            record.model = to_str(meta.get("model_weights"))
            record.extra["invokeai"] = {k: v for k, v in meta.items() if not isinstance(v, dict | list)}
            return
    if "Dream" in texts:
        record.extra["invokeai_version"] = "1"
        _read_dream(record, texts["Dream"])


def split_bracket_negative(prompt: str) -> tuple[str, str | None]:
    """InvokeAI writes negatives inline as `[text]`; split them out (None when there are none)."""
    negatives = re.findall(r"\[([^\[\]]*)\]", prompt)
    if not negatives:
        return prompt, None
    positive = re.sub(r"\s*\[[^\[\]]*\]", "", prompt).strip()
    return positive, ", ".join(n.strip() for n in negatives)


_DREAM_OPTIONS = {
    "-s": "steps", "--steps": "steps", "-S": "seed", "--seed": "seed", "-C": "cfg", "--cfg_scale": "cfg",
    "-A": "sampler", "--sampler": "sampler", "-W": "width", "--width": "width", "-H": "height",
    "--height": "height", "-m": "model", "--model": "model",
}  # fmt: skip


def _read_dream(record: GenerationRecord, line: str) -> None:
    """InvokeAI 1.x `"prompt [negative]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms`."""
    try:
        tokens = shlex.split(line)
    except ValueError:
        tokens = line.split()
    prompt_parts: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("-") and len(token) > 1 and not token[1:2].isdigit():
            value = tokens[i + 1] if i + 1 < len(tokens) else ""
            options[token] = value
            i += 2
            continue
        if not options:
            prompt_parts.append(token)
        i += 1
    record.prompt, record.negative_prompt = split_bracket_negative(" ".join(prompt_parts))
    named = {_DREAM_OPTIONS[k]: v for k, v in options.items() if k in _DREAM_OPTIONS}
    record.seed = to_int(named.get("seed"))
    record.steps = to_int(named.get("steps"))
    record.cfg = to_float(named.get("cfg"))
    record.sampler = named.get("sampler")
    record.model = named.get("model")
    record.extra["dream_options"] = options


def _is_fooocus_json(data: dict[str, Any]) -> bool:
    version = str(data.get("version", ""))
    return version.startswith("Fooocus") or data.get("metadata_scheme") == "fooocus" or "full_prompt" in data


def _read_fooocus_text(
    record: GenerationRecord, text: str, software: str | None, scheme: str | None
) -> list[TimeCandidate]:
    if maybe_json(text):
        data = load_json(text, "Fooocus parameters")
        if isinstance(data, dict):
            _read_fooocus_json(record, data)
        times: list[TimeCandidate] = []
    else:
        times = _read_infotext(record, text, origin="fooocus:a1111")
    record.tool = "fooocus"
    record.extra.pop("a1111_variant", None)
    record.extra["fooocus_scheme"] = scheme or ("fooocus" if maybe_json(text) else "a1111")
    if software:
        record.extra["fooocus_version"] = software
    return times


def _read_fooocus_json(record: GenerationRecord, data: dict[str, Any]) -> None:
    record.tool = "fooocus"
    fill_common_fields(record, data, FOOOCUS_KEYS)
    size = _size(data.get("resolution"))
    if size:
        record.extra["params_size"] = list(size)
    if data.get("version"):
        record.extra["fooocus_version"] = data.get("version")
    record.extra["fooocus"] = {k: v for k, v in data.items() if k not in ("prompt", "negative_prompt")}


def _read_swarmui(record: GenerationRecord, data: dict[str, Any]) -> list[TimeCandidate]:
    record.tool = "swarmui"
    params = data.get("sui_image_params")
    params = params if isinstance(params, dict) else {}
    extra_data = data.get("sui_extra_data")
    extra_data = extra_data if isinstance(extra_data, dict) else {}
    fill_common_fields(record, params, SWARMUI_KEYS)
    record.extra["swarmui"] = {"params": params, "extra_data": extra_data}
    if params.get("swarm_version"):
        record.extra["swarm_version"] = params["swarm_version"]
    if isinstance(data.get("sui_models"), list):
        record.extra["swarmui"]["models"] = data["sui_models"]
    for source, holder in (("sui_extra_data.date", extra_data), ("sui_image_params.date", params)):
        value = parse_time_text(str(holder.get("date", "")))
        if value is not None:
            return [TimeCandidate(Rung.EMBEDDED, f"swarmui:{source}", value)]
    return []


def _read_easydiffusion(record: GenerationRecord, data: dict[str, Any]) -> None:
    record.tool = "easydiffusion"
    fill_common_fields(record, data, EASYDIFFUSION_KEYS)
    record.extra["easydiffusion"] = {k: v for k, v in data.items() if k not in ("prompt", "negative_prompt")}


def _read_drawthings(record: GenerationRecord, xmp: dict[str, Any]) -> None:
    record.tool = "drawthings"
    comment = xmp.get("exif:UserComment")
    if isinstance(comment, str) and maybe_json(comment):
        data = load_json(comment, "Draw Things exif:UserComment")
        if isinstance(data, dict):
            _read_drawthings_json(record, data)
    if record.prompt is None and isinstance(xmp.get("dc:description"), str):
        info = a1111.parse_infotext(xmp["dc:description"])
        record.prompt, record.negative_prompt = info.prompt, info.negative_prompt
    record.extra["creator_tool"] = xmp.get("xmp:CreatorTool")


def _read_drawthings_json(record: GenerationRecord, data: dict[str, Any]) -> None:
    record.tool = "drawthings"
    fill_common_fields(record, data, DRAWTHINGS_KEYS)
    record.extra["drawthings"] = {k: v for k, v in data.items() if k not in ("c", "uc")}


# Midjourney Description: "<image urls> <prompt> --ar 4:5 --v 6 Job ID: <uuid>"
_MJ_JOB = re.compile(r"\s*Job ID:\s*([0-9a-fA-F-]{8,})\s*$")
_MJ_PARAMS = re.compile(r"\s--?[a-zA-Z]")


def _mj_guid(found: FoundMetadata) -> bool:
    return bool(found.xmp.get("Iptc4xmpExt:DigImageGUID"))


def _read_midjourney(
    record: GenerationRecord, texts: dict[str, str], xmp: dict[str, Any]
) -> list[TimeCandidate]:
    record.tool = "midjourney"
    description = texts.get("Description", "")
    info: dict[str, Any] = {"author": texts.get("Author")}
    job = _MJ_JOB.search(description)
    if job:
        info["job_id"] = job.group(1)
        description = description[: job.start()]
    elif xmp.get("Iptc4xmpExt:DigImageGUID"):
        info["job_id"] = xmp["Iptc4xmpExt:DigImageGUID"]
    params_at = _MJ_PARAMS.search(description)
    command = description[: params_at.start()] if params_at else description
    params_text = description[params_at.start() :].strip() if params_at else ""
    urls = re.findall(r"https?://\S+", command)
    record.prompt = re.sub(r"https?://\S+", "", command).strip()
    info["params_text"] = params_text
    info["params"] = _mj_params(params_text)
    if urls:
        info["image_prompts"] = urls
    record.extra["midjourney"] = info
    created = texts.get("Creation Time")
    value = parse_time_text(created) if created else None
    return [TimeCandidate(Rung.EMBEDDED, "png:Creation Time", value)] if value is not None else []


def _mj_params(text: str) -> dict[str, str | bool]:
    params: dict[str, str | bool] = {}
    for match in re.finditer(r"--?([a-zA-Z]+)((?:\s+(?!--)[^\s]+)*)", text):
        value = match.group(2).strip()
        params[match.group(1)] = value if value else True
    return params
