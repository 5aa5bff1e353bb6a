"""ComfyUI graph tracer: prompt, seed, model and sampler settings out of a ComfyUI graph.

ComfyUI stores no "prompt" or "seed" fields, only the graph that produced the image:

* the API graph (``prompt``): ``{node_id: {"class_type": ..., "inputs": {...}}}`` where an input is
  either a literal or a link ``[source_node_id, output_index]``;
* the UI graph (``workflow``): ``nodes`` with ``widgets_values`` and a ``links`` table.

We start at every sampler node and follow links backwards to the text encoders, seed nodes, model
loaders and latent sources.

Which sampler nodes count (the rule):

* A *sampler* is a core sampler (KSampler, KSamplerAdvanced, SamplerCustom, SamplerCustomAdvanced)
  or any node whose class name contains "Sampler" and that has a ``model`` + ``positive``, a
  ``guider`` or an Impact ``basic_pipe`` input (``KSampler (Efficient)``, ``KSamplerAdvanced //Inspire``,
  ``ImpactKSamplerBasicPipe``, ...). Selector nodes (KSamplerSelect, SamplerEulerAncestral) have none.
* Pixel-space refiners (FaceDetailer and other "Detailer" nodes, UltimateSDUpscale, or any sampler
  whose input is an ``image`` rather than a latent) are *refiners*: they only touch up an image that a
  sampler already made, so they are listed in ``refiners`` and never make the result ambiguous.
* When the graph has output nodes (class name containing "Save" or "Preview", or VHS video
  combiners), only samplers that feed one of them count; otherwise all do.

Which pass is the headline (the rule of issue 17):

* The *base pass* is the counted sampler that no other sampler feeds, through any input: its latent
  comes from an empty latent (or, for img2img and inpainting, from an encoded image) and its
  conditioning holds no earlier result. A hires fix, an SDXL refiner, Stable Cascade's stage B or a
  Flux Kontext edit of the first image all read an earlier sampler's output, so they are never the
  base; the first pass is. Its prompt, seed, model, sampler, steps and CFG are the headline fields.
* Every counted sampler gets a ``role``: ``base``; ``refine`` (its latent comes from an earlier
  sampler, e.g. the SDXL refiner or the second expert of Wan 2.2); ``upscale`` (the same, through a
  resize on the way: hires fix); ``decode`` (an earlier sampler reaches it through another input
  than its latent: Stable Cascade's stage B conditioning, a Kontext reference latent). Pixel-space refiners are ``detail`` (``upscale`` for tiled
  upscalers such as UltimateSDUpscale).
* When several samplers are independent (noisy latent composition, two generations stitched into
  one image) there is no single headline: the fields stay empty and ``notes`` says why. A generation
  that reaches only a preview is not the saved image, so it loses that tie.
* The prompt is every text that reaches the base pass's positive input (through combine, area,
  ControlNet, FluxGuidance, guider and image-to-video nodes), distinct texts kept in the order the
  graph combines them as ``prompt_parts``; ``prompt`` is their join, one per line.
* ``model`` is the loader's file name without folder and extension (``sd_xl_base_1.0``), as the
  other tools report it; ``model_file`` keeps the loader's value as written.
* Top-level fields are filled only from the API graph: a UI-only graph holds widget values as last
  edited (a "randomize" seed moves after queueing, custom nodes compute values we cannot see), so
  there they stay in ``samplers``. ``width``/``height`` are filled when every counted pass starts
  from the same size (a hires fix does not).

Everything is bounded (``MAX_NODES``, ``MAX_DEPTH``) and never raises on malformed graphs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any

from libs.common.text import ascii_digits

MAX_NODES = 5000  # larger graphs are cut; real workflows rarely exceed a few hundred nodes
MAX_DEPTH = 64  # longest link chain followed from a sampler input

_CORE_SAMPLERS = {"KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced"}
_REFINER_MARKERS = ("detailer", "ultimatesdupscale")
_SEED_CONTROL = {"fixed", "increment", "decrement", "randomize"}
_WEIGHT_EXTENSIONS = {"safetensors", "sft", "ckpt", "pt", "pth", "bin", "gguf", "onnx"}

# Output slot order of nodes that carry both conditionings (ControlNetApplyAdvanced,
# InstructPixToPixConditioning, ...): slot 0 is the positive, slot 1 the negative.
_POSITIVE_NEGATIVE = ("positive", "negative")

# Inputs that hold a node's own text, most specific first (ImpactWildcardEncode: populated_text
# is what ran, wildcard_text the template).
_TEXT_INPUTS = ("populated_text", "text", "wildcard_text", "prompt", "string", "value", "Text", "text_0")
# Inputs of a text encoder that hold prompt text (CLIPTextEncode, SDXL, Flux, SD3, HiDream, Qwen
# image edit and Hunyuan image-to-video encoders, GLIGEN boxes, Impact wildcards).
_ENCODER_TEXT_INPUTS = {
    "text",
    "populated_text",
    "wildcard_text",
    "text_g",
    "text_l",
    "clip_l",
    "clip_g",
    "t5xxl",
    "llama",
    "prompt",
}
_MODEL_NAME_INPUTS = ("ckpt_name", "unet_name", "gguf_name", "base_ckpt_name", "model_path")
_LATENT_INPUTS = ("latent_image", "samples", "latent", "latents")
_SEED_INPUTS = ("seed", "noise_seed", "value", "int", "number", "seed_value")
# Steps and CFG set on a scheduler/guider node or chosen by a primitive (PrimitiveInt, "Int", ...).
_STEPS_INPUTS = ("steps", "value", "int")
_CFG_INPUTS = ("cfg", "value", "float")

# widgets_values → input names for core nodes of a UI graph (seed control values are skipped).
_WIDGET_NAMES: dict[str, tuple[str, ...]] = {
    "KSampler": ("seed", "steps", "cfg", "sampler_name", "scheduler", "denoise"),
    "KSamplerAdvanced": (
        "add_noise",
        "noise_seed",
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "start_at_step",
        "end_at_step",
        "return_with_leftover_noise",
    ),
    "SamplerCustom": ("add_noise", "noise_seed", "cfg"),
    "RandomNoise": ("noise_seed",),
    "CLIPTextEncode": ("text",),
    "CLIPTextEncodeSDXL": (
        "width",
        "height",
        "crop_w",
        "crop_h",
        "target_width",
        "target_height",
        "text_g",
        "text_l",
    ),
    "CLIPTextEncodeSDXLRefiner": ("ascore", "width", "height", "text"),
    "CLIPTextEncodeFlux": ("clip_l", "t5xxl", "guidance"),
    "CheckpointLoaderSimple": ("ckpt_name",),
    "CheckpointLoader": ("config_name", "ckpt_name"),
    "UNETLoader": ("unet_name", "weight_dtype"),
    "UnetLoaderGGUF": ("unet_name",),
    "LoraLoader": ("lora_name", "strength_model", "strength_clip"),
    "LoraLoaderModelOnly": ("lora_name", "strength_model"),
    "EmptyLatentImage": ("width", "height", "batch_size"),
    "EmptySD3LatentImage": ("width", "height", "batch_size"),
    "EmptyHunyuanLatentVideo": ("width", "height", "length", "batch_size"),
    "EmptyMochiLatentVideo": ("width", "height", "length", "batch_size"),
    "KSamplerSelect": ("sampler_name",),
    "BasicScheduler": ("scheduler", "steps", "denoise"),
    "KarrasScheduler": ("steps", "sigma_max", "sigma_min", "rho"),
    "SDTurboScheduler": ("steps", "denoise"),
    "AlignYourStepsScheduler": ("model_type", "steps", "denoise"),
    "CFGGuider": ("cfg",),
    "FluxGuidance": ("guidance",),
    "SDXLPromptStyler": ("text_positive", "text_negative", "style", "log_prompt"),
    "PrimitiveNode": ("value",),
}


@dataclass
class ComfyGeneration:
    # Headline: the base pass's values (see the module docstring), None when there is none.
    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    model: str | None = None
    sampler: str | None = None
    steps: int | None = None
    cfg: float | None = None
    samplers: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    loras: list[dict[str, Any]] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    # Detailers/upscalers that re-sample an existing image (same keys as `samplers`).
    refiners: list[dict[str, Any]] = field(default_factory=list)
    from_workflow: bool = False  # traced from the UI graph only (no API graph in the file)
    base: str | None = None  # node id of the base pass
    # The distinct texts joined into prompt / negative_prompt, in the order the graph combines them.
    prompt_parts: list[str] = field(default_factory=list)
    negative_prompt_parts: list[str] = field(default_factory=list)
    model_file: str | None = None  # the loader's value as written (folder and extension kept)
    notes: list[str] = field(default_factory=list)  # why the headline is empty, when it is

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict. Every read builds fresh lists and dicts, so no deep copy is
        made (``dataclasses.asdict`` took a third of the time of reading a ComfyUI file)."""
        return {item.name: getattr(self, item.name) for item in fields(self)}


HEADLINE = ("prompt", "negative_prompt", "seed", "model", "sampler", "steps", "cfg")


def read_comfyui(prompt: dict | None, workflow: dict | None) -> ComfyGeneration | None:
    """Trace a ComfyUI graph. Prefers the API graph; falls back to converting the UI graph.
    Returns None when neither is a ComfyUI graph."""
    try:
        return _read(prompt, workflow)
    except RecursionError:  # defensive: tracing is iterative or depth-capped, this should not happen
        return None


def _read(prompt: Any, workflow: Any) -> ComfyGeneration | None:
    graph = api_graph(prompt)
    from_workflow = False
    if not graph:
        graph = graph_from_workflow(workflow)
        from_workflow = True
    if not graph:
        return None

    tracer = _Tracer(graph, _shown_texts(workflow))
    generators, refiners = tracer.find_samplers()
    plan = plan_passes(graph, generators, refiners)
    samplers = [tracer.describe_sampler(node_id, plan.roles[node_id]) for node_id in generators]
    result = ComfyGeneration(
        samplers=samplers,
        refiners=[tracer.describe_sampler(node_id, plan.roles[node_id]) for node_id in refiners],
        from_workflow=from_workflow,
    )
    # LoRAs of every counted sampler, once each (two passes often share one loader chain).
    for sampler in samplers:
        result.loras += [dict(lora) for lora in sampler["loras"] if lora not in result.loras]
    if from_workflow:
        if samplers:
            result.notes.append(
                "UI graph only (no API graph): widget values are as last edited, so no headline"
            )
        return result

    # The size is unambiguous when every pass starts from the same latent size.
    sizes = {(s["width"], s["height"]) for s in samplers}
    if len(sizes) == 1:
        result.width, result.height = sizes.pop()
    result.notes += plan.notes
    base = next((s for s in samplers if s["node_id"] == plan.base), None)
    if base is not None:
        result.base = plan.base
        for name in HEADLINE:
            setattr(result, name, base[name])
        result.prompt_parts = list(base["prompt_parts"])
        result.negative_prompt_parts = list(base["negative_prompt_parts"])
        result.model_file = base["model_file"]
        result.sources = {key: value for key, value in base["sources"].items() if key in HEADLINE}
    return result


# ---- passes: which sampler is the base, and the role of every other ---------------------------


@dataclass
class PassPlan:
    base: str | None
    roles: dict[str, str]
    notes: list[str]


def plan_passes(graph: dict[str, dict[str, Any]], generators: list[str], refiners: list[str]) -> PassPlan:
    """Pick the base pass and give every sampler its role (the rule is in the module docstring).

    A sampler's dependencies are found by walking its inputs backwards and stopping at other
    samplers, so "depends on an earlier pass" needs no list of latent or conditioning node types:
    whatever carries the earlier result (LatentUpscale, VAEDecode → VAEEncode, StageB conditioning,
    ReferenceLatent), the walk meets the earlier sampler."""
    others = set(generators)
    roles: dict[str, str] = {}
    roots: list[str] = []
    for node_id in generators:
        stop = others - {node_id}
        reached = _walk_back(graph, _linked_ids(graph[node_id]["inputs"].values()), stop)
        if not stop & reached.keys():
            roots.append(node_id)
            roles[node_id] = "base"
            continue
        latent = _latent_input(graph[node_id]["inputs"])
        on_latent = _walk_back(graph, _linked_ids([latent]), stop)
        earlier = [n for n in on_latent if n in stop]
        if not earlier:
            roles[node_id] = "decode"
        elif any(_resizes(graph[n]["class_type"]) for n in _path_to(on_latent, earlier[0])):
            roles[node_id] = "upscale"
        else:
            roles[node_id] = "refine"
    for node_id in refiners:
        roles[node_id] = "upscale" if "upscale" in graph[node_id]["class_type"].lower() else "detail"

    if len(roots) > 1:
        # A generation that reaches only a preview is not the saved image.
        saved = _walk_back(graph, [n for n, node in graph.items() if _is_saved(node["class_type"])], set())
        roots = [n for n in roots if n in saved] or roots
    if len(roots) == 1:
        return PassPlan(roots[0], roles, [])
    if roots:
        listed = ", ".join(f"#{n} {graph[n]['class_type']}" for n in roots)
        note = (
            f"no unique base pass: {len(roots)} independent generations ({listed}) feed the saved "
            "image, so prompt, seed and settings are per sampler only"
        )
    else:
        note = "no base pass: every sampler reads another sampler's output (a cycle)"
    return PassPlan(None, roles, [note] if generators else [])


def _walk_back(graph: dict[str, dict[str, Any]], starts: list[str], stop: set[str]) -> dict[str, str | None]:
    """Every node reachable backwards from ``starts``, mapped to the node it was reached from.
    The walk records ``stop`` nodes (other samplers) but does not go through them: what lies
    behind an earlier sampler belongs to that sampler."""
    came_from: dict[str, str | None] = {node_id: None for node_id in starts if node_id in graph}
    pending = deque(came_from)
    while pending and len(came_from) < MAX_NODES:
        node_id = pending.popleft()
        if node_id in stop:
            continue
        for source in _linked_ids(graph[node_id]["inputs"].values()):
            if source in graph and source not in came_from:
                came_from[source] = node_id
                pending.append(source)
    return came_from


def _path_to(came_from: dict[str, str | None], node_id: str) -> list[str]:
    """The nodes a walk went through from its start to ``node_id`` (the start included)."""
    path: list[str] = []
    current = came_from.get(node_id)
    while current is not None and len(path) < MAX_NODES:
        path.append(current)
        current = came_from.get(current)
    return path


def _linked_ids(values: Any) -> list[str]:
    return [link[0] for link in map(_link, values) if link]


def _latent_input(inputs: dict[str, Any]) -> Any:
    return next((inputs[key] for key in _LATENT_INPUTS if _link(inputs.get(key))), None)


def _resizes(class_type: str) -> bool:
    """LatentUpscale(By), ImageScale(By/ToTotalPixels), ImageUpscaleWithModel, NNLatentUpscale..."""
    return "scale" in class_type.lower()


def bare_model_name(name: str) -> str:
    """``SDXL\\sd_xl_base_1.0.safetensors`` → ``sd_xl_base_1.0``: what a person calls the model.
    Only known weight-file extensions are cut, so ``v1.5`` or a Civitai URN stay whole."""
    base = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    stem, dot, extension = base.rpartition(".")
    return stem if dot and stem and extension.lower() in _WEIGHT_EXTENSIONS else base


def api_graph(prompt: Any) -> dict[str, dict[str, Any]] | None:
    """Keep the well-formed nodes of an API graph; None when it is not one."""
    if not isinstance(prompt, dict):
        return None
    graph: dict[str, dict[str, Any]] = {}
    for node_id, node in prompt.items():
        if len(graph) >= MAX_NODES:
            break
        if isinstance(node, dict) and isinstance(node.get("class_type"), str):
            inputs = node.get("inputs")
            graph[str(node_id)] = {
                "class_type": node["class_type"],
                "inputs": inputs if isinstance(inputs, dict) else {},
            }
    return graph or None


def graph_from_workflow(workflow: Any) -> dict[str, dict[str, Any]] | None:
    """Convert a UI graph to an API-like graph: widgets become named inputs, links become
    ``[node_id, slot]``, Reroute/bypassed nodes are looked through, primitives are inlined, muted
    nodes are dropped. Unknown custom nodes keep only the widget inputs they declare."""
    if not isinstance(workflow, dict) or not isinstance(workflow.get("nodes"), list):
        return None
    nodes: dict[str, dict[str, Any]] = {}
    for node in workflow["nodes"][:MAX_NODES]:
        if isinstance(node, dict) and "id" in node and isinstance(node.get("type"), str):
            nodes[str(node["id"])] = node
    links = _workflow_links(workflow.get("links"))
    if not nodes:
        return None

    graph: dict[str, dict[str, Any]] = {}
    for node_id, node in nodes.items():
        if node.get("mode") in (2, 4) or node["type"] in ("Reroute", "PrimitiveNode", "Note", "MarkdownNote"):
            continue
        inputs = _widget_inputs(node)
        for slot in _list(node.get("inputs")):
            if not isinstance(slot, dict) or not isinstance(slot.get("name"), str):
                continue
            source = _resolve_workflow_link(slot.get("link"), nodes, links)
            if source is not None:
                inputs[slot["name"]] = source
        graph[node_id] = {"class_type": node["type"], "inputs": inputs}
    return graph or None


def _workflow_links(raw: Any) -> dict[str, tuple[str, int, str | None]]:
    """link id → (source node id, source slot, type); accepts list rows and the newer dict rows."""
    links: dict[str, tuple[str, int, str | None]] = {}
    for row in _list(raw):
        if isinstance(row, list) and len(row) >= 5:
            link_id, source, slot, link_type = row[0], row[1], row[2], row[5] if len(row) > 5 else None
        elif isinstance(row, dict):
            link_id, source, slot, link_type = (
                row.get("id"),
                row.get("origin_id"),
                row.get("origin_slot"),
                row.get("type"),
            )
        else:
            continue
        if isinstance(slot, int) and source is not None:
            links[str(link_id)] = (str(source), slot, link_type if isinstance(link_type, str) else None)
    return links


def _resolve_workflow_link(
    link_id: Any, nodes: dict[str, dict[str, Any]], links: dict[str, tuple[str, int, str | None]]
) -> Any:
    """Follow a UI link to its real source: a ``[node_id, slot]`` link or, for a primitive, its value."""
    seen: set[str] = set()
    current = links.get(str(link_id)) if link_id is not None else None
    while current is not None and len(seen) < MAX_DEPTH:
        source_id, slot, link_type = current
        if source_id in seen:
            return None
        seen.add(source_id)
        source = nodes.get(source_id)
        if source is None or source.get("mode") == 2:
            return None
        if source["type"] == "PrimitiveNode" or source["type"].startswith("Primitive"):
            values = source.get("widgets_values")
            if isinstance(values, list) and values:
                return values[0]
            if isinstance(values, dict) and values:
                return next(iter(values.values()))
            return None
        if source["type"] == "Reroute" or source.get("mode") == 4:
            # Bypassed nodes pass through the first input of the same type as the output.
            candidates = [
                s for s in _list(source.get("inputs")) if isinstance(s, dict) and s.get("link") is not None
            ]
            same_type = [s for s in candidates if link_type is None or s.get("type") in (link_type, "*")]
            chosen = (same_type or (candidates if source["type"] == "Reroute" else []))[:1]
            current = links.get(str(chosen[0]["link"])) if chosen else None
            continue
        return [source_id, slot]
    return None


def _widget_inputs(node: dict[str, Any]) -> dict[str, Any]:
    values = node.get("widgets_values")
    if isinstance(values, dict):  # some custom nodes (VHS) store widgets by name
        return {str(key): value for key, value in values.items()}
    if not isinstance(values, list):
        return {}
    names = _WIDGET_NAMES.get(node["type"])
    if names is None:
        # Newer UIs declare every widget among the inputs; their order follows widgets_values.
        names = tuple(
            slot["widget"]["name"]
            for slot in _list(node.get("inputs"))
            if isinstance(slot, dict)
            and isinstance(slot.get("widget"), dict)
            and isinstance(slot["widget"].get("name"), str)
        )
    inputs: dict[str, Any] = {}
    remaining = list(values)
    for name in names:
        if not remaining:
            break
        inputs[name] = remaining.pop(0)
        # "control_after_generate" is an extra widget value right after a seed.
        if name in ("seed", "noise_seed") and remaining and remaining[0] in _SEED_CONTROL:
            remaining.pop(0)
    if not names and len(values) == 1 and isinstance(values[0], str):
        inputs["text"] = values[0]  # a lone text widget (string/text primitive nodes)
    return inputs


def _shown_texts(workflow: Any) -> dict[str, str]:
    """Text that display nodes (ShowText, ...) of the UI graph showed, keyed by the node feeding them.
    It is the text that actually ran when the graph cannot compute it (CSV styles, LLM nodes)."""
    shown: dict[str, str] = {}
    if not isinstance(workflow, dict):
        return shown
    links = _workflow_links(workflow.get("links"))
    for node in _list(workflow.get("nodes"))[:MAX_NODES]:
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            continue
        kind = node["type"].lower()
        if "showtext" not in kind and "show text" not in kind and "display" not in kind:
            continue
        text = _first_string(node.get("widgets_values"))
        for slot in _list(node.get("inputs")):
            if isinstance(slot, dict) and slot.get("link") is not None and text is not None:
                source = links.get(str(slot["link"]))
                if source:
                    shown.setdefault(source[0], text)
    return shown


class _Tracer:
    def __init__(self, graph: dict[str, dict[str, Any]], shown: dict[str, str]) -> None:
        self.graph = graph
        self.shown = shown
        self.styles: list[str] = []  # styler styles met while describing the current sampler

    # ---- which samplers -------------------------------------------------------------------

    def find_samplers(self) -> tuple[list[str], list[str]]:
        generators: list[str] = []
        refiners: list[str] = []
        for node_id, node in self.graph.items():
            kind = _sampler_kind(node)
            if kind == "generator":
                generators.append(node_id)
            elif kind == "refiner":
                refiners.append(node_id)
        feeding = self._feeding_outputs()
        if feeding is not None:
            generators = [n for n in generators if n in feeding] or generators
            refiners = [n for n in refiners if n in feeding] or refiners
        return sorted(generators, key=_node_order), sorted(refiners, key=_node_order)

    def _feeding_outputs(self) -> set[str] | None:
        outputs = [node_id for node_id, node in self.graph.items() if _is_output(node["class_type"])]
        if not outputs:
            return None
        reached: set[str] = set()
        pending = list(outputs)
        while pending and len(reached) < MAX_NODES:
            node_id = pending.pop()
            if node_id in reached or node_id not in self.graph:
                continue
            reached.add(node_id)
            pending += [link[0] for link in map(_link, self.graph[node_id]["inputs"].values()) if link]
        return reached

    # ---- one sampler ----------------------------------------------------------------------

    def describe_sampler(self, node_id: str, role: str) -> dict[str, Any]:
        node = self.graph[node_id]
        inputs = node["inputs"]
        sources: dict[str, str] = {}
        self.styles = []
        guider = self._node(inputs.get("guider"))
        guider_inputs = guider[1]["inputs"] if guider else {}

        seed = self._number(node_id, inputs, ("seed", "noise_seed"), _SEED_INPUTS, sources, "seed", int)
        if seed is None and _link(inputs.get("noise")):
            seed = self._number(node_id, inputs, ("noise",), _SEED_INPUTS, sources, "seed", int)

        steps = self._number(node_id, inputs, ("steps",), _STEPS_INPUTS, sources, "steps", int)
        if steps is None:
            steps = self._number(
                node_id, inputs, ("sigmas",), _STEPS_INPUTS, sources, "steps", int, ("sigmas",)
            )

        cfg = self._number(node_id, inputs, ("cfg",), _CFG_INPUTS, sources, "cfg", float)
        if cfg is None and guider:
            cfg = self._number(
                guider[0], guider_inputs, ("cfg", "cfg_conds"), _CFG_INPUTS, sources, "cfg", float
            )

        sampler = self._literal_or_traced(
            node_id, inputs, "sampler_name", ("sampler_name",), sources, "sampler"
        )
        if sampler is None and _link(inputs.get("sampler")):
            found = self._node(inputs["sampler"])
            if found:
                sampler_id, sampler_node = found
                name = sampler_node["inputs"].get("sampler_name")
                if isinstance(name, str):
                    sampler, sources["sampler"] = (
                        name,
                        f"{sampler_id}:{sampler_node['class_type']}.sampler_name",
                    )
                else:  # SamplerEulerAncestral & co: the node class is the sampler
                    sampler, sources["sampler"] = (
                        sampler_node["class_type"],
                        f"{sampler_id}:{sampler_node['class_type']}",
                    )

        scheduler = self._literal_or_traced(
            node_id, inputs, "scheduler", ("scheduler",), sources, "scheduler"
        )
        denoise = self._number(node_id, inputs, ("denoise",), ("denoise",), sources, "denoise", float)
        sigmas = self._node(inputs.get("sigmas"))
        if sigmas:
            sigmas_inputs = sigmas[1]["inputs"]
            if scheduler is None:
                scheduler = (
                    sigmas_inputs.get("scheduler")
                    if isinstance(sigmas_inputs.get("scheduler"), str)
                    else sigmas[1]["class_type"]
                )
                sources["scheduler"] = f"{sigmas[0]}:{sigmas[1]['class_type']}"
            if denoise is None:
                denoise = self._number(
                    sigmas[0], sigmas_inputs, ("denoise",), ("denoise",), sources, "denoise", float
                )

        loras: list[dict[str, Any]] = []
        model_link = inputs.get("model") if _link(inputs.get("model")) else guider_inputs.get("model")
        model_file = self._model(model_link, loras, sources)

        # A guider holds the conditioning of custom samplers. DualCFGGuider's cond2 is the
        # image-only or negative-text condition in the workflows that use it (HiDream E1, OmniGen2).
        holder = guider_inputs if guider else inputs
        conditioning = {
            "positive": holder.get("positive", holder.get("conditioning", holder.get("cond1"))),
            "negative": holder.get("negative"),
        }
        texts: dict[str, _TextTrace] = {}
        guidance: float | None = None
        for polarity, link in conditioning.items():
            trace = texts[polarity] = _TextTrace()
            self._conditioning(link, trace, 0, set())
            if trace.sources:
                sources["prompt" if polarity == "positive" else "negative_prompt"] = ", ".join(trace.sources)
            if polarity == "positive" and trace.guidance is not None:
                guidance = trace.guidance
                sources["guidance"] = trace.guidance_source or ""

        width, height = self._latent_size(inputs.get("latent_image", inputs.get("latent")), sources)
        return {
            "node_id": node_id,
            "class_type": node["class_type"],
            "role": role,
            "seed": seed,
            "steps": steps,
            "cfg": cfg,
            "sampler": sampler,
            "scheduler": scheduler,
            "denoise": denoise,
            "start_at_step": _as_number(inputs.get("start_at_step"), int),
            "end_at_step": _as_number(inputs.get("end_at_step"), int),
            "model": bare_model_name(model_file) if model_file else None,
            "model_file": model_file,
            "prompt": texts["positive"].text(),
            "negative_prompt": texts["negative"].text(),
            "prompt_parts": texts["positive"].parts(),
            "negative_prompt_parts": texts["negative"].parts(),
            "guidance": guidance,
            "width": width,
            "height": height,
            "styles": list(dict.fromkeys(self.styles)),
            "loras": loras,
            "sources": sources,
        }

    # ---- values ---------------------------------------------------------------------------

    def _node(self, value: Any) -> tuple[str, dict[str, Any]] | None:
        link = _link(value)
        if link and link[0] in self.graph:
            return link[0], self.graph[link[0]]
        return None

    def _value(
        self, value: Any, keys: tuple[str, ...], passthrough: tuple[str, ...] = ()
    ) -> tuple[Any, str | None]:
        """Follow links until a literal: through nodes holding one of ``keys`` (seed, primitive,
        scheduler nodes) or passing one of ``passthrough`` along (SplitSigmas...)."""
        source = None
        seen: set[str] = set()
        for _ in range(MAX_DEPTH):
            found = self._node(value)
            if found is None:
                return (None, None) if _link(value) else (value, source)
            node_id, node = found
            if node_id in seen:
                return None, None
            seen.add(node_id)
            inputs = node["inputs"]
            key = next((k for k in keys + passthrough if k in inputs), None)
            if key is None:
                return None, None
            value, source = inputs[key], f"{node_id}:{node['class_type']}.{key}"
        return None, None

    def _number(
        self,
        node_id: str,
        inputs: dict[str, Any],
        names: tuple[str, ...],
        keys: tuple[str, ...],
        sources: dict[str, str],
        field_name: str,
        kind: type,
        passthrough: tuple[str, ...] = (),
    ) -> Any:
        for name in names:
            if name not in inputs:
                continue
            value, source = self._value(inputs[name], keys, passthrough)
            number = _as_number(value, kind)
            if number is not None:
                sources[field_name] = source or f"{node_id}:{self.graph[node_id]['class_type']}.{name}"
                return number
        return None

    def _literal_or_traced(
        self,
        node_id: str,
        inputs: dict[str, Any],
        name: str,
        keys: tuple[str, ...],
        sources: dict[str, str],
        field_name: str,
    ) -> str | None:
        if name not in inputs:
            return None
        value, source = self._value(inputs[name], keys)
        if isinstance(value, str) and value:
            sources[field_name] = source or f"{node_id}:{self.graph[node_id]['class_type']}.{name}"
            return value
        return None

    def _model(self, link: Any, loras: list[dict[str, Any]], sources: dict[str, str]) -> str | None:
        seen: set[str] = set()
        for _ in range(MAX_DEPTH):
            found = self._node(link)
            if found is None or found[0] in seen:
                return None
            node_id, node = found
            seen.add(node_id)
            inputs = node["inputs"]
            for key in _MODEL_NAME_INPUTS:
                if isinstance(inputs.get(key), str) and inputs[key]:
                    sources["model"] = f"{node_id}:{node['class_type']}.{key}"
                    return inputs[key]
                if _link(inputs.get(key)):  # name chosen by a primitive/selector node
                    name, source = self._value(
                        inputs[key], ("ckpt_name", "unet_name", "value", "string", "text")
                    )
                    if isinstance(name, str):
                        sources["model"] = source or f"{node_id}:{node['class_type']}.{key}"
                        return name
            loras += _loras_of(node_id, node)
            link = next(
                (value for key, value in inputs.items() if key.startswith("model") and _link(value)),
                None,
            )
        return None

    def _latent_size(self, link: Any, sources: dict[str, str]) -> tuple[int | None, int | None]:
        seen: set[str] = set()
        for _ in range(MAX_DEPTH):
            found = self._node(link)
            if found is None or found[0] in seen:
                return None, None
            node_id, node = found
            seen.add(node_id)
            inputs = node["inputs"]
            if "width" in inputs and "height" in inputs:
                width = _as_number(self._value(inputs["width"], ("width", "value", "int"))[0], int)
                height = _as_number(self._value(inputs["height"], ("height", "value", "int"))[0], int)
                if width is not None and height is not None:
                    sources["size"] = f"{node_id}:{node['class_type']}"
                    return width, height
            link = next((inputs[key] for key in _LATENT_INPUTS if _link(inputs.get(key))), None)
        return None, None

    # ---- text -----------------------------------------------------------------------------

    def _conditioning(self, link: Any, trace: _TextTrace, depth: int, path: set[str]) -> None:
        """Collect the prompt text behind a conditioning link into ``trace``, in graph order.

        One rule covers the many nodes between a sampler and its text encoders (ConditioningCombine,
        SetArea, ControlNet, FluxGuidance, unCLIP, ReferenceLatent, StageB, image-to-video nodes):
        a node that carries both conditionings answers on slot 0/1 with the input of that name
        (``positive``/``negative``); otherwise every ``conditioning*`` input is followed, in the
        node's input order; then the node's own text, if it has one (encoders, GLIGEN boxes)."""
        found = self._node(link)
        if found is None or depth > MAX_DEPTH or found[0] in path:
            return
        node_id, node = found
        path = path | {node_id}
        kind, inputs = node["class_type"], node["inputs"]
        slot = _link(link)[1] if _link(link) else 0  # type: ignore[index]

        if "guidance" in inputs and trace.guidance is None:
            guidance = _as_number(self._value(inputs["guidance"], ("guidance", "value"))[0], float)
            if guidance is not None:
                trace.guidance, trace.guidance_source = guidance, f"{node_id}:{kind}.guidance"
        if kind == "ConditioningZeroOut":
            trace.add("", f"{node_id}:{kind}")
            return
        if kind == "SDXLPromptStyler" or ("text_positive" in inputs and "text_negative" in inputs):
            key = "text_negative" if slot == 1 else "text_positive"
            self._text_into(inputs.get(key), trace, depth + 1, path, f"{node_id}:{kind}.{key}")
            if isinstance(inputs.get("style"), str):
                self.styles.append(inputs["style"])
            return
        polarity = _POSITIVE_NEGATIVE[slot] if slot in (0, 1) else None
        if polarity in inputs and _link(inputs[polarity]):
            self._conditioning(inputs[polarity], trace, depth + 1, path)
            return
        upstream = [k for k in inputs if k.startswith("conditioning") and _link(inputs[k])]
        for key in upstream:
            self._conditioning(inputs[key], trace, depth + 1, path)
        encoder_keys = [k for k in inputs if k in _ENCODER_TEXT_INPUTS]  # the node's own order
        if "populated_text" in inputs:
            encoder_keys = ["populated_text"]
        if encoder_keys:
            self._encoder_texts(node_id, kind, inputs, encoder_keys, trace, depth, path)
        elif not upstream:
            trace.unresolved.append(f"{node_id}:{kind}")

    def _encoder_texts(
        self,
        node_id: str,
        kind: str,
        inputs: dict[str, Any],
        keys: list[str],
        trace: _TextTrace,
        depth: int,
        path: set[str],
    ) -> None:
        # SDXL/Flux/SD3/HiDream encoders take the prompt once per text encoder; users usually repeat
        # it, so identical texts are kept once and differing ones (text_g vs text_l) are parts.
        parts = _TextTrace()
        for key in keys:
            self._text_into(inputs[key], parts, depth + 1, path, f"{node_id}:{kind}.{key}")
        distinct = list(dict.fromkeys(parts.texts))
        if len(distinct) > 1 and "" in distinct:
            distinct.remove("")
        for text in distinct:
            trace.add(text, *parts.sources)
        trace.unresolved += parts.unresolved

    def _text_into(self, value: Any, trace: _TextTrace, depth: int, path: set[str], source: str) -> None:
        text, text_source, unresolved = self._text(value, depth, path)
        if text is not None:
            trace.add(text, text_source or source)
        else:
            trace.unresolved += unresolved or [source]

    def _text(self, value: Any, depth: int, path: set[str]) -> tuple[str | None, str | None, list[str]]:
        """Resolve a text input: a literal, or a string/concatenation node's output."""
        if isinstance(value, str):
            return value, None, []
        found = self._node(value)
        if found is None or depth > MAX_DEPTH or found[0] in path:
            return None, None, []
        node_id, node = found
        path = path | {node_id}
        kind, inputs = node["class_type"], node["inputs"]
        lowered = kind.lower()
        slot = _link(value)[1] if _link(value) else 0  # type: ignore[index]
        text: str | None = None
        source = f"{node_id}:{kind}"
        unresolved: list[str] = []

        if "text_positive" in inputs and "text_negative" in inputs:
            key = "text_negative" if slot == 1 else "text_positive"
            text, deeper, unresolved = self._text(inputs.get(key), depth + 1, path)
            source = deeper or f"{source}.{key}"
            if isinstance(inputs.get("style"), str):
                self.styles.append(inputs["style"])
        elif any(marker in lowered for marker in ("concat", "join", "combine", "append")):
            text, unresolved = self._concatenation(inputs, depth, path)
        else:
            text_key = next((k for k in _TEXT_INPUTS if k in inputs), None)
            if text_key is not None:
                text, deeper, unresolved = self._text(inputs[text_key], depth + 1, path)
                source = deeper or f"{source}.{text_key}"
        if text is None and node_id in self.shown:
            # The graph cannot compute it (style CSV, LLM...); a display node showed what ran.
            return self.shown[node_id], f"{node_id}:{kind} (shown in workflow)", []
        return text, source, unresolved or ([] if text is not None else [f"{node_id}:{kind}"])

    def _concatenation(
        self, inputs: dict[str, Any], depth: int, path: set[str]
    ) -> tuple[str | None, list[str]]:
        delimiter = next(
            (inputs[k] for k in ("delimiter", "separator", "join_with") if isinstance(inputs.get(k), str)),
            ", ",
        )
        delimiter = delimiter.replace("\\n", "\n")
        parts: list[str] = []
        for key in sorted(k for k in inputs if k.lower().startswith(("text", "string"))):
            text, _, unresolved = self._text(inputs[key], depth + 1, path)
            if unresolved:
                return None, unresolved
            if text:
                parts.append(text)
        return delimiter.join(parts), []


@dataclass
class _TextTrace:
    texts: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    guidance: float | None = None
    guidance_source: str | None = None

    def add(self, text: str, *sources: str) -> None:
        self.texts.append(text)
        self.sources += [s for s in sources if s not in self.sources]

    def parts(self) -> list[str]:
        """The distinct non-empty texts, in the order met."""
        return [text for text in dict.fromkeys(self.texts) if text]

    def text(self) -> str | None:
        """Combined conditionings (area prompts, concat, text_g + text_l) are joined one per line;
        "" when only empty or zeroed-out conditioning reaches the input, None when no text does."""
        if not self.texts:
            return None
        return "\n".join(self.parts())


def _sampler_kind(node: dict[str, Any]) -> str | None:
    kind, inputs = node["class_type"], node["inputs"]
    lowered = kind.lower()
    takes_image = _link(inputs.get("image")) is not None
    # Impact Pack samplers take model and conditioning bundled in a "basic_pipe".
    has_conditioning = ("model" in inputs and "positive" in inputs) or "basic_pipe" in inputs
    if any(marker in lowered for marker in _REFINER_MARKERS) and has_conditioning:
        return "refiner"
    if kind in _CORE_SAMPLERS or ("sampler" in lowered and (has_conditioning or "guider" in inputs)):
        return "refiner" if takes_image and not any(k in inputs for k in _LATENT_INPUTS) else "generator"
    return None


def _is_output(class_type: str) -> bool:
    return _is_saved(class_type) or "preview" in class_type.lower()


def _is_saved(class_type: str) -> bool:
    """An output that writes a file the user keeps (a preview goes to a temporary folder)."""
    lowered = class_type.lower()
    return "save" in lowered or lowered.startswith("vhs_videocombine")


def _loras_of(node_id: str, node: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = node["inputs"]
    if isinstance(inputs.get("lora_name"), str):
        return [
            {
                "name": inputs["lora_name"],
                "strength_model": _as_number(inputs.get("strength_model", inputs.get("strength")), float),
                "strength_clip": _as_number(inputs.get("strength_clip"), float),
                "node_id": node_id,
            }
        ]
    # rgthree Power Lora Loader: lora_1, lora_2... as {"on", "lora", "strength"[, "strengthTwo"]}
    found = []
    for key, value in inputs.items():
        if (
            key.startswith("lora_")
            and isinstance(value, dict)
            and value.get("on")
            and isinstance(value.get("lora"), str)
        ):
            strength = _as_number(value.get("strength"), float)
            clip = _as_number(value.get("strengthTwo"), float)
            found.append(
                {
                    "name": value["lora"],
                    "strength_model": strength,
                    "strength_clip": clip if clip is not None else strength,
                    "node_id": node_id,
                }
            )
    return found


def _link(value: Any) -> tuple[str, int] | None:
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], (str, int))
        and not isinstance(value[0], bool)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    ):
        return str(value[0]), value[1]
    return None


def _as_number(value: Any, kind: type) -> Any:
    """Numbers arrive as int, float or string ("7.5", "None"); anything else is None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int) or (isinstance(value, str) and ascii_digits(value.strip().lstrip("-"))):
        # Seeds go up to 2**64: keep integers exact instead of passing through float.
        return int(value) if kind is int else float(value)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    if kind is int:
        return int(number) if number.is_integer() else None
    return number


def _node_order(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if ascii_digits(node_id) else (1 << 62, node_id)


def _first_string(value: Any) -> str | None:
    pending = [value]
    for _ in range(32):
        if not pending:
            return None
        item = pending.pop(0)
        if isinstance(item, str) and item:
            return item
        if isinstance(item, list):
            pending = item + pending
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
