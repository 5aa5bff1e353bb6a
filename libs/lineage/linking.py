"""Lineage edges from evidence: explicit references, perceptual hashes, and inferred rules.

Three kinds of edge, in order of strength:
1. explicit: the child's file names a key the parent holds (`Reference`, see `evidence`). One
   parent per reference (the best holder: strong keys beat file names, then the nearest earlier).
2. perceptual: the same picture (64-bit pHash within `PHASH_SAME` bits) - a larger copy is an
   upscale of the smaller, a same-size or smaller copy is "derived" from the earlier one; a file with
   generation data is never a copy of one without (copies lose metadata, they do not gain it).
3. inferred, within `NEAR` of each other and from the same tool: same prompt and seed with changed
   parameters (sweep), same prompt with a new seed (reroll), same uncommon seed with an edited prompt
   (edit), and a similar prompt with a new or hand-typed common seed (edit, less sure). Prompts are
   compared by their content words, the subject (first phrase) weighing most. A child that says it
   was made from a picture (`generation_mode`) gets that relation from the same rules.
A child gets at most one perceptual or inferred parent, the best qualifying one (strongest rule, then
the nearest), and none when it has an explicit parent.

Every choice is a total order over candidates that depends only on the pair (parent, child), so
linking one arrival at a time (`link`) and all at once (`link_all`) give the same edges in any
arrival order: a better parent arriving late replaces the current inferred edge, and the edge's
rule and confidence carry everything needed to compare it with a newcomer.

Pure: no I/O. Clustering stores the assets under `index_keys`, fetches candidates by
`lookup_keys` (and assets whose references name one of the new asset's keys), and calls `link`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from libs.lineage.facts import Edge, Generation, Reference, Relation
from libs.lineage.phash import hamming

NEAR = timedelta(hours=6)
# Seeds people type by hand: sharing one says nothing about sharing an idea.
COMMON_SEEDS = frozenset(
    {-1, 0, 1, 2, 3, 7, 8, 42, 69, 123, 420, 666, 777, 1234, 12345, 123456, 1234567, 12345678, 123456789,
     1337, 31337, 2023, 2024, 2025, 2026, 4294967295}
)  # fmt: skip

# pHash distances (of 64 bits)
PHASH_SAME = 6  # re-encode, resize, light crop
PHASH_BANDS = 4  # of 16 bits each; see _phash_band_neighbours
PHASH_MIN_BITS = 6  # a near-blank picture's hash (almost all bits equal) matches everything
UPSCALE_MIN_AREA_RATIO = 1.2
ASPECT_TOLERANCE = 0.03

# Prompt similarity (weighted Jaccard of content words) needed for an edit: with the same uncommon seed only a
# shared subject; otherwise (new seed, or a hand-typed common seed that says nothing) most of the words,
# a little less when the two are minutes apart
EDIT_SAME_SEED = 0.3
EDIT_SIMILAR = 0.5
EDIT_SIMILAR_QUICK = 0.4
QUICK = timedelta(minutes=10)
SUBJECT_WEIGHT = 3.0
# the first words of a long prompt say what it is about; the cap bounds the word keys stored per asset
MAX_PROMPT_WORDS = 32

# rule → rank when choosing a child's one inferred parent (higher wins)
# the perceptual rules share a rank: among them the nearer picture wins (confidence falls 0.01 a bit)
RULE_RANK: dict[str, int] = {
    "phash-copy": 6,
    "phash-upscale": 6,
    "phash-derived": 6,
    "sweep": 5,
    "reroll": 4,
    "edit": 3,
    "edit-similar": 2,
}
# explicit references whose key is a file name: weaker than content keys (names repeat: ComfyUI_00001_.png)
STRONG_KEY_KINDS = frozenset({"sha256", "c2pa", "c2pa-manifest", "mj", "a1111-init", "a1111-params"})
FILE_KEY_SLACK = timedelta(minutes=2)  # a parent named by file may be saved just after the child started

# words that every prompt of a user may share: they do not make two prompts about the same thing
BOILERPLATE = frozenset(
    """a an the of and or with in on at to by for from into over under as is are it its this that
    masterpiece best quality high highly ultra detailed detail details intricate 4k 8k 16k uhd hdr hd
    realistic photorealistic hyperrealistic photo photograph photography professional sharp focus
    cinematic lighting light trending artstation octane render unreal engine award winning beautiful
    stunning amazing epic illustration digital art painting style score_9 score_8_up score_7_up
    absurdres highres very good aesthetic newest lowres worst bad""".split()
)


@dataclass
class LinkChange:
    """What one arrival changes: edges to add and edges to drop (a better parent replaced them)."""

    added: list[Edge] = field(default_factory=list)
    removed: list[Edge] = field(default_factory=list)


# --------------------------------------------------------------------------- prompt and keys


_TAGS = re.compile(r"<[^>]*>")  # <lora:x:0.8>, <hypernet:...>
_WEIGHTS = re.compile(r":\s*-?\d+(\.\d+)?")  # (word:1.2)
_WORD = re.compile(r"[^\W_]+(?:['_-][^\W_]+)*")
_PHRASE = re.compile(r"[,\n|;]+|\.\s")


def prompt_words(prompt: str | None) -> list[str]:
    """The words of a prompt, lower case, without weights, LoRA tags or punctuation."""
    return list(_words(prompt)) if prompt else []


@lru_cache(maxsize=8192)
def _words(prompt: str) -> tuple[str, ...]:
    # cached: a session's prompts repeat (rerolls, sweeps), and each is compared with many candidates
    return tuple(_WORD.findall(_WEIGHTS.sub(" ", _TAGS.sub(" ", prompt.lower()))))


@lru_cache(maxsize=8192)
def normalized_prompt(prompt: str | None) -> str:
    """Same text once weights, brackets, case and spacing are set aside: what "same prompt" means."""
    return " ".join(prompt_words(prompt))


def content_words(prompt: str | None) -> frozenset[str]:
    """The words that say what the picture is about (boilerplate and one-letter words left out)."""
    return frozenset(prompt_weights(prompt))


def prompt_weights(prompt: str | None) -> dict[str, float]:
    """Content words with a weight: the subject (the first phrase with content, where prompts name
    what the picture is of) counts `SUBJECT_WEIGHT` times, so a fox and an owl in the same light and
    style are two subjects, while a fox whose light changed is the same one."""
    return dict(_weights(prompt or ""))


@lru_cache(maxsize=8192)
def _weights(prompt: str) -> tuple[tuple[str, float], ...]:
    weights: dict[str, float] = {}
    subject_seen = False
    for phrase in _PHRASE.split(prompt):
        words = [w for w in prompt_words(phrase) if w not in BOILERPLATE and len(w) > 1]
        if not words:
            continue
        weight = 1.0 if subject_seen else SUBJECT_WEIGHT
        subject_seen = True
        for word in words:
            if word in weights or len(weights) < MAX_PROMPT_WORDS:
                weights[word] = max(weights.get(word, 0.0), weight)
    return tuple(weights.items())


def similarity(a: dict[str, float], b: dict[str, float]) -> float:
    """Weighted Jaccard: shared weight over all weight (0 when either is empty)."""
    if not a or not b:
        return 0.0
    shared = sum(min(w, b[k]) for k, w in a.items() if k in b)
    total = sum(max(a.get(k, 0.0), b.get(k, 0.0)) for k in a.keys() | b.keys())
    return shared / total


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _word_order(word: str) -> str:
    return hashlib.md5(word.encode(), usedforsecurity=False).hexdigest()


def _prefix_words(weights: dict[str, float], threshold: float) -> list[str]:
    """Prefix filter: words in a fixed (hashed) order, the shortest prefix whose remaining weight is
    below threshold × total. Two prompts with similarity >= threshold share their first common word
    (in that order) inside both prefixes, so the prefix words are complete lookup keys."""
    ordered = sorted(weights, key=_word_order)
    total = sum(weights.values())
    remaining = total
    prefix: list[str] = []
    for word in ordered:
        if remaining < threshold * total:
            break
        prefix.append(word)
        remaining -= weights[word]
    return prefix


def _time_bucket(at: datetime) -> int:
    return int(at.timestamp() // NEAR.total_seconds())


def _phash_bands(phash: str) -> list[str]:
    """The hash in 4 bands of 16 bits: what an asset is stored under."""
    value = int(phash, 16)
    return [f"ph{i}:{(value >> (16 * i)) & 0xFFFF:04x}" for i in range(PHASH_BANDS)]


def _phash_band_neighbours(phash: str) -> list[str]:
    """Each band as it is and with any one of its bits flipped: two hashes within `PHASH_SAME` (< 8)
    bits differ by at most one bit in some band (four bands of two or more would be 8), so these keys
    find every match while a band value is shared by only 1/65536 of a library."""
    value = int(phash, 16)
    keys = []
    for i in range(PHASH_BANDS):
        band = (value >> (16 * i)) & 0xFFFF
        keys.append(f"ph{i}:{band:04x}")
        keys += [f"ph{i}:{band ^ (1 << bit):04x}" for bit in range(16)]
    return keys


def _usable_phash(phash: str | None) -> bool:
    if not phash or not re.fullmatch(r"[0-9a-fA-F]{16}", phash):
        return False
    bits = int(phash, 16).bit_count()
    return PHASH_MIN_BITS <= bits <= 64 - PHASH_MIN_BITS


@lru_cache(maxsize=8192)
def _prompt_signature(prompt: str | None) -> tuple[str | None, tuple[str, ...]]:
    """The digest of the normalized prompt (None when empty) and its prefix words: what the similarity
    keys say of a prompt, computed once per prompt (a session's prompts repeat, and each asset asks for
    them in four time buckets)."""
    normalized = normalized_prompt(prompt)
    digest = _digest(normalized) if normalized else None
    return digest, tuple(_prefix_words(prompt_weights(prompt), EDIT_SIMILAR_QUICK))


def _similarity_keys(g: Generation, bucket: int) -> list[str]:
    keys: list[str] = []
    digest, prefix = _prompt_signature(g.prompt)
    tool = g.tool or "-"
    if digest is not None:
        keys.append(f"prompt:{tool}:{digest}@{bucket}")
    if g.facts.seed is not None:
        keys.append(f"seed:{tool}:{g.facts.seed}@{bucket}")
    for word in prefix:
        keys.append(f"word:{tool}:{word}@{bucket}")
    return keys


def index_keys(g: Generation) -> list[str]:
    """The keys an asset is stored under: its own keys, pHash bands, and (when it has a time)
    prompt, seed and prompt-word keys in its `NEAR`-wide time bucket."""
    keys = list(g.facts.keys)
    if _usable_phash(g.facts.phash):
        keys += _phash_bands(g.facts.phash or "")
    if g.generated_at is not None:
        keys += _similarity_keys(g, _time_bucket(g.generated_at))
    return list(dict.fromkeys(keys))


def lookup_keys(g: Generation) -> list[str]:
    """Keys whose holders may be relatives of g: the keys g's references name, its pHash bands (and
    their one-bit neighbours), and
    its similarity keys in its own and the neighbouring time buckets (anything within `NEAR` lies in
    one of the three). Assets whose references name one of g.facts.keys must be looked up too."""
    keys = [r.key for r in g.facts.references]
    if _usable_phash(g.facts.phash):
        keys += _phash_band_neighbours(g.facts.phash or "")
    if g.generated_at is not None:
        bucket = _time_bucket(g.generated_at)
        for b in (bucket - 1, bucket, bucket + 1):
            keys += _similarity_keys(g, b)
    return list(dict.fromkeys(keys))


# --------------------------------------------------------------------------- pairwise rules


def _earlier(a: Generation, b: Generation) -> bool:
    """a comes before b: by time, then (same instant or no times) by asset id, so ties are decided."""
    if a.generated_at is not None and b.generated_at is not None and a.generated_at != b.generated_at:
        return a.generated_at < b.generated_at
    return a.asset_id < b.asset_id


def _gap(a: Generation, b: Generation) -> timedelta | None:
    if a.generated_at is None or b.generated_at is None:
        return None
    return abs(b.generated_at - a.generated_at)


def _area(g: Generation) -> int | None:
    return g.width * g.height if g.width and g.height else None


def _same_aspect(a: Generation, b: Generation) -> bool:
    if not (a.width and a.height and b.width and b.height):
        return False
    return abs(a.width / a.height - b.width / b.height) <= ASPECT_TOLERANCE * (a.width / a.height)


def _parameters(g: Generation) -> dict[str, object]:
    f = g.facts
    return {
        "negative prompt": (f.negative_prompt or "").strip(),
        "sampler": f.sampler,
        "steps": f.steps,
        "cfg": f.cfg,
        "model": g.model,
        "LoRAs": tuple(sorted(f.loras)),
    }


def _size(g: Generation) -> str:
    return f"{g.width}x{g.height}" if g.width and g.height else "?"


def _decay(confidence: float, gap: timedelta | None) -> float:
    """Nearer in time is more likely the parent; the decay is small enough that rules keep their order."""
    if gap is None:
        return round(confidence, 6)
    fraction = min(1.0, gap / NEAR)
    return round(confidence - 0.1 * fraction, 6)


class _Candidate(NamedTuple):
    # a tuple: made for every pair of relatives compared (tens per import), most of them losing
    parent: Generation
    child: Generation
    relation: Relation
    rule: str
    evidence: str
    confidence: float

    def edge(self) -> Edge:
        return Edge(
            parent_id=self.parent.asset_id,
            child_id=self.child.asset_id,
            relation=self.relation,
            rule=self.rule,
            evidence=self.evidence[:300],
            confidence=self.confidence,
            explicit=False,
        )


def _perceptual(a: Generation, b: Generation) -> _Candidate | None:
    """Same picture: upscale (smaller → larger) or derived (re-encode/downscale/crop of the earlier)."""
    if not (_usable_phash(a.facts.phash) and _usable_phash(b.facts.phash)):
        return None
    distance = hamming(a.facts.phash or "", b.facts.phash or "")
    if distance > PHASH_SAME:
        return None
    if _metadata_conflicts(a, b):
        return None
    area_a, area_b = _area(a), _area(b)
    if area_a and area_b and _same_aspect(a, b):
        small, large = (a, b) if area_a < area_b else (b, a)
        large_area, small_area = max(area_a, area_b), min(area_a, area_b)
        if (
            large_area >= UPSCALE_MIN_AREA_RATIO * small_area
            and not _earlier(large, small)
            and not _gains_metadata(small, large)
        ):
            return _Candidate(
                small, large, "upscale", "phash-upscale",
                f"same picture ({distance} of 64 bits differ), {_size(small)} -> {_size(large)}",
                round(0.911 - 0.01 * distance, 6),
            )  # fmt: skip
    parent, child = (a, b) if _earlier(a, b) else (b, a)
    if _gains_metadata(parent, child):
        return None
    # a same-size copy (re-encode, re-save) says more than a resize: it wins over a smaller original
    rule = "phash-copy" if (a.width, a.height) == (b.width, b.height) else "phash-derived"
    return _Candidate(
        parent, child, "derived", rule,
        f"same picture ({distance} of 64 bits differ), {_size(parent)} -> {_size(child)}",
        round((0.912 if rule == "phash-copy" else 0.91) - 0.01 * distance, 6),
    )  # fmt: skip


def _gains_metadata(parent: Generation, child: Generation) -> bool:
    """Copies lose generation metadata, they never gain it (A1111 Extras copies it along, so both
    have it): a generated file is not a copy of a file without a prompt."""
    return bool(child.prompt) and not parent.prompt


def _metadata_conflicts(a: Generation, b: Generation) -> bool:
    """Both files say how they were made and they were made differently: similar pixels alone (a
    sweep with a small change looks the same) do not make one a copy of the other."""
    if not (a.prompt and b.prompt):
        return False
    if normalized_prompt(a.prompt) != normalized_prompt(b.prompt):
        return True
    if a.facts.seed is not None and b.facts.seed is not None and a.facts.seed != b.facts.seed:
        return True
    return _parameters(a) != _parameters(b)


def _by_metadata(parent: Generation, child: Generation) -> _Candidate | None:
    """The inferred rules, parent earlier than child, same tool, within NEAR."""
    if parent.tool != child.tool or not (parent.prompt and child.prompt):
        return None
    gap = _gap(parent, child)
    if gap is None or gap > NEAR:
        return None
    p_seed, c_seed = parent.facts.seed, child.facts.seed
    child_prompt = normalized_prompt(child.prompt)
    same_prompt = normalized_prompt(parent.prompt) == child_prompt
    same_seed = p_seed is not None and p_seed == c_seed
    if same_prompt and not child_prompt:
        return None
    if same_prompt and same_seed:
        changes = _parameter_changes(parent, child)
        if not changes and (parent.prompt or "").strip() != (child.prompt or "").strip():
            # the words are the same, their weights are not: "(fox:1.2)" -> "(fox:1.4)", "<lora:x:0.6>" -> 0.8
            changes = ["prompt weights changed"]
        if not changes:
            return None  # the same generation twice: only pixels can say which is a copy
        return _Candidate(
            parent, child, "sweep", "sweep",
            f"same prompt and seed {c_seed}, " + "; ".join(changes[:4]),
            _decay(0.95, gap),
        )  # fmt: skip
    if same_prompt:
        seeds = f"seed {p_seed} -> {c_seed}" if p_seed is not None and c_seed is not None else "new seed"
        return _Candidate(parent, child, "reroll", "reroll", f"same prompt, {seeds}", _decay(0.9, gap))
    weights_p, weights_c = prompt_weights(parent.prompt), prompt_weights(child.prompt)
    words_p, words_c = frozenset(weights_p), frozenset(weights_c)
    alike = similarity(weights_p, weights_c)
    added = sorted(words_c - words_p)[:5]
    removed = sorted(words_p - words_c)[:5]
    what = ", ".join([f"+{w}" for w in added] + [f"-{w}" for w in removed]) or "reworded"
    common = p_seed in COMMON_SEEDS
    if same_seed and not common and parent.model == child.model and alike >= EDIT_SAME_SEED:
        # a random 32-bit seed used again is the person keeping it on purpose
        return _Candidate(
            parent, child, "edit", "edit",
            f"same seed {c_seed}, prompt edited ({what})",
            _decay(0.75 + 0.15 * alike, gap),
        )  # fmt: skip
    if alike >= (EDIT_SIMILAR_QUICK if gap <= QUICK else EDIT_SIMILAR):
        if not same_seed:
            seed_note = "new seed"
        elif common:
            seed_note = f"common seed {c_seed}"
        else:
            seed_note = f"seed {c_seed}, model {parent.model} -> {child.model}"
        return _Candidate(
            parent, child, "edit", "edit-similar",
            f"prompt edited ({what}), {seed_note}",
            _decay(0.5 + 0.3 * alike, gap),
        )  # fmt: skip
    return None


def _parameter_changes(parent: Generation, child: Generation) -> list[str]:
    before, after = _parameters(parent), _parameters(child)
    changes = [f"{name} {before[name]} -> {after[name]}" for name in before if before[name] != after[name]]
    if _size(parent) != _size(child):
        changes.append(f"size {_size(parent)} -> {_size(child)}")
    return changes


def inferred_candidate(a: Generation, b: Generation) -> _Candidate | None:
    """The one inferred relation between two assets, in whichever direction it runs, or None."""
    if a.asset_id == b.asset_id:
        return None
    # most pairs have no hash on one side: no perceptual relation, without the call
    perceptual = _perceptual(a, b) if a.facts.phash and b.facts.phash else None
    if perceptual is not None and perceptual.rule == "phash-upscale":
        return perceptual
    parent, child = (a, b) if _earlier(a, b) else (b, a)
    by_metadata = _by_metadata(parent, child)
    if by_metadata is not None and child.facts.generation_mode is not None:
        # the child says it was made from a picture: the same rule finds the parent, the file names the
        # relation (an img2img of the same prompt is not a reroll)
        mode = child.facts.generation_mode
        by_metadata = by_metadata._replace(
            relation=mode, evidence=f"{mode} (said by the file), {by_metadata.evidence}"
        )
    return by_metadata or perceptual


def _rank(rule: str, confidence: float, parent_id: str) -> tuple[int, float, str]:
    return (RULE_RANK.get(rule, 0), confidence, parent_id)


def _edge_rank(edge: Edge) -> tuple[int, float, str]:
    return _rank(edge.rule, edge.confidence, edge.parent_id)


# --------------------------------------------------------------------------- explicit


def _key_kind(key: str) -> str:
    return key.split(":", 1)[0]


def _explicit_candidate(holder: Generation, child: Generation, ref: Reference) -> Edge | None:
    """`holder` as the parent `ref` names; None when it cannot be (itself, or a file named later)."""
    if holder.asset_id == child.asset_id or ref.key not in holder.facts.keys:
        return None
    strong = _key_kind(ref.key) in STRONG_KEY_KINDS
    gap = _gap(holder, child)
    if not strong and holder.generated_at and child.generated_at:
        if holder.generated_at > child.generated_at + FILE_KEY_SLACK:
            return None  # a file loaded as input existed before the generation that loaded it
    confidence = 0.99 if strong else 0.9
    if gap is not None:
        confidence -= 0.05 * min(1.0, gap / timedelta(days=30))
    if _usable_phash(holder.facts.phash) and _usable_phash(child.facts.phash):
        # two holders of one key (the same parameters generated twice): the closer picture is the parent
        confidence -= 0.001 * hamming(holder.facts.phash or "", child.facts.phash or "")
    return Edge(
        parent_id=holder.asset_id,
        child_id=child.asset_id,
        relation=ref.relation,
        rule=ref.rule,
        evidence=ref.evidence,
        confidence=round(confidence, 6),
        explicit=True,
    )


def _reference_groups(child: Generation) -> dict[str, list[Reference]]:
    """References that say the same thing (one field of the file) name one parent together."""
    groups: dict[str, list[Reference]] = {}
    for ref in child.facts.references:
        groups.setdefault(ref.evidence, []).append(ref)
    return groups


def _best_explicit(holder: Generation, child: Generation, refs: Sequence[Reference]) -> Edge | None:
    found = [e for e in (_explicit_candidate(holder, child, r) for r in refs) if e is not None]
    return max(found, key=lambda e: (e.confidence, e.relation), default=None)


def _explicit_rank(edge: Edge) -> tuple[float, str]:
    return (edge.confidence, edge.parent_id)


# --------------------------------------------------------------------------- link


def _wanted_into(
    child: Generation,
    others: Sequence[Generation],
    pair: Callable[[Generation, Generation], _Candidate | None] | None = None,
) -> list[Edge]:
    """All edges into `child` from `others`, chosen from scratch (`pair`: the inferred relation of
    (other, child), when the caller has it already)."""
    pair = pair or inferred_candidate
    explicit: list[Edge] = []
    for refs in _reference_groups(child).values():
        best: Edge | None = None
        for holder in others:
            edge = _best_explicit(holder, child, refs)
            if edge is not None and (best is None or _explicit_rank(edge) > _explicit_rank(best)):
                best = edge
        if best is not None:
            explicit.append(best)
    if explicit:
        return _dedupe(explicit)
    # ranked on the candidates (rule, confidence, parent: what `_edge_rank` reads of their edges); only
    # the winner's edge and evidence are built
    winner: _Candidate | None = None
    winner_rank: tuple[int, float, str] | None = None
    for other in others:
        candidate = pair(other, child)
        if candidate is None or candidate.child.asset_id != child.asset_id:
            continue
        rank = _rank(candidate.rule, candidate.confidence, candidate.parent.asset_id)
        if winner_rank is None or rank > winner_rank:
            winner, winner_rank = candidate, rank
    return [winner.edge()] if winner is not None else []


def _dedupe(edges: Iterable[Edge]) -> list[Edge]:
    """One edge per (parent, child): two references naming the same parent make one edge."""
    kept: dict[tuple[str, str], Edge] = {}
    for edge in edges:
        key = (edge.parent_id, edge.child_id)
        if key not in kept or (edge.confidence, edge.rule) > (kept[key].confidence, kept[key].rule):
            kept[key] = edge
    return list(kept.values())


def link(new: Generation, others: Sequence[Generation], existing: Sequence[Edge]) -> LinkChange:
    """Edges between `new` and `others` after `new` arrives.

    `existing` are the current edges touching `others` (so an inferred edge a better parent now beats
    can be removed, and an explicit parent arriving late replaces inferred ones). Re-linking an asset
    that is already linked is idempotent: edges it already has are neither added nor removed."""
    others = [o for o in others if o.asset_id != new.asset_id]
    current = list(dict.fromkeys(existing))
    change = LinkChange()

    # the inferred relation of each pair, once: it serves new as a child and as a parent
    pairs = {o.asset_id: inferred_candidate(o, new) for o in others}

    # new as the child
    wanted = set(_wanted_into(new, others, lambda other, _child: pairs[other.asset_id]))
    had = {e for e in current if e.child_id == new.asset_id}
    change.added += sorted(wanted - had, key=_sort_key)
    change.removed += sorted(had - wanted, key=_sort_key)

    # new as a parent of each other
    into: dict[str, list[Edge]] = {}
    for edge in current:
        into.setdefault(edge.child_id, []).append(edge)
    new_keys = frozenset(new.facts.keys)
    for other in others:
        found = pairs[other.asset_id]
        incoming = into.get(other.asset_id, [])
        references = other.facts.references
        if (
            (found is None or found.child.asset_id != other.asset_id)
            and not (references and any(r.key in new_keys for r in references))
            and (not incoming or _settled(incoming, new.asset_id))
        ):
            # new is neither an inferred nor an explicit parent candidate of other, and other's edges
            # are as `_edges_into_after` would leave them: nothing to add or drop (the common case, an
            # arrival in time order compared with its earlier relatives)
            continue
        edges = [e for e in incoming if e.parent_id != new.asset_id]
        old_from_new = {e for e in incoming if e.parent_id == new.asset_id}
        after = _edges_into_after(new, other, edges, found)
        new_from_new = {e for e in after if e.parent_id == new.asset_id}
        dropped = [e for e in edges if e not in after]
        change.added += sorted(new_from_new - old_from_new, key=_sort_key)
        change.removed += sorted((old_from_new - new_from_new) | set(dropped), key=_sort_key)
    return change


def _settled(incoming: Sequence[Edge], new_id: str) -> bool:
    """Edges into a child that `_edges_into_after` keeps as they are when the newcomer `new_id` brings no
    candidate: none from the newcomer, not explicit and inferred side by side (the explicit would drop
    the inferred), at most one explicit edge per parent (`_dedupe` would keep one)."""
    explicit_parents: set[str] = set()
    inferred = False
    for e in incoming:
        if e.parent_id == new_id:
            return False
        if e.explicit:
            if e.parent_id in explicit_parents:
                return False
            explicit_parents.add(e.parent_id)
        else:
            inferred = True
    return not (explicit_parents and inferred)


def _edges_into_after(
    new: Generation, child: Generation, edges: list[Edge], found: _Candidate | None
) -> list[Edge]:
    """The edges into `child` once `new` is one of the candidates, from its current ones `edges`
    (`found`: the inferred relation between the two)."""
    explicit = [e for e in edges if e.explicit]
    inferred = [e for e in edges if not e.explicit]
    for refs in _reference_groups(child).values():
        candidate = _best_explicit(new, child, refs)
        if candidate is None:
            continue
        evidence = refs[0].evidence
        holder = next((e for e in explicit if e.evidence == evidence), None)
        if holder is None:
            explicit.append(candidate)
        elif _explicit_rank(candidate) > _explicit_rank(holder):
            explicit[explicit.index(holder)] = candidate
    explicit = _dedupe(explicit)
    if explicit:
        return explicit
    if found is not None and found.child.asset_id == child.asset_id:
        edge = found.edge()
        best = max(inferred, key=_edge_rank, default=None)
        if best is None or _edge_rank(edge) > _edge_rank(best):
            return [edge]
    return inferred


def _sort_key(edge: Edge) -> tuple[str, str, str]:
    return (edge.child_id, edge.parent_id, edge.rule)


def link_all(gens: Sequence[Generation]) -> list[Edge]:
    """Every edge among `gens`, chosen all at once (the reference `link` is folded against).

    Candidates come from the same keys `link`'s caller uses, so the batch stays near-linear on a
    large library while giving exactly the edges the pairwise rules define."""
    by_key: dict[str, list[Generation]] = {}
    by_id = {g.asset_id: g for g in gens}
    for g in by_id.values():
        for key in index_keys(g):
            by_key.setdefault(key, []).append(g)
    edges: list[Edge] = []
    for child in by_id.values():
        candidates: dict[str, Generation] = {}
        for key in lookup_keys(child):
            for holder in by_key.get(key, []):
                candidates[holder.asset_id] = holder
        # assets naming the child can only be its children; their edges are found from their side
        candidates.pop(child.asset_id, None)
        edges += _wanted_into(child, list(candidates.values()))
    return sorted(edges, key=_sort_key)
