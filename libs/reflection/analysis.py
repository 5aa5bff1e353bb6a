"""What a session measurably is, before any model writes a word: pure Python, no I/O.

`analyse(assets, other_sessions_prompts)` turns a session's assets (metadata, dominant colours and,
when the caller computed them from thumbnails, a perceptual hash and quality signals: see
`libs/reflection/pixels.py`) into `Fact`s, each naming the asset ids it is about:

- subjects and themes: prompt phrases weighted by TF-IDF against the workspace's other sessions
  (a phrase every session uses weighs little), the session's subject (its most common first phrase),
  and recurring words;
- style patterns: dominant palettes (colours named by hue), aspect ratios, tools, models, LoRAs,
  samplers, CFG and step ranges;
- evolution: each edit between consecutive generations (phrases added and removed, model switch,
  CFG / steps / sampler / size / LoRA changes, seed reuse, palette shifts), the phases between the
  edits that changed the prompt or settings, and where the person converged (the last phase, if it
  holds a fair share of the session);
- representatives (greedy facility location over a distance mixing prompt phrases, palette,
  perceptual hash and settings; near-duplicates collapsed first) and stand-outs (far from their
  nearest neighbours, weighted by simple quality signals when pixels were measured).

Image positions in facts are 1-based ("image 31"), in generation order.
"""

from __future__ import annotations

import colorsys
import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from libs.sessions.summary import phrases as prompt_phrases

MAX_EDITS = 40
MAX_REPRESENTATIVE_POOL = 400
NEAR_DUPLICATE = 0.04
_ARTICLE = re.compile(r"^(?:a|an|the)\s+")
_WORD = re.compile(r"[a-z][a-z'-]{2,}")
_STOPWORDS = frozenset(
    "the and with for from into onto over under very this that its his her their our your are was "
    "were has have had not but all any some more most much many few one two three style".split()
)


@dataclass(frozen=True)
class AssetInfo:
    """One image of the session as the analysis sees it."""

    asset_id: str
    prompt: str | None = None
    negative_prompt: str | None = None
    tool: str | None = None
    model: str | None = None
    loras: tuple[str, ...] = ()
    sampler: str | None = None
    cfg: float | None = None
    steps: int | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    generated_at: datetime | None = None
    dominant_colors: tuple[str, ...] = ()  # "#rrggbb", most common first
    # from the thumbnail, when the caller has it (libs/reflection/pixels.py)
    phash: int | None = None
    sharpness: float | None = None  # 0..1
    exposure: float | None = None  # mean luminance 0..1


@dataclass(frozen=True)
class Fact:
    kind: str
    text: str
    asset_ids: tuple[str, ...]
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "asset_ids": list(self.asset_ids), "data": self.data}


@dataclass(frozen=True)
class Analysis:
    asset_ids: tuple[str, ...]  # in generation order: image n is asset_ids[n - 1]
    facts: tuple[Fact, ...]

    def of_kind(self, *kinds: str) -> list[Fact]:
        return [f for f in self.facts if f.kind in kinds]

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.facts]


# -- helpers --------------------------------------------------------------------------------------
def normalise_phrases(prompt: str | None) -> list[str]:
    """A prompt's phrases, lower-cased, without prompt syntax or a leading article."""
    if not prompt:
        return []
    out: dict[str, None] = {}
    for p in prompt_phrases(prompt):
        p = _ARTICLE.sub("", p).strip()
        if p:
            out.setdefault(p, None)
    return list(out)


def fmt_number(value: float | int | None) -> str:
    """5.0 -> "5", 7.5 -> "7.5": how numbers are written in facts and sentences."""
    if value is None:
        return "?"
    if float(value).is_integer():
        return str(int(value))
    return f"{float(value):g}"


def color_name(hex_color: str) -> str | None:
    """A colour's everyday name by hue (or black / white / grey / brown for the unsaturated)."""
    m = re.fullmatch(r"#?([0-9a-fA-F]{6})", hex_color.strip())
    if not m:
        return None
    r, g, b = (int(m.group(1)[i : i + 2], 16) / 255 for i in (0, 2, 4))
    h, light, s = colorsys.rgb_to_hls(r, g, b)
    if light < 0.12:
        return "black"
    if light > 0.9:
        return "white"
    if s < 0.15:
        return "grey"
    deg = h * 360
    if deg < 15 or deg >= 340:
        return "red"
    if deg < 45:
        return "brown" if light < 0.3 else "orange"
    if deg < 70:
        return "yellow"
    if deg < 165:
        return "green"
    if deg < 195:
        return "cyan"
    if deg < 255:
        return "blue"
    if deg < 290:
        return "purple"
    return "pink"


def aspect_ratio(width: int | None, height: int | None) -> str | None:
    if not width or not height:
        return None
    known = {
        1.0: "1:1",
        4 / 3: "4:3",
        3 / 4: "3:4",
        3 / 2: "3:2",
        2 / 3: "2:3",
        16 / 9: "16:9",
        9 / 16: "9:16",
        21 / 9: "21:9",
        5 / 4: "5:4",
        4 / 5: "4:5",
        7 / 4: "7:4",
        4 / 7: "4:7",
    }
    ratio = width / height
    best = min(known, key=lambda k: abs(k - ratio))
    if abs(best - ratio) / best < 0.04:
        return known[best]
    g = math.gcd(width, height)
    return f"{width // g}:{height // g}"


def _primary_color(asset: AssetInfo) -> str | None:
    for c in asset.dominant_colors:
        name = color_name(c)
        if name:
            return name
    return None


def _ids(assets: Sequence[AssetInfo], indices: Iterable[int]) -> tuple[str, ...]:
    return tuple(assets[i].asset_id for i in indices)


def _range_text(indices: Sequence[int]) -> str:
    """1-based image positions as compact ranges: "images 1-30, 45"."""
    parts: list[str] = []
    start = prev = None
    for i in sorted(indices):
        n = i + 1
        if start is None:
            start = prev = n
        elif n == prev + 1:  # type: ignore[operator]
            prev = n
        else:
            parts.append(f"{start}-{prev}" if start != prev else f"{start}")
            start = prev = n
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else f"{start}")
    return ("image " if len(indices) == 1 else "images ") + ", ".join(parts)


def _order(assets: Sequence[AssetInfo]) -> list[AssetInfo]:
    indexed = list(enumerate(assets))
    indexed.sort(key=lambda p: (p[1].generated_at is None, p[1].generated_at or datetime.min, p[0]))
    return [a for _, a in indexed]


# -- subjects and themes --------------------------------------------------------------------------
def _themes(assets: Sequence[AssetInfo], others: Sequence[Sequence[str]]) -> list[Fact]:
    facts: list[Fact] = []
    per_asset = [normalise_phrases(a.prompt) for a in assets]
    n = len(assets)
    df: Counter[str] = Counter()
    for prompts in others:
        seen: set[str] = set()
        for p in prompts:
            seen.update(normalise_phrases(p))
        df.update(seen)
    docs = len(others) + 1
    where: dict[str, list[int]] = defaultdict(list)
    for i, ps in enumerate(per_asset):
        for p in ps:
            where[p].append(i)
    firsts = Counter(ps[0] for ps in per_asset if ps)
    if firsts:
        subject, count = sorted(firsts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        idx = where[subject]
        facts.append(
            Fact(
                "subject",
                f"subject: {subject} ({_range_text(idx)})",
                _ids(assets, idx),
                {"phrase": subject, "count": len(idx)},
            )
        )
    weighted = []
    for phrase, idx in where.items():
        tf = len(idx) / n
        idf = math.log((1 + docs) / (1 + df[phrase])) + 1
        weighted.append((round(tf * idf, 3), phrase, idx))
    weighted.sort(key=lambda t: (-t[0], t[1]))
    for weight, phrase, idx in weighted[:8]:
        facts.append(
            Fact(
                "theme",
                f"phrase '{phrase}' weight {weight} in {len(idx)} of {n} images",
                _ids(assets, idx),
                {"phrase": phrase, "weight": weight, "count": len(idx)},
            )
        )
    words: dict[str, set[int]] = defaultdict(set)
    for i, ps in enumerate(per_asset):
        for p in ps:
            for w in _WORD.findall(p):
                if w not in _STOPWORDS:
                    words[w].add(i)
    recurring = sorted(((len(v), w) for w, v in words.items() if len(v) >= max(2, n // 2)), reverse=True)
    for count, w in recurring[:8]:
        idx = sorted(words[w])
        facts.append(
            Fact(
                "concept",
                f"'{w}' recurs in {count} of {n} images",
                _ids(assets, idx),
                {"word": w, "count": count},
            )
        )
    return facts


# -- style patterns -------------------------------------------------------------------------------
def _counted(kind: str, label: str, assets: Sequence[AssetInfo], values: list[str | None]) -> list[Fact]:
    where: dict[str, list[int]] = defaultdict(list)
    for i, v in enumerate(values):
        if v:
            where[v].append(i)
    n = len(assets)
    return [
        Fact(
            kind,
            f"{label} {v}: {len(idx)} of {n} images ({_range_text(idx)})",
            _ids(assets, idx),
            {"value": v, "count": len(idx)},
        )
        for v, idx in sorted(where.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:6]
    ]


def _numeric_range(
    kind: str, label: str, assets: Sequence[AssetInfo], values: list[float | None]
) -> list[Fact]:
    idx = [i for i, v in enumerate(values) if v is not None]
    if not idx:
        return []
    vals = [float(values[i]) for i in idx]  # type: ignore[arg-type]
    lo, hi = min(vals), max(vals)
    counts = Counter(fmt_number(v) for v in vals)
    text = f"{label} {fmt_number(lo)}" if lo == hi else f"{label} {fmt_number(lo)} to {fmt_number(hi)}"
    text += " (" + ", ".join(f"{v}: {c} images" for v, c in counts.most_common(5)) + ")"
    return [
        Fact(kind, text, _ids(assets, idx), {"min": lo, "max": hi, "values": dict(counts.most_common(5))})
    ]


def _style(assets: Sequence[AssetInfo]) -> list[Fact]:
    facts: list[Fact] = []
    facts += _counted("palette", "dominant colour", assets, [_primary_color(a) for a in assets])
    facts += _counted(
        "aspect_ratio", "aspect ratio", assets, [aspect_ratio(a.width, a.height) for a in assets]
    )
    facts += _counted("tool", "tool", assets, [a.tool for a in assets])
    facts += _counted("model", "model", assets, [a.model for a in assets])
    lora_where: dict[str, list[int]] = defaultdict(list)
    for i, a in enumerate(assets):
        for lo in a.loras:
            lora_where[lo].append(i)
    for name, idx in sorted(lora_where.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:6]:
        facts.append(
            Fact(
                "lora",
                f"LoRA {name}: {len(idx)} of {len(assets)} images",
                _ids(assets, idx),
                {"value": name, "count": len(idx)},
            )
        )
    facts += _counted("sampler", "sampler", assets, [a.sampler for a in assets])
    facts += _numeric_range("cfg_range", "CFG", assets, [a.cfg for a in assets])
    facts += _numeric_range("steps_range", "steps", assets, [a.steps for a in assets])  # type: ignore[misc]
    return facts


# -- evolution ------------------------------------------------------------------------------------
def _setting_changes(a: AssetInfo, b: AssetInfo) -> dict[str, tuple[Any, Any]]:
    changes: dict[str, tuple[Any, Any]] = {}
    for name in ("model", "sampler", "cfg", "steps", "tool"):
        va, vb = getattr(a, name), getattr(b, name)
        if va is not None and vb is not None and va != vb:
            changes[name] = (va, vb)
    if (a.width, a.height) != (b.width, b.height) and a.width and b.width:
        changes["size"] = (f"{a.width}x{a.height}", f"{b.width}x{b.height}")
    if set(a.loras) != set(b.loras):
        changes["loras"] = (sorted(a.loras), sorted(b.loras))
    return changes


def _edit_text(
    position: int, added: list[str], removed: list[str], changes: dict[str, tuple[Any, Any]]
) -> str:
    parts: list[str] = []
    if added:
        parts.append("added " + ", ".join(f"'{p}'" for p in added))
    if removed:
        parts.append("removed " + ", ".join(f"'{p}'" for p in removed))
    for name, (va, vb) in changes.items():
        if name == "model":
            parts.append(f"model switch {va} -> {vb}")
        elif name in ("cfg", "steps"):
            parts.append(f"{'CFG' if name == 'cfg' else 'steps'} {fmt_number(va)} -> {fmt_number(vb)}")
        elif name == "loras":
            parts.append(f"LoRAs {', '.join(va) or 'none'} -> {', '.join(vb) or 'none'}")
        else:
            parts.append(f"{name} {va} -> {vb}")
    return f"image {position}: " + "; ".join(parts)


def _evolution(assets: Sequence[AssetInfo]) -> list[Fact]:
    facts: list[Fact] = []
    n = len(assets)
    per_asset = [normalise_phrases(a.prompt) for a in assets]
    boundaries = [0]
    edits: list[Fact] = []
    for i in range(1, n):
        a, b = assets[i - 1], assets[i]
        pa, pb = per_asset[i - 1], per_asset[i]
        added = [p for p in pb if p not in pa]
        removed = [p for p in pa if p not in pb]
        changes = _setting_changes(a, b)
        if a.seed is not None and a.seed == b.seed:
            facts.append(
                Fact(
                    "seed_reuse",
                    f"image {i + 1} reuses the seed of image {i} ({a.seed})",
                    (a.asset_id, b.asset_id),
                    {"seed": a.seed, "position": i + 1},
                )
            )
        if not (added or removed or changes):
            continue
        boundaries.append(i)
        data: dict[str, Any] = {"position": i + 1, "added": added, "removed": removed}
        for name, (va, vb) in changes.items():
            data[name] = {"from": va, "to": vb}
        edits.append(Fact("edit", _edit_text(i + 1, added, removed, changes), (a.asset_id, b.asset_id), data))
        if "model" in changes:
            va, vb = changes["model"]
            facts.append(
                Fact(
                    "model_switch",
                    f"model switch at image {i + 1}: {va} -> {vb}",
                    (a.asset_id, b.asset_id),
                    {"position": i + 1, "from": va, "to": vb},
                )
            )
        if "cfg" in changes:
            va, vb = changes["cfg"]
            facts.append(
                Fact(
                    "cfg_change",
                    f"CFG {fmt_number(va)} -> {fmt_number(vb)} at image {i + 1}",
                    (a.asset_id, b.asset_id),
                    {"position": i + 1, "from": va, "to": vb},
                )
            )
        for p in added:
            idx = [j for j in range(i, n) if p in per_asset[j]]
            facts.append(
                Fact(
                    "phrase_added",
                    f"'{p}' added at image {i + 1}, kept in {len(idx)} images",
                    _ids(assets, idx),
                    {"phrase": p, "position": i + 1, "count": len(idx)},
                )
            )
        for p in removed:
            facts.append(
                Fact(
                    "phrase_removed",
                    f"'{p}' removed at image {i + 1}",
                    (a.asset_id, b.asset_id),
                    {"phrase": p, "position": i + 1},
                )
            )
    # a phrase that comes and goes is many small edits: keep the edits that stayed longest in view
    facts += (
        edits[:MAX_EDITS] if len(edits) <= MAX_EDITS else edits[: MAX_EDITS // 2] + edits[-MAX_EDITS // 2 :]
    )
    # palette shifts: runs of the same primary colour, a shift where a run of 3 or more starts
    colors = [_primary_color(a) for a in assets]
    runs: list[tuple[str | None, int, int]] = []
    for i, c in enumerate(colors):
        if runs and runs[-1][0] == c:
            runs[-1] = (c, runs[-1][1], i)
        else:
            runs.append((c, i, i))
    solid = [r for r in runs if r[0] and r[2] - r[1] + 1 >= 3]
    for prev, cur in itertools.pairwise(solid):
        if prev[0] != cur[0]:
            idx = list(range(prev[1], cur[2] + 1))
            facts.append(
                Fact(
                    "palette_shift",
                    f"palette shift at image {cur[1] + 1}: {prev[0]} -> {cur[0]}",
                    _ids(assets, idx),
                    {"position": cur[1] + 1, "from": prev[0], "to": cur[0]},
                )
            )
    # phases: the stretches between edits
    boundaries.append(n)
    phases = [(boundaries[k], boundaries[k + 1]) for k in range(len(boundaries) - 1)]
    if len(phases) > 12:  # many small edits: merge into at most 12 phases by size
        step = n / 12
        phases = [(round(k * step), round((k + 1) * step)) for k in range(12)]
    for k, (s, e) in enumerate(phases):
        a = assets[s]
        settings = {"model": a.model, "cfg": a.cfg, "steps": a.steps, "sampler": a.sampler}
        text = f"phase {k + 1}: images {s + 1}-{e} ({e - s} images), model {a.model}, CFG {fmt_number(a.cfg)}"
        facts.append(
            Fact(
                "phase",
                text,
                _ids(assets, range(s, e)),
                {
                    "phase": k + 1,
                    "first": s + 1,
                    "last": e,
                    "count": e - s,
                    "phrases": per_asset[s][:6],
                    "settings": settings,
                },
            )
        )
    s, e = phases[-1]
    if len(phases) > 1 and e - s >= max(3, n // 5):
        facts.append(
            Fact(
                "convergence",
                f"converged from image {s + 1}: the last {e - s} images keep one prompt "
                f"and settings (model {assets[s].model}, CFG {fmt_number(assets[s].cfg)})",
                _ids(assets, range(s, e)),
                {"first": s + 1, "count": e - s},
            )
        )
    return facts


# -- representatives and stand-outs ---------------------------------------------------------------
def _palette_vector(asset: AssetInfo) -> dict[str, float]:
    vec: dict[str, float] = defaultdict(float)
    for rank, c in enumerate(asset.dominant_colors[:5]):
        name = color_name(c)
        if name:
            vec[name] += 1.0 / (rank + 1)
    total = sum(vec.values()) or 1.0
    return {k: v / total for k, v in vec.items()}


def _distance(
    a: AssetInfo, b: AssetInfo, pa: set[str], pb: set[str], va: dict[str, float], vb: dict[str, float]
) -> float:
    parts: list[tuple[float, float]] = []
    if pa or pb:
        parts.append((0.35, 1 - len(pa & pb) / len(pa | pb)))
    if va or vb:
        parts.append((0.3, 0.5 * sum(abs(va.get(k, 0) - vb.get(k, 0)) for k in set(va) | set(vb))))
    if a.phash is not None and b.phash is not None:
        parts.append((0.35, bin(a.phash ^ b.phash).count("1") / 64))
    settings = sum(getattr(a, f) != getattr(b, f) for f in ("model", "cfg", "sampler", "steps")) / 4
    parts.append((0.1, settings))
    total = sum(w for w, _ in parts)
    return sum(w * d for w, d in parts) / total


def _quality(asset: AssetInfo) -> float | None:
    if asset.sharpness is None and asset.exposure is None:
        return None
    q = 1.0
    if asset.sharpness is not None:
        q *= 0.3 + 0.7 * max(0.0, min(1.0, asset.sharpness))
    if asset.exposure is not None:
        q *= 1 - min(1.0, abs(asset.exposure - 0.5) * 1.6)
    return q


def _picks(assets: Sequence[AssetInfo], k: int | None = None) -> list[Fact]:
    n = len(assets)
    if n < 2:
        return []
    pool = (
        list(range(n))
        if n <= MAX_REPRESENTATIVE_POOL
        else [round(i * (n - 1) / (MAX_REPRESENTATIVE_POOL - 1)) for i in range(MAX_REPRESENTATIVE_POOL)]
    )
    ph = {i: set(normalise_phrases(assets[i].prompt)) for i in pool}
    pv = {i: _palette_vector(assets[i]) for i in pool}
    dist = {
        (i, j): _distance(assets[i], assets[j], ph[i], ph[j], pv[i], pv[j])
        for i in pool
        for j in pool
        if i < j
    }

    def d(i: int, j: int) -> float:
        return 0.0 if i == j else dist[(i, j) if i < j else (j, i)]

    facts: list[Fact] = []
    # near-duplicates: an image within NEAR_DUPLICATE of a kept one joins it
    kept: list[int] = []
    dupes: dict[int, list[int]] = defaultdict(list)
    for i in pool:
        # without pixels, only identical prompt, palette and settings make a duplicate
        limit = NEAR_DUPLICATE if assets[i].phash is not None else 1e-9
        twin = next((j for j in kept if d(i, j) < limit), None)
        if twin is None:
            kept.append(i)
        else:
            dupes[twin].append(i)
    if assets[0].phash is not None:  # only pixels can say two images look alike
        for head, rest in dupes.items():
            if rest:
                facts.append(
                    Fact(
                        "near_duplicates",
                        f"{len(rest) + 1} near-duplicates of image {head + 1}",
                        _ids(assets, [head, *rest]),
                        {"count": len(rest) + 1},
                    )
                )
    candidates = kept
    k = k or max(1, min(6, round(math.sqrt(n) / 1.5)))
    weight = {i: 1 + len(dupes[i]) for i in candidates}
    chosen: list[int] = []
    best = {i: 1.0 for i in candidates}  # distance to the nearest chosen (1 = none)
    for _ in range(min(k, len(candidates))):
        gain, pick = max(
            (
                (sum(weight[i] * max(0.0, best[i] - d(i, c)) for i in candidates), c)
                for c in candidates
                if c not in chosen
            ),
            key=lambda t: (t[0], -t[1]),
        )
        if gain <= 1e-9 and chosen:
            break
        chosen.append(pick)
        for i in candidates:
            best[i] = min(best[i], d(i, pick))
    alone: set[int] = set()
    for c in sorted(chosen):
        covers = [i for i in candidates if min(chosen, key=lambda s: d(i, s)) == c]
        covered = sorted({*covers, *(j for i in covers for j in dupes[i])})
        if len(covered) == 1 and n > 3:  # an image like no other is a stand-out, not a representative
            alone.add(c)
            continue
        facts.append(
            Fact(
                "representative",
                f"image {c + 1} represents {len(covered)} images",
                (assets[c].asset_id,),
                {"position": c + 1, "covers": len(covered)},
            )
        )
    # distinctiveness: the mean distance to its 5 nearest images (duplicates included)
    distinct: dict[int, float] = {}
    for i in pool:
        near = sorted(d(i, j) for j in pool if j != i)[:5]
        distinct[i] = sum(near) / len(near) if near else 0.0
    median = sorted(distinct.values())[len(distinct) // 2]
    scores = []
    for i in candidates:
        if i in chosen and i not in alone:
            continue
        q = _quality(assets[i])
        scores.append((round(distinct[i] * (0.5 + 0.5 * q) if q is not None else distinct[i], 3), i))
    scores.sort(key=lambda t: (-t[0], t[1]))
    for score, i in scores[:3]:
        if score > max(0.05, median * 1.5):
            facts.append(
                Fact(
                    "standout",
                    f"image {i + 1} stands out (distinctiveness {score})",
                    (assets[i].asset_id,),
                    {"position": i + 1, "score": score},
                )
            )
    return facts


def analyse(assets: Sequence[AssetInfo], other_sessions: Sequence[Sequence[str]] = ()) -> Analysis:
    """The facts of one session. `other_sessions`: the prompts of each of the workspace's other
    sessions (the TF-IDF background)."""
    ordered = _order(assets)
    if not ordered:
        return Analysis((), ())
    n = len(ordered)
    measured = sum(a.phash is not None for a in ordered)
    facts = [
        Fact(
            "count",
            f"{n} images",
            tuple(a.asset_id for a in ordered),
            {"count": n, "measured_pixels": measured},
        )
    ]
    facts += _themes(ordered, other_sessions)
    facts += _style(ordered)
    facts += _evolution(ordered)
    facts += _picks(ordered)
    return Analysis(tuple(a.asset_id for a in ordered), tuple(facts))
