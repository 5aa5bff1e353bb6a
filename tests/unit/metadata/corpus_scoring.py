"""Field-by-field scoring against ../shared/corpus/real/EXPECTED.json (shared by the test and the bench).

A value is scored per file for: tool, prompt, negative_prompt (first 200 characters, as
EXPECTED was cut), seed, model, sampler, steps, cfg, width, height and the timestamp.
EXPECTED lists only times embedded in the file, so a time we derived from the file *name*
(or folder/mtime) counts as "no embedded time" here.

EXPECTED.json was written under the old ComfyUI rule ("with several sampler nodes the headline
fields are null") and keeps each loader's raw file name. Issue 17 made the base pass the headline
and the model its bare name, so `load_expected` applies that rule to the three multi-sampler
ComfyUI files (values read by hand from each file's graph, below) and ComfyUI model names are
compared without folder and extension. `load_expected_as_written` is EXPECTED.json untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from libs.metadata.comfyui import bare_model_name
from libs.metadata.timestamps import parse_time_text

CORPUS = Path(__file__).resolve().parents[3].parent / "shared/corpus/real"
EXPECTED_FILE = CORPUS / "EXPECTED.json"
FIELDS = (
    "tool",
    "prompt",
    "negative_prompt",
    "seed",
    "model",
    "sampler",
    "steps",
    "cfg",
    "width",
    "height",
    "timestamp",
)
FALLBACK_SOURCES = ("filename:", "folder:", "file_mtime")


@dataclass
class Miss:
    file: str
    field: str
    expected: Any
    got: Any


# The base pass of each multi-sampler ComfyUI file of the corpus, read by hand from its API graph;
# seed, steps, cfg and sampler agree with that node in EXPECTED's comfy_sampler_nodes where listed.
BASE_PASS: dict[str, dict[str, Any]] = {
    # #1907 SamplerCustom (PixArt, from EmptyLatentImage #1427); #1958 re-samples its upscaled decode.
    "comfyui/ComfyUI_07052_.jpeg": {
        "prompt": "1girl, looking at viewer, solo focus, solo, dutch angle, outdoors, scenery, black "
        "thighhighs, pink eyes, white footwear, very long hair, standing, high heels, long hair, "
        "side cutout, thighhighs, polea",
        "negative_prompt": "",  # T5TextEncode #1420 with empty text
        "seed": 144167239,
        "model": "2025-02-03_12-38-15-save-440656-151-2303",  # PixArtCheckpointLoader #1667
        "sampler": "SamplerEulerAncestralCFGPP",  # sampler node #2108 has no sampler_name
        "steps": 30,  # GITSScheduler #1879
        "cfg": 1.2,
    },
    # #3 KSampler (area composition, EmptyLatentImage #5); #24 re-samples its LatentUpscale.
    # The prompt is the five area texts in the order ConditioningCombine #19 joins them.
    "comfyui/night_evening_day_morning_cropped.png": {
        "prompt": "(best quality) (night:1.3) (darkness) sky (black) (stars:1.2) (galaxy:1.2) (space) "
        "(universe)\n(best quality) (evening:1.2) (sky:1.2) (clouds) (colorful) (HDR:1.2) (sunset:1.3)"
        "\n\n(best quality) (daytime",
        "negative_prompt": "(hands), text, error, cropped, (worst quality:1.2), (low quality:1.2), normal "
        "quality, (jpeg artifacts:1.3), signature, watermark, username, blurry, artist name, "
        "monochrome, sketch, censorship, censor",
        "seed": 335608130539327,
        "model": "Anything-V3.0",
        "sampler": "dpmpp_sde",
        "steps": 13,
        "cfg": 8.5,
    },
    # #3 KSampler (unCLIP, EmptyLatentImage #5); #41 re-samples its LatentUpscale.
    "comfyui/unclip_2pass_cropped.png": {
        "prompt": "\n(waifu, anime, exceptional, best aesthetic, new, newest, best quality, masterpiece, "
        "extremely detailed:1.2)\n",
        "negative_prompt": "lowres, (bad anatomy), (bad hands), text, missing finger, extra digits, "
        "fewer digits, blurry, (mutated hands and fingers), (poorly drawn face), (mutation), "
        "(deformed face), (ugly), ((bad proportions))",
        "seed": 1106257833005336,
        "model": "wd-1-5-beta2-aesthetic-unclip-h-fp32",
        "sampler": "uni_pc_bh2",
        "steps": 26,
        "cfg": 8.0,
    },
}


def load_expected_as_written() -> dict[str, dict[str, Any]]:
    return json.loads(EXPECTED_FILE.read_text())


def load_expected() -> dict[str, dict[str, Any]]:
    """EXPECTED.json with the issue-17 ComfyUI rule applied (see the module docstring)."""
    expected = load_expected_as_written()
    for name, values in BASE_PASS.items():
        expected[name] = {**expected[name], **values}
    return expected


def score_file(
    name: str, expected: dict[str, Any], got: dict[str, Any], *, bare_comfyui_models: bool = True
) -> tuple[int, list[Miss]]:
    """Number of fields scored and the misses, for one file; `got` uses the to_json() keys.
    `bare_comfyui_models=False` compares ComfyUI model names exactly, as EXPECTED.json has them."""
    misses = []
    for field in FIELDS:
        want = expected.get(field)
        if field == "tool" and want == "_negative":
            want = None
        if field == "timestamp":
            ok, have = _time_matches(want, got)
        else:
            have = got.get(field)
            ok = _value_matches(field, want, have)
            if not ok and bare_comfyui_models and field == "model" and expected.get("tool") == "comfyui":
                ok = (
                    isinstance(want, str)
                    and isinstance(have, str)
                    and (bare_model_name(want) == bare_model_name(have))
                )
        if not ok:
            misses.append(Miss(name, field, want, have))
    return len(FIELDS), misses


def _value_matches(field: str, want: Any, have: Any) -> bool:
    if want is None or have is None:
        return want is None and have is None
    if field in ("prompt", "negative_prompt"):
        return isinstance(have, str) and have[:200] == want
    if field == "cfg":
        try:
            return abs(float(have) - float(want)) < 1e-6
        except (TypeError, ValueError):
            return False
    if field in ("seed", "steps", "width", "height"):
        return isinstance(have, int) and have == int(want)
    return have == want


def _time_matches(want: str | None, got: dict[str, Any]) -> tuple[bool, Any]:
    source = got.get("timestamp_source") or ""
    have = got.get("generated_at") if not source.startswith(FALLBACK_SOURCES) else None
    if want is None or have is None:
        return want is None and have is None, have
    expected = parse_time_text(want)
    mine = datetime.fromisoformat(have)
    if isinstance(expected, datetime):
        return abs((mine - expected).total_seconds()) < 1.0, have
    if isinstance(expected, date):
        return mine.date() == expected and got.get("timestamp_precision") == "day", have
    return False, have


def format_misses(misses: list[Miss]) -> str:
    lines = [f"{'file':<60} {'field':<16} {'expected':<40} got"]
    for m in misses:
        lines.append(f"{m.file[:60]:<60} {m.field:<16} {str(m.expected)[:40]!s:<40} {str(m.got)[:60]}")
    return "\n".join(lines)
