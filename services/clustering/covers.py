"""Which thumbnails stand for a session on its card: up to nine, chosen for variety.

Pure: a greedy farthest-point pick over (prompt, colour), so a session of many
near-identical variations shows them once and a session that wandered shows where
it went. Ties go to the earlier asset, so the choice is stable as assets arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

COVER_SIZE = 9


@dataclass(frozen=True)
class CoverCandidate:
    asset_id: str
    generated_at: datetime
    prompt: str | None
    color: str | None  # "#rrggbb"


def _rgb(color: str | None) -> tuple[int, int, int] | None:
    if not color or len(color) != 7:
        return None
    try:
        return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)
    except ValueError:
        return None


def _words(prompt: str | None) -> frozenset[str]:
    return frozenset((prompt or "").lower().replace(",", " ").split()[:60])


def distance(a: CoverCandidate, b: CoverCandidate) -> float:
    """0 for twins, up to 2 for different prompts in opposite colours."""
    wa, wb = _words(a.prompt), _words(b.prompt)
    prompt_d = 1 - len(wa & wb) / len(wa | wb) if (wa or wb) else 0.0
    ca, cb = _rgb(a.color), _rgb(b.color)
    color_d = (sum((x - y) ** 2 for x, y in zip(ca, cb, strict=True)) ** 0.5) / 441.7 if ca and cb else 0.0
    return prompt_d + color_d


def choose_cover(candidates: list[CoverCandidate], size: int = COVER_SIZE) -> list[str]:
    """Pick up to `size` asset ids: the first asset, then each time the one farthest from those picked."""
    pool = sorted(candidates, key=lambda c: (c.generated_at, c.asset_id))
    if len(pool) <= size:
        return [c.asset_id for c in pool]
    # each candidate's words and colour once, not once per comparison (same result as `distance`)
    features = [(_words(c.prompt), _rgb(c.color)) for c in pool]
    picked = {0}
    nearest = [_feature_distance(f, features[0]) for f in features]
    while len(picked) < size:
        best = max((i for i in range(len(pool)) if i not in picked), key=lambda i: (nearest[i], -i))
        picked.add(best)
        chosen = features[best]
        nearest = [min(nearest[i], _feature_distance(f, chosen)) for i, f in enumerate(features)]
    return [pool[i].asset_id for i in sorted(picked)]


def _feature_distance(
    a: tuple[frozenset[str], tuple[int, int, int] | None],
    b: tuple[frozenset[str], tuple[int, int, int] | None],
) -> float:
    (wa, ca), (wb, cb) = a, b
    if wa or wb:
        shared = len(wa & wb)
        prompt_d = 1 - shared / (len(wa) + len(wb) - shared)  # Jaccard, without building the union
    else:
        prompt_d = 0.0
    if ca and cb:
        # the arithmetic of `distance` written out for three channels (math.dist would round differently)
        dr, dg, db = ca[0] - cb[0], ca[1] - cb[1], ca[2] - cb[2]
        color_d = (dr * dr + dg * dg + db * db) ** 0.5 / 441.7
    else:
        color_d = 0.0
    return prompt_d + color_d
