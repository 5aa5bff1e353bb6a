"""Sessions: bursts of generation, cut out of one tenant's timeline of generation times.

Pure domain logic, no I/O. Two entry points share one boundary decision, so they agree:

* `segment(moments, rule)` cuts a whole batch at once (the CLI and the benchmark use it);
* `Timeline` keeps one tenant's sessions up to date as assets arrive in any order and
  reports every change as a small `Change` the clustering service writes to PostgreSQL.

Vocabulary. Timed moments (precision "second") are sorted by `(instant, asset_id)`; the
*gap* j is the time between timed moments j-1 and j. A *rule* decides from gap j and its
`reach` neighbours on each side whether gap j is a session boundary. Manual edits override
the rule: a cut before an asset is always a boundary, a join between two assets never is.

Day-precision moments (a date folder, SwarmUI's date) only say which day: they form one
session per calendar date among themselves and never join or bridge timed sessions.
Assets without a time are simply never given to this module.
"""

from __future__ import annotations

import math
import re
import statistics
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal, Protocol

from sortedcontainers import SortedDict, SortedList

Precision = Literal["second", "day"]
# sort key of a moment: the instant in UTC, then the asset id so equal times order deterministically
Key = tuple[datetime, str]


@dataclass(frozen=True, slots=True)
class Moment:
    """When one asset was generated, as precisely as its metadata says."""

    asset_id: str
    at: datetime  # timezone-aware; for day precision any time within that day (its local date counts)
    precision: Precision = "second"
    # What the image's metadata says about how it was made; None where it says nothing. Only a
    # content-aware rule reads these, and only for a gap inside its ambiguous band of lengths, so a
    # caller that knows only times gets the time rule's sessions (`ContentGap`).
    prompt: str | None = None
    model: str | None = None
    tool: str | None = None
    seed: int | None = None
    loras: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError(f"moment of {self.asset_id} has a naive datetime; attach its zone first")
        if self.precision not in ("second", "day"):
            raise ValueError(f"unknown precision {self.precision!r}")

    @property
    def key(self) -> Key:
        return (self.at.astimezone(UTC), self.asset_id)


# ---------------------------------------------------------------------------------------------
# Rules


class SessionRule(Protocol):
    """Decides whether a gap is a session boundary, looking at `reach` gaps on each side."""

    @property
    def reach(self) -> int: ...

    def is_boundary(self, gaps: Sequence[float], index: int) -> bool:
        """`gaps` (seconds) holds gap `index` and up to `reach` neighbours each side (fewer at the ends)."""
        ...

    def settled_by_length(self, gap: float) -> bool | None:
        """What `is_boundary` answers for a gap of this many seconds whatever its neighbours (below a
        floor, above a ceiling), or None when the neighbours matter."""
        ...

    def describe(self) -> str: ...


@dataclass(frozen=True, slots=True)
class FixedGap:
    """A boundary wherever two consecutive assets are at least `minutes` apart."""

    minutes: float

    @property
    def reach(self) -> int:
        return 0

    def is_boundary(self, gaps: Sequence[float], index: int) -> bool:
        return gaps[index] >= self.minutes * 60

    def settled_by_length(self, gap: float) -> bool | None:
        return gap >= self.minutes * 60

    def describe(self) -> str:
        return f"fixed gap {self.minutes:g} min"


def _bounded(gap: float, floor_minutes: float, ceiling_minutes: float) -> bool | None:
    """The answer of a bounded rule for a gap its bounds decide alone: never a cut under the floor,
    always one from the ceiling; None in between (the neighbours decide)."""
    if gap < floor_minutes * 60:
        return False
    if gap >= ceiling_minutes * 60:
        return True
    return None


@dataclass(frozen=True, slots=True)
class AdaptiveGap:
    """PhotoTOC's adaptive gap (Platt et al. 2003), bounded by two absolute gaps.

    Gap i is a boundary when log(g_i + offset) > k + the centre of log(g_j + offset) over the
    2·window+1 gaps centred on i (fewer at the ends of the timeline): a pause counts as a
    break when it is long *for the rhythm around it*. PhotoTOC's centre is the mean; the
    median is less swayed by the break itself and by same-second batches (many zero gaps).
    The bounds keep the rule sane where rhythm alone misleads: a pause shorter than
    `floor_minutes` never cuts (a fast burst makes a coffee break look long), one of
    `ceiling_minutes` or more always cuts (a slow tool makes a long break look ordinary).
    `offset_seconds` keeps equal times finite and damps differences between tiny gaps.
    """

    k: float
    window: int
    floor_minutes: float
    ceiling_minutes: float
    offset_seconds: float = 1.0
    centre: Literal["mean", "median"] = "mean"

    @property
    def reach(self) -> int:
        return self.window

    def is_boundary(self, gaps: Sequence[float], index: int) -> bool:
        gap = gaps[index]
        settled = self.settled_by_length(gap)
        if settled is not None:
            return settled
        lo, hi = max(0, index - self.window), min(len(gaps), index + self.window + 1)
        logs = [math.log(g + self.offset_seconds) for g in gaps[lo:hi]]
        centre = statistics.median(logs) if self.centre == "median" else sum(logs) / len(logs)
        return math.log(gap + self.offset_seconds) > self.k + centre

    def settled_by_length(self, gap: float) -> bool | None:
        return _bounded(gap, self.floor_minutes, self.ceiling_minutes)

    def describe(self) -> str:
        return (
            f"adaptive gap ({self.centre} log gap, k={self.k:g}, window={self.window}, "
            f"offset {self.offset_seconds:g} s, "
            f"never under {self.floor_minutes:g} min, always from {self.ceiling_minutes:g} min)"
        )


@dataclass(frozen=True, slots=True)
class TempoGap:
    """A per-tenant scale: a gap cuts when it is long both absolutely and for this user's tempo.

    The user's *tempo* is the median spacing between prompts among the 2·window+1 gaps
    centred on gap i (fewer at the ends), ignoring gaps under `batch_seconds` (the images of
    one batch share a second and say nothing about how fast the user works). Gap i is a
    boundary when it is at least `floor_minutes` and at least `factor` times that tempo, or
    whenever it reaches `ceiling_minutes`. A fast user (a turbo model, seconds per image)
    is cut at the floor; a slow one (minutes per image) only where the pause is long for
    them, so their ordinary long pauses stay inside the session. The statistic is local, so
    the work per insert stays bounded and the incremental result equals the batch exactly.
    """

    factor: float
    window: int
    floor_minutes: float
    ceiling_minutes: float
    batch_seconds: float = 1.0

    @property
    def reach(self) -> int:
        return self.window

    def is_boundary(self, gaps: Sequence[float], index: int) -> bool:
        gap = gaps[index]
        settled = self.settled_by_length(gap)
        if settled is not None:
            return settled
        lo, hi = max(0, index - self.window), min(len(gaps), index + self.window + 1)
        spacing = [g for g in gaps[lo:hi] if g >= self.batch_seconds] or [gap]
        return gap >= self.factor * statistics.median(spacing)

    def settled_by_length(self, gap: float) -> bool | None:
        return _bounded(gap, self.floor_minutes, self.ceiling_minutes)

    def describe(self) -> str:
        return (
            f"tempo gap ({self.factor:g}× the median prompt spacing over ±{self.window} gaps, "
            f"never under {self.floor_minutes:g} min, always from {self.ceiling_minutes:g} min)"
        )


_WORD = re.compile(r"[^\W_]+")
# words that say nothing about a subject or a style; everything else in a prompt counts
_STOPWORDS = frozenset("a an and at by for from in into of on or the to with without".split())


def prompt_words(prompt: str) -> frozenset[str]:
    """The words of a prompt that can carry its subject or style: lower case, weights and
    punctuation dropped ("(red fox:1.2), snow" -> {"red", "fox", "snow"}), no numbers."""
    return frozenset(
        w for w in _WORD.findall(prompt.lower()) if w not in _STOPWORDS and not w.isdigit() and len(w) > 1
    )


def seed_family(a: int, b: int) -> bool:
    """Seeds of one family: the same seed, or a batch's consecutive seeds (A1111/ComfyUI give the
    images of a batch seed, seed+1, ...); two independent random 32-bit seeds almost never are."""
    return abs(a - b) < 64


@dataclass(frozen=True, slots=True)
class ContentGap:
    """A time rule, with the images deciding a gap whose length alone cannot.

    Inside `band_minutes` (the gap lengths where plausible readings of the published figures
    disagree about breaks: bench/bench_session_family.py derives it) a 25-minute pause can be an
    interruption or a quick return, and what was made on both sides often tells which:

    * the prompt after the gap continuing the session's recent prompts (the share of its words
      already used in the last `recent_prompts` distinct prompts before the gap, not only the
      last one: topic threads last about 1.6 prompts, Don-Yehiya et al. EMNLP 2023, so a change
      of subject inside a session is common), the same seed family, the same model and LoRAs
      speak for one session;
    * a different tool, a different model and a new subject speak for two; a new subject alone
      does not cut.

    Each signal votes (`votes`); from +`join_at` the gap is no boundary, from -`cut_at` it is
    one. In between, `undecided_rule` decides when both sides carry prompts (content that could
    have shown continuity and did not is itself weak evidence of a break, so it may cut sooner
    than the time rule), and the time rule otherwise; whenever a side says nothing (no metadata)
    the votes are 0 and the time rule decides, so on times alone this rule's sessions are
    exactly the time rule's. The evidence is read from at
    most `context` moments each side, stopping at a gap past the band (a sure break), so the
    decision stays local and incremental insertion still equals the batch.
    """

    time_rule: SessionRule
    band_minutes: tuple[float, float]
    context: int = 48
    recent_prompts: int = 6
    continues_from: float = 0.6  # share of the new prompt's words already in the session's recent prompts
    new_subject_under: float = 0.2
    join_at: int = 2
    cut_at: int = 2
    undecided_rule: SessionRule | None = None

    @property
    def reach(self) -> int:
        return max(
            self.time_rule.reach, self.context, self.undecided_rule.reach if self.undecided_rule else 0
        )

    def settled_by_length(self, gap: float) -> bool | None:
        lo, hi = self.band_minutes
        if lo * 60 <= gap < hi * 60:
            return None
        return self.time_rule.settled_by_length(gap)

    def is_boundary(self, gaps: Sequence[float], index: int) -> bool:
        """On times alone: the time rule's answer."""
        return self.time_rule.is_boundary(gaps, index)

    def is_boundary_between(self, gaps: Sequence[float], index: int, moments: Sequence[Moment]) -> bool:
        """`moments[i]` and `moments[i + 1]` lie either side of `gaps[i]`."""
        gap = gaps[index]
        lo, hi = self.band_minutes
        if lo * 60 <= gap < hi * 60:
            vote, informed = self.votes(gaps, index, moments)
            if vote >= self.join_at:
                return False
            if vote <= -self.cut_at:
                return True
            if informed and self.undecided_rule is not None:
                return self.undecided_rule.is_boundary(gaps, index)
        return self.time_rule.is_boundary(gaps, index)

    def votes(self, gaps: Sequence[float], index: int, moments: Sequence[Moment]) -> tuple[int, bool]:
        """The content's verdict on gap `index` (positive for one session, negative for two, 0 unknown)
        and whether both sides carry a prompt."""
        sure_break = self.band_minutes[1] * 60
        before: list[Moment] = []  # nearest first, back to a sure break
        for i in range(index, index - min(self.context, index + 1), -1):
            before.append(moments[i])
            if i == 0 or gaps[i - 1] >= sure_break:
                break
        after: list[Moment] = []  # the work the gap leads to, up to its next pause in the band
        for i in range(index + 1, index + 1 + min(self.context, len(gaps) - index)):
            after.append(moments[i])
            if i >= len(gaps) or gaps[i] >= self.band_minutes[0] * 60:
                break

        vote = 0
        recent: list[frozenset[str]] = []
        for m in before:
            if m.prompt is not None:
                words = prompt_words(m.prompt)
                if words and words not in recent:
                    recent.append(words)
                    if len(recent) == self.recent_prompts:
                        break
        new_prompt = next((prompt_words(m.prompt) for m in after if m.prompt), frozenset())
        new_subject = False
        if recent and new_prompt:
            seen = frozenset().union(*recent)
            continuity = len(new_prompt & seen) / len(new_prompt)
            if continuity >= self.continues_from:
                vote += 2
            new_subject = continuity < self.new_subject_under

        last, first = before[0], after[0]
        old_seeds = [m.seed for m in before if m.seed is not None]
        new_seeds = [m.seed for m in after if m.seed is not None]
        if any(seed_family(a, b) for a in old_seeds[:8] for b in new_seeds[:8]):
            vote += 2
        old_model = next((m for m in before if m.model is not None), None)
        new_model = next((m for m in after if m.model is not None), None)
        different_model = False
        if old_model is not None and new_model is not None:
            if old_model.model != new_model.model:
                different_model = True
                vote -= 1
            elif old_model.loras and old_model.loras == new_model.loras:
                vote += 1  # the same checkpoint with the same LoRAs: a setup, not a habit
        different_tool = last.tool is not None and first.tool is not None and last.tool != first.tool
        if different_tool:
            vote -= 2
        if new_subject and (different_model or different_tool):
            vote -= 1  # a new subject counts only alongside another change
        return vote, bool(recent and new_prompt)

    def describe(self) -> str:
        lo, hi = self.band_minutes
        undecided = (
            f"; undecided with prompts both sides: {self.undecided_rule.describe()}"
            if self.undecided_rule
            else ""
        )
        return (
            f"{self.time_rule.describe()}; between {lo:g} and {hi:g} min the images decide (prompt "
            f"continuity over the last {self.recent_prompts} prompts from {self.continues_from:g}, new "
            f"subject under {self.new_subject_under:g}, seed family, model and LoRAs, tool; join from "
            f"+{self.join_at}, cut from -{self.cut_at}, within {self.context} images each side{undecided})"
        )


# Chosen by minimax regret across a family of eight generator profiles (bench/session_profiles.py:
# readings of the published figures that differ where the literature is silent), on their tuning
# seed 0 (`python bench/bench_session_family.py --tune`): of every fixed gap, bounded PhotoTOC and
# this rule's grid, the one whose worst shortfall against each profile's best fixed gap (chosen in
# hindsight, for F1 and ARI separately) is smallest; scored on held-out seeds in
# bench/session-quality.md. Re-tune there, not here. A change of these constants re-checks every
# tenant's stored sessions on its next change (clustering's `_recheck_rule`).
#
# The time rule is the minimax choice on times alone: what a caller without metadata gets. The
# content rule around it was chosen the same way over the generator's content (bench/session_timelines.py
# `ContentHabits`): its band is where the profiles' best fixed gaps lie (16 to 75 min on the tuning
# seed), and when the prompts on both sides say nothing either way it cuts from 20 min (the
# `undecided_rule`): no continuity where continuity could have shown is weak evidence of a break.
DEFAULT_TIME_RULE: SessionRule = TempoGap(factor=15, window=40, floor_minutes=36, ceiling_minutes=60)
DEFAULT_RULE: SessionRule = ContentGap(
    DEFAULT_TIME_RULE,
    band_minutes=(16, 75),
    context=48,
    recent_prompts=6,
    continues_from=0.6,
    new_subject_under=0.2,
    join_at=2,
    cut_at=1,
    undecided_rule=TempoGap(factor=15, window=40, floor_minutes=20, ceiling_minutes=60),
)


# ---------------------------------------------------------------------------------------------
# Manual edits


@dataclass(frozen=True, slots=True)
class ManualEdits:
    """A user's hand edits, stored per tenant and replayed by `Timeline.restore`.

    * `cuts_before`: asset ids before which there is always a boundary, whatever the rule and
      whatever arrives later (a late asset just before the cut joins the earlier session).
    * `joins`: (a, b) asset-id pairs between which there is never a boundary: a manual merge
      of two neighbouring sessions joins the last asset of one to the first of the other, so
      assets arriving later between them stay in the joined session too.
    """

    cuts_before: frozenset[str] = frozenset()
    joins: frozenset[tuple[str, str]] = frozenset()


class _EditIndex:
    """Manual edits as sort keys, answering 'is this gap forced?' in O(log e)."""

    def __init__(self) -> None:
        self.cuts: set[Key] = set()
        self.joins: SortedList = SortedList()  # of (lo_key, hi_key), disjoint

    def __bool__(self) -> bool:
        """Whether there is any edit at all."""
        return bool(self.cuts or self.joins)

    def forces_cut(self, right: Key) -> bool:
        return right in self.cuts

    def join_around(self, left: Key, right: Key) -> tuple[Key, Key] | None:
        if not self.joins:  # the common case, asked for every gap the rule decides
            return None
        i = self.joins.bisect_right((left, (datetime.max.replace(tzinfo=UTC), "\uffff")))
        if i == 0:
            return None
        lo, hi = self.joins[i - 1]
        return (lo, hi) if lo <= left and right <= hi else None


def _boundaries(
    keys: Sequence[Key],
    first: int,
    last: int,
    rule: SessionRule,
    edits: _EditIndex,
    counter: list[int],
    moment_of: Callable[[Key], Moment],
) -> list[int]:
    """The gaps among first..last that are session boundaries (gap j lies between keys[j-1] and keys[j]).

    `keys` is the timeline or a slice of it; it must hold `rule.reach` gaps each side of the
    gaps asked about where the timeline has them, so the batch and the incremental path hand
    the rule exactly the same neighbours. One loop over the gaps rather than a call per gap:
    an insert asks about up to 2·reach+2 gaps, and this loop was most of clustering's CPU time
    per event in bench/bench_pipeline.py.
    """
    found: list[int] = []
    last_gap = len(keys) - 1
    content = rule if isinstance(rule, ContentGap) else None
    edited = bool(edits)  # most tenants never edit by hand: then no gap needs the two look-ups
    for j in range(first, last + 1):
        left, right = keys[j - 1], keys[j]
        if edited and edits.forces_cut(right):
            found.append(j)
            continue
        if edited and edits.join_around(left, right):
            continue
        counter[0] += 1
        # Most gaps are settled by their own length (inside a burst, under the rule's floor): those
        # never pay for the 2·reach neighbours.
        settled = rule.settled_by_length((right[0] - left[0]).total_seconds())
        if settled is None:
            lo, hi = max(1, j - rule.reach), min(last_gap, j + rule.reach)
            if content is not None:  # keys lo-1..hi: gap j-lo lies between moments j-lo and j-lo+1
                settled = content.is_boundary_between(
                    _Gaps(keys, lo, hi + 1), j - lo, _Moments(keys, lo - 1, hi + 1, moment_of)
                )
            else:
                settled = rule.is_boundary(_Gaps(keys, lo, hi + 1), j - lo)
        if settled:
            found.append(j)
    return found


class _Gaps(Sequence[float]):
    """Gaps lo..hi-1 of `keys` in seconds, computed when read: a rule that answers from the gap
    itself (under its floor, over its ceiling: most gaps) never pays for the 2·reach neighbours.
    Found by bench/bench_pipeline.py, where building every neighbour list eagerly was most of
    clustering's time per event."""

    __slots__ = ("_hi", "_keys", "_lo")

    def __init__(self, keys: Sequence[Key], lo: int, hi: int) -> None:
        self._keys, self._lo, self._hi = keys, lo, hi

    def __len__(self) -> int:
        return self._hi - self._lo

    def __getitem__(self, i):  # type: ignore[no-untyped-def, override]
        keys, lo = self._keys, self._lo
        if isinstance(i, slice):
            return [(keys[j][0] - keys[j - 1][0]).total_seconds() for j in range(lo, self._hi)[i]]
        n = self._hi - lo
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        j = lo + i
        return (keys[j][0] - keys[j - 1][0]).total_seconds()


class _Moments(Sequence[Moment]):
    """The moments of keys lo..hi-1, looked up when read (only a gap inside a content rule's band
    reads them)."""

    __slots__ = ("_hi", "_keys", "_lo", "_moment_of")

    def __init__(self, keys: Sequence[Key], lo: int, hi: int, moment_of: Callable[[Key], Moment]) -> None:
        self._keys, self._lo, self._hi, self._moment_of = keys, lo, hi, moment_of

    def __len__(self) -> int:
        return self._hi - self._lo

    def __getitem__(self, i):  # type: ignore[no-untyped-def, override]
        if isinstance(i, slice):
            return [self._moment_of(self._keys[j]) for j in range(self._lo, self._hi)[i]]
        n = self._hi - self._lo
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return self._moment_of(self._keys[self._lo + i])


# ---------------------------------------------------------------------------------------------
# Batch


def segment(
    moments: Iterable[Moment], rule: SessionRule = DEFAULT_RULE, edits: ManualEdits | None = None
) -> list[list[Moment]]:
    """Cut moments into sessions: lists of moments in time order, sessions in start order.

    O(n log n + n·reach). Day-precision moments form one session per local date.
    """
    by_key: dict[Key, Moment] = {}
    days: dict[date, list[Moment]] = {}
    seen: set[str] = set()
    for m in moments:
        if m.asset_id in seen:
            raise ValueError(f"asset {m.asset_id} given twice")
        seen.add(m.asset_id)
        if m.precision == "day":
            days.setdefault(m.at.date(), []).append(m)
        else:
            by_key[m.key] = m
    keys = sorted(by_key)
    index = _EditIndex()
    if edits:
        known = {m.key[1]: m.key for m in by_key.values()}
        index.cuts = {known[a] for a in edits.cuts_before if a in known}
        for a, b in edits.joins:
            if a in known and b in known:
                index.joins.add((known[a], known[b]))
    starts = {0, *_boundaries(keys, 1, len(keys) - 1, rule, index, [0], by_key.__getitem__)}
    sessions: list[list[Moment]] = []
    for j, key in enumerate(keys):
        if j in starts:
            sessions.append([])
        sessions[-1].append(by_key[key])
    for members in days.values():
        sessions.append(sorted(members, key=lambda m: m.key))
    sessions.sort(key=lambda s: s[0].key)
    return sessions


# ---------------------------------------------------------------------------------------------
# Changes: what the service persists, in the order given


@dataclass(frozen=True, slots=True)
class SessionUpserted:
    """Create the session row, or update its bounds and size."""

    session_id: str
    start: datetime
    end: datetime
    count: int
    precision: Precision


@dataclass(frozen=True, slots=True)
class AssetsAssigned:
    """These assets (new ones, or a piece cut off another session) now belong to `session_id`."""

    session_id: str
    asset_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SessionMerged:
    """Every asset still in `from_id` moves to `into_id`; `from_id` becomes a redirect to it."""

    from_id: str
    into_id: str


@dataclass(frozen=True, slots=True)
class ManualEditsChanged:
    """The tenant's manual edits are now `edits` (store them whole: they are small)."""

    edits: ManualEdits


Change = SessionUpserted | AssetsAssigned | SessionMerged | ManualEditsChanged


@dataclass(frozen=True, slots=True)
class Session:
    """A read-only view of one session."""

    session_id: str
    start: datetime
    end: datetime
    count: int
    precision: Precision


@dataclass(slots=True)
class _Run:
    """A session as a run of consecutive keys (timed), or one date's keys (day precision)."""

    session_id: str
    start: Key
    end: Key
    count: int
    precision: Precision = "second"
    members: SortedList = field(
        default_factory=SortedList
    )  # day sessions only; timed ones slice the timeline

    def view(self) -> Session:
        return Session(self.session_id, self.start[0], self.end[0], self.count, self.precision)


def _new_id() -> str:
    return uuid.uuid4().hex


# ---------------------------------------------------------------------------------------------
# Incremental


class Timeline:
    """One tenant's sessions, kept equal to `segment()` of its moments as they arrive.

    Cost per `insert`: O(log n) to place the asset, plus O(reach²) rule evaluations around
    it (a fixed gap reads one gap; the adaptive rule re-decides the ~2·window gaps whose
    neighbourhood changed), plus O(k) for the k assets that change session when a boundary
    moves (none for a fixed gap, which can only join or merge). Nothing is ever re-scanned;
    `gap_evaluations` counts rule calls so tests can check that.

    Ids are stable: when sessions merge, the one contributing most assets keeps its id and
    the others redirect to it (`resolve`); when one splits, the larger part keeps the id.
    """

    def __init__(self, rule: SessionRule = DEFAULT_RULE, new_id: Callable[[], str] = _new_id) -> None:
        self.rule = rule
        self._new_id = new_id
        self._keys: SortedList = SortedList()  # timed moments' keys
        self._moments: dict[str, Moment] = {}
        self._runs: SortedDict = SortedDict()  # start key -> _Run, timed sessions
        self._days: dict[date, _Run] = {}
        self._by_id: dict[str, _Run] = {}
        self._merged_into: dict[str, str] = {}
        self._edits = _EditIndex()
        self._counter = [0]

    # -- reading -----------------------------------------------------------------------------

    @property
    def gap_evaluations(self) -> int:
        """How many times the rule has been asked about a gap (for complexity tests)."""
        return self._counter[0]

    def __len__(self) -> int:
        return len(self._moments)

    def sessions(self) -> list[Session]:
        runs = [*self._runs.values(), *self._days.values()]
        return [r.view() for r in sorted(runs, key=lambda r: r.start)]

    def members(self, session_id: str) -> list[str]:
        """Asset ids of a session in time order: O(log n + size)."""
        run = self._by_id[self.resolve(session_id)]
        if run.precision == "day":
            return [k[1] for k in run.members]
        lo = self._keys.bisect_left(run.start)
        return [k[1] for k in self._keys[lo : lo + run.count]]

    def session_of(self, asset_id: str) -> str:
        moment = self._moments[asset_id]
        if moment.precision == "day":
            return self._days[moment.at.date()].session_id
        return self._run_containing(moment.key).session_id  # type: ignore[union-attr]

    def resolve(self, session_id: str) -> str:
        """The live session a (possibly merged-away) id now stands for."""
        while session_id in self._merged_into:
            session_id = self._merged_into[session_id]
        return session_id

    def merged_into(self) -> dict[str, str]:
        return dict(self._merged_into)

    def manual_edits(self) -> ManualEdits:
        return ManualEdits(
            cuts_before=frozenset(k[1] for k in self._edits.cuts),
            joins=frozenset((lo[1], hi[1]) for lo, hi in self._edits.joins),
        )

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def restore(
        cls,
        moments_with_session_ids: Iterable[tuple[Moment, str]],
        manual_edits: ManualEdits,
        merged_into: Mapping[str, str],
        rule: SessionRule = DEFAULT_RULE,
        new_id: Callable[[], str] = _new_id,
    ) -> Timeline:
        """Rebuild from stored state in O(n log n). The stored partition is trusted; call
        `set_rule(timeline.rule)` afterwards to re-check it if the rule's code changed."""
        timeline = cls(rule, new_id)
        timeline._merged_into = dict(merged_into)
        ids: dict[Key, str] = {}
        for moment, session_id in moments_with_session_ids:
            if moment.asset_id in timeline._moments:
                raise ValueError(f"asset {moment.asset_id} given twice")
            timeline._moments[moment.asset_id] = moment
            if moment.precision == "day":
                timeline._add_day_member(moment, session_id)
            else:
                timeline._keys.add(moment.key)
                ids[moment.key] = session_id
        for key in timeline._keys:
            session_id = ids[key]
            run = timeline._by_id.get(session_id)
            if run is None:
                run = _Run(session_id, key, key, 0)
                timeline._runs[key] = run
                timeline._by_id[session_id] = run
            elif run.precision == "day" or run.end != timeline._keys[timeline._keys.index(key) - 1]:
                raise ValueError(f"stored session {session_id} is not one run of consecutive moments")
            run.end = key
            run.count += 1
        timeline._load_edits(manual_edits)
        return timeline

    def _load_edits(self, edits: ManualEdits) -> None:
        keys = {m.asset_id: m.key for m in self._moments.values() if m.precision == "second"}
        self._edits.cuts = {keys[a] for a in edits.cuts_before if a in keys}
        for a, b in edits.joins:
            if a in keys and b in keys:
                self._edits.joins.add((keys[a], keys[b]))

    def _add_day_member(self, moment: Moment, session_id: str) -> _Run:
        day = moment.at.date()
        run = self._days.get(day)
        if run is None:
            run = _Run(session_id, moment.key, moment.key, 0, "day")
            self._days[day] = run
            self._by_id[session_id] = run
        run.members.add(moment.key)
        run.start, run.end = run.members[0], run.members[-1]
        run.count += 1
        return run

    # -- events ------------------------------------------------------------------------------

    def insert(self, moment: Moment) -> list[Change]:
        """Add one asset; re-importing an identical moment is a no-op."""
        changes, _, refused = self.insert_many([moment])
        if refused:
            raise ValueError(refused[0][1])
        return changes

    def insert_many(
        self, moments: Sequence[Moment]
    ) -> tuple[list[Change], list[Moment], list[tuple[Moment, str]]]:
        """Add a batch of assets: (changes, the moments that were new, (moment, reason) for those refused).

        The sessions equal those of inserting them one by one (a re-imported identical moment is a
        no-op, an asset already placed at another time is refused and the first time stands; which
        old id a grown session keeps is decided once for the batch, by the same rule), but neighbouring
        new moments share one reconcile: a batch of k assets arriving in time order re-decides about
        k + 2·reach gaps instead of k·(2·reach + 2) (bench/bench_pipeline.py). New moments far apart
        on the timeline are reconciled in separate groups, so the work stays bounded by the batch.
        """
        changes: list[Change] = []
        placed: list[Moment] = []
        refused: list[tuple[Moment, str]] = []
        timed: list[Key] = []
        for moment in moments:
            known = self._moments.get(moment.asset_id)
            if known is not None:
                # the same asset at the same time is a re-import, whatever its content says this time
                # (the first content stands, like the first time)
                if (known.at, known.precision) != (moment.at, moment.precision):
                    refused.append(
                        (moment, f"asset {moment.asset_id} already placed at {known.at} ({known.precision})")
                    )
                continue
            self._moments[moment.asset_id] = moment
            placed.append(moment)
            if moment.precision == "day":
                existing = self._days.get(moment.at.date())
                run = self._add_day_member(moment, existing.session_id if existing else self._new_id())
                changes += [_upserted(run), AssetsAssigned(run.session_id, (moment.asset_id,))]
            else:
                timed.append(moment.key)
        # Group the new keys in time order: the next key joins the group when the gaps it makes are
        # within reach of the group's (at most 2·reach+1 stored keys between them). Any grouping is
        # correct, since each group is reconciled on its own; this one only keeps the work small.
        group: list[Key] = []
        for key in sorted(timed):
            if (
                group
                and self._keys.bisect_left(key) - self._keys.bisect_right(group[-1]) > 2 * self.rule.reach + 1
            ):
                changes += self._insert_group(group)
                group = []
            group.append(key)
        if group:
            changes += self._insert_group(group)
        return changes, placed, refused

    def _insert_group(self, new_keys: list[Key]) -> list[Change]:
        """Add timed keys (sorted) to the timeline and reconcile around them at once."""
        for key in new_keys:
            self._keys.add(key)
        first, last = self._keys.index(new_keys[0]), self._keys.index(new_keys[-1])
        # each new key at i makes gaps i and i+1 new; a gap's decision reads `reach` gaps each side
        return self._reconcile(first - self.rule.reach, last + 1 + self.rule.reach, new_keys=new_keys)

    def split_at(self, asset_id: str) -> list[Change]:
        """Cut before `asset_id`, for good: the cut outlives imports and rule changes."""
        key = self._timed_key(asset_id)
        if key in self._edits.cuts:
            return []
        self._edits.cuts.add(key)
        i = self._keys.index(key)
        join = self._edits.join_around(self._keys[i - 1], key) if i > 0 else None
        if join is not None:  # the cut wins over an older manual join; keep the join's other gaps
            self._edits.joins.remove(join)
            lo, hi = join
            if lo < self._keys[i - 1]:
                self._edits.joins.add((lo, self._keys[i - 1]))
            if key < hi:
                self._edits.joins.add((key, hi))
        return [ManualEditsChanged(self.manual_edits()), *self._reconcile(i, i)]

    def merge(self, session_a: str, session_b: str) -> list[Change]:
        """Join two neighbouring timed sessions by hand, for good, whatever the gap."""
        a, b = self._by_id[self.resolve(session_a)], self._by_id[self.resolve(session_b)]
        if a is b:
            return []
        if a.precision == "day" or b.precision == "day":
            raise ValueError("day-precision sessions cannot be merged by hand")
        if b.start < a.start:
            a, b = b, a
        position = self._runs.index(a.start)
        if position + 1 >= len(self._runs) or self._runs.peekitem(position + 1)[1] is not b:
            raise ValueError(f"sessions {a.session_id} and {b.session_id} are not neighbours")
        self._edits.cuts.discard(b.start)
        self._edits.joins.add((a.end, b.start))
        i = self._keys.index(b.start)
        return [ManualEditsChanged(self.manual_edits()), *self._reconcile(i, i)]

    def set_rule(self, rule: SessionRule) -> list[Change]:
        """Re-segment the whole tenant under a new rule (O(n·reach)); manual edits stay."""
        self.rule = rule
        return self._reconcile(1, len(self._keys) - 1)

    # -- the one place sessions change ---------------------------------------------------------

    def _timed_key(self, asset_id: str) -> Key:
        moment = self._moments[asset_id]
        if moment.precision == "day":
            raise ValueError("day-precision assets cannot be split by hand")
        return moment.key

    def _moment_of(self, key: Key) -> Moment:
        return self._moments[key[1]]

    def _run_containing(self, key: Key) -> _Run | None:
        i = self._runs.bisect_right(key)
        if i == 0:
            return None
        run: _Run = self._runs.peekitem(i - 1)[1]
        return run if key <= run.end else None

    def _reconcile(self, lo_gap: int, hi_gap: int, new_keys: Sequence[Key] = ()) -> list[Change]:
        """Re-decide gaps lo_gap..hi_gap and rebuild the sessions around them.

        Every other gap keeps its decision, so only the sessions touching these gaps (the
        *span*) can change. New sessions in the span inherit ids from old ones: each old
        session's heir is the new session holding most of its assets; among the old sessions
        with the same heir, the one giving most assets keeps its id and the others merge in.
        """
        keys, n = self._keys, len(self._keys)
        if n == 0:
            return []
        lo_gap, hi_gap = max(1, lo_gap), min(n - 1, hi_gap)
        first_touched = max(0, min(lo_gap - 1, hi_gap))
        last_touched = min(n - 1, max(hi_gap, lo_gap - 1))
        first_run = self._run_containing(keys[first_touched])
        last_run = self._run_containing(keys[last_touched])
        a = keys.index(first_run.start) if first_run else first_touched
        b = keys.index(last_run.end) if last_run else last_touched
        # where the new keys (in no session yet, all inside the span) sit, ascending
        new_at = [keys.index(k) for k in new_keys]
        new_set = set(new_keys)

        def new_within(lo: int, hi: int) -> int:
            return bisect_right(new_at, hi) - bisect_left(new_at, lo)

        # new sessions of the span as index ranges; reach gaps of context each side for the rule
        ctx_lo = max(0, lo_gap - 1 - self.rule.reach)
        window = keys[ctx_lo : min(n, hi_gap + self.rule.reach + 1)]
        starts = [a] + [
            ctx_lo + j
            for j in _boundaries(
                window,
                max(lo_gap, a + 1) - ctx_lo,
                min(hi_gap, b) - ctx_lo,
                self.rule,
                self._edits,
                self._counter,
                self._moment_of,
            )
        ]
        fresh = [(s, e - 1) for s, e in zip(starts, [*starts[1:], b + 1], strict=True)]

        # old sessions in the span as index ranges (the new asset, if any, belongs to none)
        old: list[tuple[_Run, int, int]] = []
        for run in self._runs.values()[self._runs.bisect_left(keys[a]) : self._runs.bisect_right(keys[b])]:
            old.append((run, keys.index(run.start), keys.index(run.end)))

        # each old session overlaps a run of consecutive new ones: find them by bisection
        heir: dict[str, int] = {}
        shares: list[list[tuple[int, _Run]]] = [[] for _ in fresh]
        leaving: list[list[tuple[int, int]]] = [[] for _ in fresh]  # index ranges moving into f
        for run, os, oe in old:
            pieces = []
            for f in range(bisect_right(starts, os) - 1, bisect_right(starts, oe)):
                lo, hi = max(fresh[f][0], os), min(fresh[f][1], oe)
                pieces.append((hi - lo + 1 - new_within(lo, hi), f, lo, hi))
            size, best, _, _ = max(pieces, key=lambda p: (p[0], -p[1]))
            heir[run.session_id] = best
            shares[best].append((size, run))
            for _, f, lo, hi in pieces:
                if f != best:
                    leaving[f].append((lo, hi))

        upserts: list[Change] = []
        assigned: list[Change] = []
        merges: list[Change] = []
        new_runs: list[_Run] = []
        for f, (s, e) in enumerate(fresh):
            claimants = sorted(shares[f], key=lambda sr: (-sr[0], -sr[1].count, sr[1].start))
            keeper = claimants[0][1] if claimants else None
            run = _Run(keeper.session_id if keeper else self._new_id(), keys[s], keys[e], e - s + 1)
            new_runs.append(run)
            if keeper is None or (keeper.start, keeper.end, keeper.count) != (run.start, run.end, run.count):
                upserts.append(_upserted(run))
            for _, other in claimants[1:]:
                merges.append(SessionMerged(other.session_id, run.session_id))
                self._merged_into[other.session_id] = run.session_id
            moved = [k[1] for lo, hi in leaving[f] for k in keys[lo : hi + 1] if k not in new_set]
            moved += [keys[i][1] for i in new_at[bisect_left(new_at, s) : bisect_right(new_at, e)]]
            if moved:
                assigned.append(AssetsAssigned(run.session_id, tuple(moved)))

        for run, _, _ in old:
            del self._runs[run.start]
            del self._by_id[run.session_id]
        for run in new_runs:
            self._runs[run.start] = run
            self._by_id[run.session_id] = run
        return upserts + assigned + merges


def _upserted(run: _Run) -> SessionUpserted:
    return SessionUpserted(run.session_id, run.start[0], run.end[0], run.count, run.precision)
