"""What a session is about, before any reflection exists: its top prompt phrases, tools and models.

Clustering computes it as the session changes (from its members' prompts, tools and models, grouped
by the database first), so a card never computes it per request. Pure code: tests call it directly.

Phrases: AI prompts are mostly comma-separated tags ("a lighthouse at dusk, oil painting, dramatic
light"), so a phrase is one comma- or newline-separated piece, lower-cased, with prompt syntax taken out
(weights like `(word:1.2)`, LoRA tags `<lora:name:0.8>`, brackets). A piece of more than six words
(natural-language prompts, Midjourney or Flux style) is shortened to its first six words. Each phrase is
counted once per image, and phrases that a single image used are not "top" unless nothing else is.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

TOP_PHRASES = 5
TOP_NAMES = 3
MAX_PHRASE_WORDS = 6

_LORA_TAG = re.compile(r"<[^<>]*>")
_WEIGHT = re.compile(r":\s*-?\d+(?:\.\d+)?\s*(?=[)\]])")  # "(word:1.2)" -> "(word)"
_SYNTAX = re.compile(r"[()\[\]{}]|\\")
_SPACES = re.compile(r"\s+")
# pieces that say nothing about the subject: quality boilerplate many prompts carry
_BOILERPLATE = frozenset({
    "masterpiece", "best quality", "high quality", "highly detailed", "8k", "4k", "uhd", "hdr",
    "absurdres", "highres", "ultra detailed", "detailed", "score_9", "score_8_up", "score_7_up",
})  # fmt: skip


@dataclass(frozen=True)
class MemberGroup:
    """Members of one session sharing prompt, tool and model, and how many there are."""

    prompt: str | None
    tool: str | None
    model: str | None
    count: int


def phrases(prompt: str) -> list[str]:
    """The distinct phrases of one prompt, in order."""
    text = _SYNTAX.sub(" ", _WEIGHT.sub("", _LORA_TAG.sub(" ", prompt)))
    seen: dict[str, None] = {}
    for piece in re.split(r"[,\n;|]+", text):
        words = _SPACES.sub(" ", piece).strip(" .!?:-\"'").lower().split(" ")
        phrase = " ".join(words[:MAX_PHRASE_WORDS]).strip()
        if phrase and phrase not in _BOILERPLATE:
            seen.setdefault(phrase, None)
    return list(seen)


def _top(counts: Counter[str], n: int) -> list[dict[str, Any]]:
    # ties broken by name, so the same members always give the same summary
    return [
        {"name": name, "count": count}
        for name, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    ]


def summarize(groups: Iterable[MemberGroup]) -> dict[str, Any]:
    """`{"phrases": [...], "tools": [{"name", "count"}], "models": [...]}` for one session."""
    phrase_counts: Counter[str] = Counter()
    tools: Counter[str] = Counter()
    models: Counter[str] = Counter()
    for group in groups:
        if group.prompt:
            for phrase in phrases(group.prompt):
                phrase_counts[phrase] += group.count
        if group.tool:
            tools[group.tool] += group.count
        if group.model:
            models[group.model] += group.count
    shared = Counter({p: c for p, c in phrase_counts.items() if c > 1}) or phrase_counts
    return {
        "phrases": [item["name"] for item in _top(shared, TOP_PHRASES)],
        "tools": _top(tools, TOP_NAMES),
        "models": _top(models, TOP_NAMES),
    }
