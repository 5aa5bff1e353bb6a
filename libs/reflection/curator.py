"""The curator's side that needs no network: the compact prompt built from the facts, the validation
of a model's answer against them, and the built-in curator that writes the same structure from the
facts alone (the default: the product works offline).

A reflection is three lists of statements, `summary`, `style_patterns` and `evolution_notes`; a
statement is `{"text": ..., "asset_ids": [...]}`, the ids of the images it rests on.

In the prompt, images are named by position (`i1` ... `iN`, in generation order) to keep it short;
the model cites those refs (or full asset ids) and validation turns them into asset ids. A statement
is dropped when it cites an id or ref the session does not have, or writes a number that appears
nowhere in the facts (an invented count, CFG or position).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from libs.reflection.analysis import Analysis, fmt_number

SECTIONS = ("summary", "style_patterns", "evolution_notes")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")
_REF = re.compile(r"^i(\d+)$")

SYSTEM_PROMPT = (
    "You are a curator writing a short reflection on one session of AI image generation. Use ONLY the "
    "numbered facts given: do not invent counts, settings or positions. Answer with one JSON object: "
    '{"summary": [S], "style_patterns": [S], "evolution_notes": [S]} where each S is '
    '{"text": "<one sentence>", "assets": ["i<n>", ...]} citing the images (refs i1..iN from the facts) '
    "that the sentence is about. 1-2 summary sentences, 2-5 style patterns, 2-6 evolution notes."
)


def _refs(analysis: Analysis, ids: tuple[str, ...], limit: int = 12) -> str:
    pos = {a: i + 1 for i, a in enumerate(analysis.asset_ids)}
    nums = sorted(pos[a] for a in ids if a in pos)
    parts: list[str] = []
    start = prev = None
    for n in nums:
        if start is None:
            start = prev = n
        elif n == prev + 1:  # type: ignore[operator]
            prev = n
        else:
            parts.append(f"i{start}-i{prev}" if start != prev else f"i{start}")
            start = prev = n
    if start is not None:
        parts.append(f"i{start}-i{prev}" if start != prev else f"i{start}")
    if len(parts) > limit:
        parts = [*parts[:limit], f"(+{len(parts) - limit} more)"]
    return " ".join(parts)


def build_prompt(analysis: Analysis) -> list[dict[str, str]]:
    """The chat messages for the model: the instructions and one line per fact."""
    lines = [f"Session of {len(analysis.asset_ids)} images, refs i1..i{len(analysis.asset_ids)}. Facts:"]
    for k, fact in enumerate(analysis.facts, 1):
        lines.append(f"F{k} [{fact.kind}] {fact.text} :: {_refs(analysis, fact.asset_ids)}")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(lines)}]


def _numbers(text: str) -> set[str]:
    return {fmt_number(float(m)) for m in _NUMBER.findall(_UUID.sub(" ", text))}


def fact_numbers(analysis: Analysis) -> set[str]:
    """Every number the facts state (texts and data; asset ids are not numbers)."""
    found: set[str] = set()
    for fact in analysis.facts:
        found |= _numbers(fact.text)
        found |= _numbers(json.dumps(fact.data, default=str))
    return found


@dataclass(frozen=True)
class Validated:
    sections: dict[str, list[dict[str, Any]]]
    dropped: list[dict[str, Any]]  # each with "reason"


def validate(answer: dict[str, Any], analysis: Analysis) -> Validated:
    """Keep the statements whose every cited image exists and every number is in the facts."""
    known = set(analysis.asset_ids)
    by_ref = {f"i{i + 1}": a for i, a in enumerate(analysis.asset_ids)}
    numbers = fact_numbers(analysis)
    sections: dict[str, list[dict[str, Any]]] = {s: [] for s in SECTIONS}
    dropped: list[dict[str, Any]] = []
    for section in SECTIONS:
        raw = answer.get(section) or []
        if isinstance(raw, str | dict):
            raw = [raw]
        for item in raw if isinstance(raw, list) else []:
            if isinstance(item, str):
                item = {"text": item, "assets": []}
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("text"), str)
                or not item["text"].strip()
            ):
                dropped.append({"section": section, "statement": item, "reason": "not a statement"})
                continue
            cited = item.get("assets", item.get("asset_ids", [])) or []
            if not isinstance(cited, list):
                cited = [cited]
            ids: list[str] = []
            unknown = []
            for c in cited:
                c = str(c).strip()
                aid = by_ref.get(c.lower()) or (c.lower() if c.lower() in known else None)
                if aid is None:
                    unknown.append(c)
                elif aid not in ids:
                    ids.append(aid)
            if unknown:
                dropped.append(
                    {"section": section, "statement": item, "reason": f"unknown asset ids {unknown}"}
                )
                continue
            invented = sorted(_numbers(item["text"]) - numbers)
            if invented:
                dropped.append(
                    {"section": section, "statement": item, "reason": f"numbers not in the facts {invented}"}
                )
                continue
            sections[section].append({"text": item["text"].strip(), "asset_ids": ids})
    return Validated(sections, dropped)


# -- the built-in curator -------------------------------------------------------------------------
def _s(text: str, ids: tuple[str, ...] | list[str]) -> dict[str, Any]:
    return {"text": text, "asset_ids": list(ids)}


def _list(values: list[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def builtin_reflection(analysis: Analysis) -> dict[str, list[dict[str, Any]]]:
    """A reflection written from the facts alone, in the model's structure."""
    n = len(analysis.asset_ids)
    first = {f.kind: f for f in reversed(analysis.facts)}
    summary: list[dict[str, Any]] = []
    subject = first.get("subject")
    themes = [
        f for f in analysis.of_kind("theme") if not subject or f.data["phrase"] != subject.data["phrase"]
    ]
    if subject:
        extra = f", with {_list([t.data['phrase'] for t in themes[:3]])}" if themes else ""
        summary.append(
            _s(f"This session of {n} images explores '{subject.data['phrase']}'{extra}.", subject.asset_ids)
        )
    else:
        summary.append(_s(f"This session holds {n} images without prompts to read.", analysis.asset_ids))
    phases = analysis.of_kind("phase")
    conv = first.get("convergence")
    if len(phases) > 1:
        text = f"It moved through {len(phases)} phases"
        text += f" and settled from image {conv.data['first']} on." if conv else "."
        summary.append(_s(text, conv.asset_ids if conv else analysis.asset_ids))

    style: list[dict[str, Any]] = []
    palettes = analysis.of_kind("palette")
    if palettes:
        style.append(
            _s(
                "Palette: "
                + ", ".join(f"{p.data['value']} ({p.data['count']} images)" for p in palettes[:4])
                + ".",
                [a for p in palettes[:4] for a in p.asset_ids],
            )
        )
    models = analysis.of_kind("model")
    if models:
        style.append(
            _s(
                "Models: "
                + ", ".join(f"{m.data['value']} ({m.data['count']} images)" for m in models[:4])
                + ".",
                [a for m in models[:4] for a in m.asset_ids],
            )
        )
    loras = analysis.of_kind("lora")
    if loras:
        style.append(
            _s(
                "LoRAs: " + ", ".join(f"{x.data['value']} ({x.data['count']})" for x in loras[:4]) + ".",
                [a for x in loras[:4] for a in x.asset_ids],
            )
        )
    settings = []
    ids: list[str] = []
    for kind in ("sampler", "aspect_ratio", "tool"):
        facts = analysis.of_kind(kind)
        if facts:
            settings.append(f"{kind.replace('_', ' ')} {facts[0].data['value']}")
            ids += facts[0].asset_ids
    for kind, label in (("cfg_range", "CFG"), ("steps_range", "steps")):
        f = first.get(kind)
        if f:
            lo, hi = fmt_number(f.data["min"]), fmt_number(f.data["max"])
            settings.append(f"{label} {lo}" if lo == hi else f"{label} from {lo} to {hi}")
            ids += f.asset_ids
    if settings:
        style.append(_s("Mostly " + ", ".join(settings) + ".", list(dict.fromkeys(ids))))

    notes: list[dict[str, Any]] = []
    edits = analysis.of_kind("edit")
    for e in edits[:6]:
        parts = []
        if e.data["added"]:
            parts.append("added " + _list([f"'{p}'" for p in e.data["added"]]))
        if e.data["removed"]:
            parts.append("removed " + _list([f"'{p}'" for p in e.data["removed"]]))
        if "cfg" in e.data:
            lo, hi = fmt_number(e.data["cfg"]["from"]), fmt_number(e.data["cfg"]["to"])
            verb = "raised" if float(e.data["cfg"]["to"]) > float(e.data["cfg"]["from"]) else "lowered"
            # "CFG raised from 5 to 7" first: the arrow alone reads as \u2192 in ASCII-escaped JSON
            parts.append(f"{verb} CFG from {lo} to {hi} (CFG {lo} → {hi})")
        if "model" in e.data:
            parts.append(f"switched model from {e.data['model']['from']} to {e.data['model']['to']}")
        if "steps" in e.data:
            parts.append(
                f"changed steps from {fmt_number(e.data['steps']['from'])} to {fmt_number(e.data['steps']['to'])}"
            )
        if "sampler" in e.data:
            parts.append(f"changed sampler to {e.data['sampler']['to']}")
        if "size" in e.data:
            parts.append(f"changed size to {e.data['size']['to']}")
        if "loras" in e.data:
            parts.append("changed LoRAs to " + (", ".join(e.data["loras"]["to"]) or "none"))
        if parts:
            notes.append(_s(f"At image {e.data['position']}: {'; '.join(parts)}.", e.asset_ids))
    for shift in analysis.of_kind("palette_shift")[:3]:
        notes.append(
            _s(
                f"The palette shifted from {shift.data['from']} to {shift.data['to']} at image "
                f"{shift.data['position']}.",
                shift.asset_ids,
            )
        )
    reuse = analysis.of_kind("seed_reuse")
    if reuse:
        notes.append(
            _s(
                f"A seed was reused {len(reuse)} times to vary one composition.",
                list(dict.fromkeys(a for r in reuse for a in r.asset_ids)),
            )
        )
    if conv:
        notes.append(
            _s(
                f"The work converged from image {conv.data['first']}: the last {conv.data['count']} images "
                "keep one prompt and settings.",
                conv.asset_ids,
            )
        )
    reps = analysis.of_kind("representative")
    if reps:
        notes.append(
            _s(
                ("Images " if len(reps) > 1 else "Image ")
                + _list([str(r.data["position"]) for r in reps])
                + (" represent the session." if len(reps) > 1 else " represents the session."),
                [r.asset_ids[0] for r in reps],
            )
        )
    outs = analysis.of_kind("standout")
    if outs:
        notes.append(
            _s(
                ("Images " if len(outs) > 1 else "Image ")
                + _list([str(r.data["position"]) for r in outs])
                + (" stand out from the rest." if len(outs) > 1 else " stands out from the rest."),
                [r.asset_ids[0] for r in outs],
            )
        )
    return {"summary": summary, "style_patterns": style, "evolution_notes": notes}


def summary_text(sections: dict[str, list[dict[str, Any]]]) -> str:
    """The reflection's summary as one paragraph (for a session card)."""
    return " ".join(s["text"] for s in sections.get("summary", []))
