"""Parse AUTOMATIC1111 "infotext" (also written by Forge, SD.Next, Civitai, Fooocus's a1111 scheme).

Layout:
    <prompt lines>
    Negative prompt: <negative lines>
    Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: x, ...

The split follows A1111's own `parse_generation_parameters`: the *last* line is the
parameter line only if it holds at least 3 `key: value` pairs; otherwise it belongs to
the prompt/negative text. Values may be double-quoted (with commas inside); we also
accept JSON arrays/objects as values (Civitai `Civitai resources: [...]`, `Hashes: {...}`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# A1111's pattern, plus bracketed JSON values so their commas do not split the pair
PARAM_PAIR = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|\[[^\]]*\]|\{[^}]*\}|[^,]*)(?:,|$)')
IMAGE_SIZE = re.compile(r"^(\d+)x(\d+)$")
NEGATIVE_PREFIX = "Negative prompt:"
MAX_INFOTEXT_CHARS = 1_000_000


@dataclass
class Infotext:
    prompt: str
    negative_prompt: str | None  # None when there is no "Negative prompt:" line at all
    params: dict[str, str] = field(default_factory=dict)  # every key of the parameter line, raw text


def parse_infotext(text: str) -> Infotext:
    text = text[:MAX_INFOTEXT_CHARS].strip()
    *lines, last_line = text.split("\n")
    if len(PARAM_PAIR.findall(last_line)) < 3:
        lines.append(last_line)
        last_line = ""
    prompt_lines: list[str] = []
    negative_lines: list[str] | None = None
    for line in lines:
        line = line.strip()
        if line.startswith(NEGATIVE_PREFIX):
            negative_lines = negative_lines or []
            line = line[len(NEGATIVE_PREFIX) :].strip()
        if negative_lines is not None:
            negative_lines.append(line)
        else:
            prompt_lines.append(line)
    params: dict[str, str] = {}
    for key, value in PARAM_PAIR.findall(last_line):
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = _unquote(value)
        params[key.strip()] = value
    return Infotext(
        prompt="\n".join(prompt_lines),
        negative_prompt="\n".join(negative_lines) if negative_lines is not None else None,
        params=params,
    )


def _unquote(value: str) -> str:
    try:
        return str(json.loads(value))
    except (ValueError, RecursionError):
        return value[1:-1]


def looks_like_infotext(text: str) -> bool:
    """True when the text has an A1111 parameter line (used to tell infotext from other text)."""
    last_line = text.strip().rsplit("\n", 1)[-1]
    keys = {k.strip() for k, _ in PARAM_PAIR.findall(last_line)}
    return len(keys) >= 3 and bool(keys & {"Steps", "Seed", "Sampler", "CFG scale", "Size", "Model"})


def sampler_name(params: dict[str, str]) -> str | None:
    """A1111 sampler as written; None when absent (SD.Next may omit it)."""
    return params.get("Sampler") or None


def image_size(params: dict[str, str]) -> tuple[int, int] | None:
    match = IMAGE_SIZE.match(params.get("Size", ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


def variant(params: dict[str, str]) -> str:
    """Which A1111-family program wrote the infotext."""
    version = params.get("Version", "")
    if params.get("App") == "SD.Next" or "SD.Next" in params.get("App", ""):
        return "sdnext"
    if version.startswith("f") and re.match(r"f\d", version):
        return "forge"
    if version.startswith("neo") or "reForge" in version:
        return "forge"
    return "a1111"
