"""Labelled families of generations with known lineage, for the lineage rules' tests and benchmark.

A simulated person works through a session: several ideas, interleaved, each grown by rerolls (same
prompt, new seed; sometimes a batch saved in the same second), parameter sweeps (same prompt and seed),
prompt edits (same seed, or a new one), img2img passes (A1111 "Init image hash" with the saved init
image, or ComfyUI LoadImage → VAEEncode), Extras upscales (the parent's parameters plus "Postprocess")
and upscales by an outside tool (no metadata: only the pixels tell). Around them, distractors: single
images of other subjects that share a prompt word, a common seed (42, 1234...) or come from another
tool with the same seed. Every image knows its idea, what was done and from which image, so edges can
be scored.

Generations are made the way ingest makes them: a `GenerationRecord` as the readers fill it, passed
through `lineage_facts` (so the explicit keys and references are the real ones), with a simulated
perceptual hash (a new picture is a random hash; a sweep or an edit flips a few bits; an upscale or a
copy keeps it). `idea_session_files` writes a session as real A1111 PNG files for the API and browser
tests. Everything is seeded.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from PIL import Image, ImageDraw, PngImagePlugin

from libs.lineage.evidence import lineage_facts
from libs.lineage.facts import Edge, Generation, Relation
from libs.metadata.record import GenerationRecord

BOILERPLATE = ("masterpiece", "best quality", "highly detailed")
SUBJECTS = (
    "red fox", "lighthouse keeper", "clockwork owl", "desert caravan", "paper boat", "old fisherman",
    "glass greenhouse", "steam locomotive", "koi pond", "mountain monastery", "jazz trumpeter",
    "snow leopard", "floating island", "vintage motorcycle", "tea ceremony", "coral reef", "ice skater",
    "abandoned carousel", "samurai archer", "neon noodle bar", "hot air balloon", "sunflower field",
    "crystal dragon", "ballet dancer", "lunar rover", "bamboo forest", "bookshop cat", "pirate galleon",
    "cyberpunk courier", "wheat farmer", "arctic research station", "street violinist", "giant tortoise",
    "origami crane", "cathedral organ", "moss golem", "racing cyclist", "beekeeper", "wind turbine",
    "night market",
)  # fmt: skip
DESCRIPTORS = (
    "golden hour", "misty", "rain soaked", "autumn leaves", "dramatic clouds", "soft light", "backlit",
    "snowfall", "long shadows", "bokeh", "vivid colors", "muted palette", "wide angle", "close up",
    "low angle", "symmetrical", "overgrown", "weathered", "glowing", "reflections", "foggy morning",
    "starry sky", "sunset", "storm", "candlelight", "morning dew", "dust particles", "ornate",
    "minimalist", "crowded", "lonely", "tiny", "enormous", "ancient", "futuristic", "rusty", "pastel",
    "silhouette", "underwater", "smoke",
)  # fmt: skip
STYLES = (
    "oil painting", "watercolor", "35mm film", "studio photo", "ink sketch", "low poly", "ukiyo-e",
    "art nouveau", "gouache", "charcoal drawing", "isometric render", "polaroid",
)  # fmt: skip
NEGATIVES = ("blurry, lowres, bad anatomy", "text, watermark", "deformed, ugly, jpeg artifacts", "nsfw")
MODELS = ("dreamshaperXL_turbo", "juggernautXL_v9", "sd_xl_base_1.0", "realisticVision_v60")
SAMPLERS = ("Euler a", "DPM++ 2M Karras", "DPM++ SDE Karras", "UniPC")
COMMON = (42, 1234, 0, 12345)
SIZES = ((512, 512), (512, 768), (768, 512), (1024, 1024))


@dataclass(frozen=True)
class Profile:
    """How the simulated person works. `HARD` reads the same behaviour less kindly to the rules: longer
    pauses, bigger prompt edits, more hand-typed common seeds, one house style and a small pool of
    descriptors shared by every idea, and distractors sharing two descriptors with an idea."""

    name: str
    long_pause: tuple[float, float] = (180, 900)  # seconds, 5% of the steps
    short_pause: tuple[float, float] = (8, 180)
    edit_moves: tuple[int, ...] = (1, 1, 2)
    common_seed_share: float = 0.25
    house_style: bool = False
    descriptor_pool: int = len(DESCRIPTORS)
    distractor_shared: int = 1


DEFAULT = Profile("default")
HARD = Profile(
    "hard", long_pause=(900, 2400), short_pause=(8, 300), edit_moves=(1, 2, 3), common_seed_share=0.5,
    house_style=True, descriptor_pool=20, distractor_shared=2,
)  # fmt: skip
PROFILES = (DEFAULT, HARD)
# idea_session_files: a quick A1111 session (seconds per image), 200 images in about two hours
QUICK_SESSION = Profile("quick-session", short_pause=(5, 60), long_pause=(120, 600))


@dataclass(frozen=True)
class Shot:
    """One saved image of the simulated session, with what was done to make it."""

    asset_id: str
    idea: int  # distractors get an idea of their own
    action: str  # "new", "reroll", "batch", "sweep", "edit", "edit-new-seed", "img2img", "inpaint",
    # "comfy-img2img", "extras-upscale", "outside-upscale", "init-copy", "distractor"
    source: str | None  # the image it was made from
    at: datetime
    tool: str | None
    prompt: str | None
    negative: str | None
    seed: int | None
    model: str | None
    sampler: str | None
    steps: int | None
    cfg: float | None
    width: int
    height: int
    filename: str
    phash: int
    infotext: dict[str, str] = field(default_factory=dict)
    comfy_load: str | None = None  # the file name a ComfyUI graph loads
    comfy_into: str | None = None  # and the node it goes into
    pixels_md5: str | None = None
    postprocess: dict[str, str] = field(default_factory=dict)


# what a labelled action is as a relation, and whether the file proves it
RELATION_OF: dict[str, tuple[Relation, bool]] = {
    "reroll": ("reroll", False),
    "batch": ("reroll", False),
    "sweep": ("sweep", False),
    "edit": ("edit", False),
    "edit-new-seed": ("edit", False),
    "outside-upscale": ("upscale", False),
    "init-copy": ("derived", False),
    "img2img": ("img2img", True),
    "img2img-plain": ("img2img", False),
    "inpaint": ("inpaint", True),
    "comfy-img2img": ("img2img", True),
    "extras-upscale": ("upscale", True),
}


@dataclass(frozen=True)
class TrueEdge:
    parent_id: str
    child_id: str
    relation: Relation
    explicit: bool


@dataclass
class LabelledSession:
    shots: list[Shot]
    gens: list[Generation]
    truth: list[TrueEdge]

    @property
    def idea_of(self) -> dict[str, int]:
        return {s.asset_id: s.idea for s in self.shots}

    @property
    def n_ideas(self) -> int:
        return len({s.idea for s in self.shots})


# --------------------------------------------------------------------------- simulation


@dataclass
class _Idea:
    number: int
    subject: str
    descriptors: list[str]
    style: str
    negative: str
    model: str
    sampler: str
    steps: int
    cfg: float
    size: tuple[int, int]
    fixed_seed: int | None  # an idea worked on a hand-typed seed
    tool: str
    shots: list[Shot] = field(default_factory=list)

    def prompt(self, descriptors: Sequence[str] | None = None) -> str:
        return ", ".join([*BOILERPLATE, self.subject, *(descriptors or self.descriptors), self.style])


def _flip(rng: random.Random, value: int, low: int, high: int) -> int:
    for bit in rng.sample(range(64), rng.randint(low, high)):
        value ^= 1 << bit
    return value


def _new_hash(rng: random.Random) -> int:
    while True:
        value = rng.getrandbits(64)
        if 12 <= value.bit_count() <= 52:
            return value


def _words_of(prompt: str) -> list[str]:
    parts = [p.strip() for p in prompt.split(",")]
    return parts[len(BOILERPLATE) + 1 : -1]  # the descriptors between subject and style


class _Simulator:
    def __init__(self, seed: int, start: datetime, *, rich: bool, profile: Profile = DEFAULT) -> None:
        self.rng = random.Random(seed)
        self.profile = profile
        self.house_style = self.rng.choice(STYLES)
        self.descriptors = DESCRIPTORS[: profile.descriptor_pool]
        self.at = start
        self.rich = rich  # all kinds of actions and distractors, or a plain A1111 session
        self.shots: list[Shot] = []
        self.counter = 0
        self.comfy_counter = 0
        self.a1111_counter = 0
        self.ideas: list[_Idea] = []

    # ---- ids, names, time
    def _id(self) -> str:
        self.counter += 1
        return f"{self.counter:05d}-{self.rng.getrandbits(32):08x}"

    def _filename(self, tool: str | None, seed: int | None, ext: str = "png") -> str:
        if tool == "comfyui":
            self.comfy_counter += 1
            return f"ComfyUI_{self.comfy_counter:05d}_.png"
        self.a1111_counter += 1
        return f"{self.a1111_counter:05d}-{seed if seed is not None else 0}.{ext}"

    def _tick(self) -> datetime:
        # people look at a result before the next: 8 s to 3 min, now and then a longer pause
        pause = self.profile.short_pause if self.rng.random() > 0.05 else self.profile.long_pause
        gap = self.rng.uniform(*pause)
        self.at += timedelta(seconds=gap)
        return self.at

    def _seed(self) -> int:
        return self.rng.randrange(0, 2**32)

    # ---- ideas
    def new_idea(self, number: int, used_subjects: set[str]) -> _Idea:
        rng = self.rng
        subject = rng.choice([s for s in SUBJECTS if s not in used_subjects])
        used_subjects.add(subject)
        tool = "comfyui" if self.rich and rng.random() < 0.2 else "a1111"
        return _Idea(
            number=number,
            subject=subject,
            descriptors=rng.sample(self.descriptors, rng.randint(3, 5)),
            style=self.house_style if self.profile.house_style else rng.choice(STYLES),
            negative=rng.choice(NEGATIVES),
            model=rng.choice(MODELS),
            sampler=rng.choice(SAMPLERS),
            steps=rng.choice((20, 25, 30)),
            cfg=rng.choice((5.0, 6.0, 7.0)),
            size=rng.choice(SIZES),
            fixed_seed=rng.choice(COMMON) if rng.random() < self.profile.common_seed_share else None,
            tool=tool,
        )

    def _shot(self, idea: _Idea, action: str, source: Shot | None, **changes: object) -> Shot:
        base: Shot
        if source is None:
            seed = idea.fixed_seed if idea.fixed_seed is not None else self._seed()
            base = Shot(
                asset_id="", idea=idea.number, action=action, source=None, at=self.at, tool=idea.tool,
                prompt=idea.prompt(), negative=idea.negative, seed=seed, model=idea.model,
                sampler=idea.sampler, steps=idea.steps, cfg=idea.cfg, width=idea.size[0],
                height=idea.size[1], filename="", phash=_new_hash(self.rng),
            )  # fmt: skip
        else:
            base = replace(source, action=action, source=source.asset_id, infotext={}, comfy_load=None,
                           comfy_into=None, pixels_md5=None, postprocess={})  # fmt: skip
        shot = replace(base, **changes)  # type: ignore[arg-type]
        shot = replace(shot, asset_id=self._id())
        if not shot.filename or shot.filename == (source.filename if source else ""):
            shot = replace(shot, filename=self._filename(shot.tool, shot.seed))
        if shot.tool == "a1111" and shot.prompt is not None and not shot.infotext:
            shot = replace(shot, infotext=_infotext_params(shot))
        self.shots.append(shot)
        idea.shots.append(shot)
        return shot

    def first(self, idea: _Idea) -> Shot:
        self._tick()
        return self._shot(idea, "new", None, at=self.at)

    def step(self, idea: _Idea) -> None:
        """One action on the idea, from its latest image most of the time."""
        rng = self.rng
        source = idea.shots[-1] if rng.random() < 0.75 else rng.choice(idea.shots)
        if source.prompt is None:  # an init copy or an outside upscale: work from what it copies
            source = next(s for s in reversed(idea.shots) if s.prompt is not None)
        at = self._tick()
        weights = {
            "reroll": 30, "batch": 8, "sweep": 18, "edit": 14, "edit-new-seed": 12,
            "img2img": 6 if self.rich else 0, "inpaint": 2 if self.rich else 0,
            "img2img-plain": 5 if self.rich else 0,
            "comfy-img2img": 0, "extras-upscale": 5, "outside-upscale": 4 if self.rich else 0,
        }  # fmt: skip
        if idea.tool == "comfyui":
            weights.update(
                {
                    "batch": 0,
                    "img2img": 0,
                    "inpaint": 0,
                    "img2img-plain": 0,
                    "extras-upscale": 0,
                    "comfy-img2img": 8,
                }
            )
        if idea.fixed_seed is not None:
            weights["reroll"] = 8  # someone on a fixed seed sweeps and edits more than they reroll
            weights["batch"] = 0
        action = rng.choices(list(weights), weights=list(weights.values()))[0]
        if action == "reroll":
            self._shot(idea, "reroll", source, at=at, seed=self._seed(), phash=_new_hash(rng))
        elif action == "batch":
            # A1111 batch: seeds s, s+1, ... saved within the same second
            seed = self._seed()
            for i in range(rng.randint(2, 4)):
                self._shot(idea, "batch", source, at=at, seed=seed + i, phash=_new_hash(rng))
        elif action == "sweep":
            self._sweep(idea, source, at)
        elif action in ("edit", "edit-new-seed"):
            words = _edited(rng, _words_of(source.prompt or ""), self.profile.edit_moves)
            changes: dict[str, object] = {
                "at": at,
                "prompt": idea.prompt(words),
                "phash": _flip(rng, source.phash, 10, 22),
            }
            if action == "edit-new-seed":
                changes.update(seed=self._seed(), phash=_new_hash(rng))
            self._shot(idea, action, source, **changes)
        elif action == "img2img-plain":
            # A1111 img2img as it is by default: "Denoising strength" in the infotext, the init image not
            # saved, so no hash names the parent
            shot = self._shot(idea, "img2img-plain", source, at=at, seed=self._seed(),
                              phash=_flip(rng, source.phash, 10, 24))  # fmt: skip
            self._update(shot, infotext={**shot.infotext, "Denoising strength": "0.45"})
        elif action in ("img2img", "inpaint"):
            self._img2img(idea, source, at, inpaint=action == "inpaint")
        elif action == "comfy-img2img":
            self._shot(
                idea, "comfy-img2img", source, at=at, seed=self._seed(), phash=_flip(rng, source.phash, 10, 24),
                comfy_load=source.filename, comfy_into="VAEEncode",
            )  # fmt: skip
        elif action == "extras-upscale":
            # people upscale a chosen generation once, not an upscale again
            source = next(
                s
                for s in reversed(idea.shots)
                if s.action not in ("extras-upscale", "outside-upscale", "init-copy")
            )
            factor = rng.choice((2, 4))
            self._shot(
                idea, "extras-upscale", source, at=at, width=source.width * factor,
                height=source.height * factor, phash=_flip(rng, source.phash, 0, 2), filename="",
                infotext=source.infotext,
                postprocess={"Postprocess upscale by": str(factor), "Postprocess upscaler": "R-ESRGAN 4x+"},
            )  # fmt: skip
        elif action == "outside-upscale":
            self._shot(
                idea, "outside-upscale", source, at=at, tool=None, prompt=None, negative=None, seed=None,
                model=None, sampler=None, steps=None, cfg=None, width=source.width * 2,
                height=source.height * 2, phash=_flip(rng, source.phash, 0, 3),
                filename=f"{source.filename.rsplit('.', 1)[0]}_upscaled.jpg",
            )  # fmt: skip

    def _sweep(self, idea: _Idea, source: Shot, at: datetime) -> None:
        rng = self.rng
        what = rng.choice(("cfg", "steps", "sampler", "model"))
        value: object
        if what == "cfg":
            value = (source.cfg or 7.0) + rng.choice((-1.5, -1.0, 1.0, 1.5, 2.0))
        elif what == "steps":
            value = (source.steps or 20) + rng.choice((-5, 5, 10))
        elif what == "sampler":
            value = rng.choice([s for s in SAMPLERS if s != source.sampler])
        else:
            value = rng.choice([m for m in MODELS if m != source.model])
        flips = (4, 12) if what != "model" else (14, 26)
        self._shot(idea, "sweep", source, at=at, phash=_flip(rng, source.phash, *flips), **{what: value})

    def _img2img(self, idea: _Idea, source: Shot, at: datetime, *, inpaint: bool) -> None:
        """A1111 img2img with "save init images" on: the init image is saved as <md5>.png next to
        the outputs (no text of its own), and the result's infotext names that md5."""
        md5 = hashlib.md5(f"pixels of {source.asset_id}".encode(), usedforsecurity=False).hexdigest()
        copy = self._shot(
            idea, "init-copy", source, at=at - timedelta(milliseconds=400), tool=None, prompt=None,
            negative=None, seed=None, model=None, sampler=None, steps=None, cfg=None,
            filename=f"{md5}.png", pixels_md5=md5,
        )  # fmt: skip
        result = self._shot(
            idea, "inpaint" if inpaint else "img2img", copy, at=at, tool="a1111", prompt=source.prompt,
            negative=source.negative, seed=self._seed(), model=source.model, sampler=source.sampler,
            steps=source.steps, cfg=source.cfg, filename="", phash=_flip(self.rng, source.phash, 10, 24),
        )  # fmt: skip
        extra = {"Denoising strength": "0.55", "Init image hash": md5}
        if inpaint:
            extra.update({"Mask blur": "4", "Inpaint area": "Only masked"})
        self._update(result, infotext={**result.infotext, **extra})

    def _update(self, shot: Shot, **changes: object) -> None:
        updated = replace(shot, **changes)  # type: ignore[arg-type]
        self.shots[self.shots.index(shot)] = updated
        for idea in self.ideas:
            if shot in idea.shots:
                idea.shots[idea.shots.index(shot)] = updated

    def distractor(self, number: int, ideas: Sequence[_Idea], used_subjects: set[str]) -> None:
        """A single image of another subject that shares a word, a common seed, or a seed from another
        tool with an idea being worked on: it must stay alone."""
        rng = self.rng
        near = rng.choice([i for i in ideas if i.shots])
        neighbour = near.shots[-1]
        subject = rng.choice([s for s in SUBJECTS if s not in used_subjects])
        used_subjects.add(subject)
        shared = rng.sample(near.descriptors, min(self.profile.distractor_shared, len(near.descriptors)))
        descriptors = [*shared, *rng.sample([d for d in self.descriptors if d not in near.descriptors], 2)]
        kind = rng.choice(("word", "common-seed", "other-tool"))
        seed = self._seed()
        tool = near.tool
        if kind == "common-seed":
            seed = neighbour.seed if neighbour.seed in COMMON else rng.choice(COMMON)
        elif kind == "other-tool":
            seed = neighbour.seed if neighbour.seed is not None else seed
            tool = "comfyui" if near.tool == "a1111" else "a1111"
        idea = _Idea(
            number=number, subject=subject, descriptors=descriptors, style=near.style, negative=near.negative,
            model=near.model, sampler=near.sampler, steps=near.steps, cfg=near.cfg, size=near.size,
            fixed_seed=seed, tool=tool,
        )  # fmt: skip
        self.ideas.append(idea)
        self.first(idea)
        replace_action = replace(self.shots[-1], action="distractor")
        self.shots[-1] = replace_action
        idea.shots[-1] = replace_action


def _edited(rng: random.Random, original: list[str], moves: Sequence[int] = (1, 1, 2)) -> list[str]:
    """A prompt edit: add, drop or swap one or more descriptors (the subject and style stay)."""
    words = list(original)
    while words == original:
        words = _edit_once(rng, original, moves)
    return words


def _edit_once(rng: random.Random, original: list[str], moves: Sequence[int]) -> list[str]:
    words = list(original)
    for _ in range(rng.choice(moves)):
        move = rng.choice(("add", "drop", "swap")) if len(words) > 2 else "add"
        fresh = [d for d in DESCRIPTORS if d not in words]
        if move == "add":
            words.insert(rng.randint(0, len(words)), rng.choice(fresh))
        elif move == "drop":
            words.pop(rng.randrange(len(words)))
        else:
            words[rng.randrange(len(words))] = rng.choice(fresh)
    return words


def _infotext_params(shot: Shot) -> dict[str, str]:
    params = {
        "Steps": str(shot.steps),
        "Sampler": str(shot.sampler),
        "CFG scale": f"{shot.cfg:g}" if shot.cfg is not None else "7",
        "Seed": str(shot.seed),
        "Size": f"{shot.width}x{shot.height}",
        "Model hash": hashlib.sha256(str(shot.model).encode()).hexdigest()[:10],
        "Model": str(shot.model),
        "Version": "v1.10.1",
    }
    return params


def _simulate(
    seed: int,
    n_images: int,
    n_ideas: int,
    start: datetime,
    *,
    rich: bool,
    distractors: int,
    profile: Profile = DEFAULT,
) -> list[Shot]:
    sim = _Simulator(seed, start, rich=rich, profile=profile)
    rng = sim.rng
    used: set[str] = set()
    ideas: list[_Idea] = []
    # idea starts spread over the session; each idea is worked on for a while, then left, sometimes
    # taken up again (interleaved)
    # evenly spread with some jitter, so every idea gets several images
    spacing = n_images / n_ideas
    starts = [0] + [int(i * spacing + rng.uniform(-0.3, 0.3) * spacing) for i in range(1, n_ideas)]
    distractor_at = set(rng.sample(range(3, max(4, n_images - 1)), min(distractors, max(0, n_images - 4))))
    current: _Idea | None = None
    while len(sim.shots) < n_images:
        made = len(sim.shots)
        if starts and made >= starts[0]:
            starts.pop(0)
            current = sim.new_idea(len(ideas), used)
            ideas.append(current)
            sim.ideas.append(current)
            sim.first(current)
            continue
        if distractor_at and made >= min(distractor_at) and ideas:
            distractor_at.discard(min(distractor_at))
            sim.distractor(1000 + made, ideas, used)
            continue
        assert current is not None
        if len(ideas) > 1 and rng.random() < 0.15:
            sim.step(rng.choice(ideas[:-1]))  # a step back on an earlier idea, then on with the newest
        else:
            sim.step(current)
    return sim.shots[:n_images]


# --------------------------------------------------------------------------- to generations


def _record(shot: Shot) -> GenerationRecord:
    """The record the metadata readers would make of the shot's file."""
    record = GenerationRecord(
        path=shot.filename, format="PNG", tool=shot.tool, prompt=shot.prompt, negative_prompt=shot.negative,
        seed=shot.seed, model=shot.model, sampler=shot.sampler, steps=shot.steps, cfg=shot.cfg,
        width=shot.width, height=shot.height, generated_at=shot.at,
    )  # fmt: skip
    if shot.tool == "a1111" and shot.infotext:
        record.extra["infotext"] = {**shot.infotext, **shot.postprocess}
    if shot.tool == "comfyui" and shot.prompt is not None:
        graph = comfy_graph(shot)
        record.raw["png_text"] = {"prompt": json.dumps(graph)}
        record.extra["comfyui"] = {"loras": []}
    return record


def comfy_graph(shot: Shot) -> dict[str, dict[str, object]]:
    """A ComfyUI API graph as SaveImage writes it: txt2img, or LoadImage → VAEEncode → KSampler."""
    graph: dict[str, dict[str, object]] = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": f"{shot.model}.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": shot.prompt, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": shot.negative or "", "clip": ["4", 1]}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": shot.width, "height": shot.height, "batch_size": 1},
        },
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": shot.seed,
                "steps": shot.steps,
                "cfg": shot.cfg,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    }
    if shot.comfy_load:
        graph["10"] = {"class_type": "LoadImage", "inputs": {"image": shot.comfy_load, "upload": "image"}}
        graph["11"] = {
            "class_type": shot.comfy_into or "VAEEncode",
            "inputs": {"pixels": ["10", 0], "vae": ["4", 2]},
        }
        inputs = graph["3"]["inputs"]
        assert isinstance(inputs, dict)
        inputs["latent_image"] = ["11", 0]
        inputs["denoise"] = 0.6
        del graph["5"]
    return graph


def generation_of(shot: Shot) -> Generation:
    facts = lineage_facts(
        _record(shot),
        sha256=hashlib.sha256(shot.asset_id.encode()).hexdigest(),
        filename=shot.filename,
        phash=f"{shot.phash:016x}",
        pixels_md5=shot.pixels_md5,
    )
    return Generation(
        asset_id=shot.asset_id, generated_at=shot.at, tool=shot.tool, prompt=shot.prompt, model=shot.model,
        width=shot.width, height=shot.height, facts=facts,
    )  # fmt: skip


def _truth(shots: Sequence[Shot]) -> list[TrueEdge]:
    edges = []
    for shot in shots:
        if shot.source is None or shot.action not in RELATION_OF:
            continue
        relation, explicit = RELATION_OF[shot.action]
        edges.append(TrueEdge(shot.source, shot.asset_id, relation, explicit))
    return edges


def labelled_session(
    seed: int,
    *,
    n_images: int = 200,
    n_ideas: int = 12,
    distractors: int = 12,
    rich: bool = True,
    start: datetime = datetime(2026, 3, 14, 9, 0, tzinfo=UTC),
    profile: Profile = DEFAULT,
) -> LabelledSession:
    """A session with known answers: every kind of variation, and distractors that must stay alone."""
    shots = _simulate(seed, n_images, n_ideas, start, rich=rich, distractors=distractors, profile=profile)
    return LabelledSession(shots=shots, gens=[generation_of(s) for s in shots], truth=_truth(shots))


# --------------------------------------------------------------------------- scoring


@dataclass
class Score:
    """Inferred edges: precision and recall by relation; explicit edges: found / expected."""

    inferred_true: int = 0
    inferred_made: int = 0
    inferred_expected: int = 0
    inferred_found: int = 0
    explicit_expected: int = 0
    explicit_found: int = 0
    explicit_wrong: int = 0
    by_relation: dict[str, list[int]] = field(
        default_factory=dict
    )  # relation → [true, made, found, expected]
    wrong: list[tuple[Edge, str]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.inferred_true / self.inferred_made if self.inferred_made else 1.0

    @property
    def recall(self) -> float:
        return self.inferred_found / self.inferred_expected if self.inferred_expected else 1.0

    def add(self, other: Score) -> None:
        for name in ("inferred_true", "inferred_made", "inferred_expected", "inferred_found",
                     "explicit_expected", "explicit_found", "explicit_wrong"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for relation, counts in other.by_relation.items():
            mine = self.by_relation.setdefault(relation, [0, 0, 0, 0])
            for i, n in enumerate(counts):
                mine[i] += n
        self.wrong += other.wrong


def score(session: LabelledSession, edges: Sequence[Edge]) -> Score:
    """An inferred edge is right when both images belong to the same idea, the relation is what was
    done to make the child, and the parent is not later than the child (any earlier image of the same
    prompt is a fair parent of a reroll, any earlier image of the seed and prompt of a sweep). Recall:
    each child made by an inferable action has a right inferred edge. Explicit edges must name
    exactly the image the file refers to, with its relation."""
    shots = {s.asset_id: s for s in session.shots}
    result = Score()
    truth_into = {t.child_id: t for t in session.truth}
    for edge in edges:
        parent, child = shots[edge.parent_id], shots[edge.child_id]
        truth = truth_into.get(edge.child_id)
        if edge.explicit:
            if (
                truth is None
                or not truth.explicit
                or (truth.parent_id, truth.relation) != (edge.parent_id, edge.relation)
            ):
                result.explicit_wrong += 1
                result.wrong.append((edge, "explicit edge the files do not say"))
            continue
        counts = result.by_relation.setdefault(edge.relation, [0, 0, 0, 0])
        result.inferred_made += 1
        counts[1] += 1
        ok = (
            truth is not None
            and not truth.explicit
            and parent.idea == child.idea
            and truth.relation == edge.relation
            and parent.at <= child.at
        )
        if ok:
            result.inferred_true += 1
            counts[0] += 1
        else:
            why = "no variation" if truth is None else f"truth {truth.relation} from {truth.parent_id}"
            result.wrong.append((edge, why))
    made_into: dict[str, list[Edge]] = {}
    for edge in edges:
        made_into.setdefault(edge.child_id, []).append(edge)
    for truth in session.truth:
        got = made_into.get(truth.child_id, [])
        if truth.explicit:
            result.explicit_expected += 1
            if any(
                e.explicit and e.parent_id == truth.parent_id and e.relation == truth.relation for e in got
            ):
                result.explicit_found += 1
            continue
        result.inferred_expected += 1
        counts = result.by_relation.setdefault(truth.relation, [0, 0, 0, 0])
        counts[3] += 1
        child = shots[truth.child_id]
        if any(
            not e.explicit
            and e.relation == truth.relation
            and shots[e.parent_id].idea == child.idea
            and shots[e.parent_id].at <= child.at
            for e in got
        ):
            result.inferred_found += 1
            counts[2] += 1
    return result


# --------------------------------------------------------------------------- real files


def _palette(rng: random.Random) -> list[tuple[int, int, int]]:
    return [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(5)]


def _picture(idea_seed: int, variation_seed: int, size: tuple[int, int]) -> Image.Image:
    """Pixels that look alike within an idea (the same shapes and colours, moved a little) and differ
    between ideas."""
    idea_rng = random.Random(idea_seed)
    jitter = random.Random(variation_seed)
    width, height = size
    palette = _palette(idea_rng)
    image = Image.new("RGB", size, palette[0])
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = idea_rng.uniform(0, width), idea_rng.uniform(0, height)
        w, h = idea_rng.uniform(width * 0.1, width * 0.5), idea_rng.uniform(height * 0.1, height * 0.5)
        dx, dy = jitter.uniform(-0.04, 0.04) * width, jitter.uniform(-0.04, 0.04) * height
        box = (x + dx, y + dy, x + dx + w, y + dy + h)
        colour = idea_rng.choice(palette[1:])
        if idea_rng.random() < 0.5:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour)
    return image


def infotext(shot: Shot) -> str:
    """The A1111 "parameters" text of a shot."""
    params = {**shot.infotext, **shot.postprocess}
    line = ", ".join(f"{k}: {v}" for k, v in params.items())
    negative = f"\nNegative prompt: {shot.negative}" if shot.negative else ""
    return f"{shot.prompt}{negative}\n{line}"


def idea_session_files(
    n_images: int = 200,
    n_ideas: int = 12,
    start_ms: int = 1_773_478_800_000,  # 2026-03-14 09:00 UTC
    seed: int = 14,
) -> list[tuple[str, bytes, int]]:
    """A session of `n_images` A1111 PNGs in `n_ideas` ideas, as [(filename, bytes, last_modified_ms)].

    Each file carries A1111's "parameters" text (prompt, negative prompt, steps, sampler, CFG, seed,
    size, model); A1111 writes no time into the file, so the time is the file's last-modified time,
    which the uploader passes as `last_modified`. Only rerolls, sweeps, prompt edits and Extras upscales
    (what an A1111 session without saved init images holds), and no distractors: the session reads as
    exactly `n_ideas` ideas. Pictures are small (a quarter of the stated size) to keep uploads quick;
    the stated size stays in the parameters."""
    start = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    shots = _simulate(seed, n_images, n_ideas, start, rich=False, distractors=0, profile=QUICK_SESSION)
    files: list[tuple[str, bytes, int]] = []
    for shot in shots:
        size = (max(64, shot.width // 4), max(64, shot.height // 4))
        picture = _picture(seed * 1000 + shot.idea, int(shot.asset_id.split("-")[0]), size)
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", infotext(shot))
        out = io.BytesIO()
        picture.save(out, format="PNG", pnginfo=info)
        files.append((shot.filename, out.getvalue(), int(shot.at.timestamp() * 1000)))
    return files


def idea_session_truth(
    n_images: int = 200, n_ideas: int = 12, start_ms: int = 1_773_478_800_000, seed: int = 14
) -> dict[str, int]:
    """The idea of each file `idea_session_files` writes (same arguments), by file name."""
    start = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    shots = _simulate(seed, n_images, n_ideas, start, rich=False, distractors=0, profile=QUICK_SESSION)
    return {s.filename: s.idea for s in shots}
