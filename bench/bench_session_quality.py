"""How well the default session rule finds real sessions, against every fixed gap.

`uv run python bench/run.py session_quality` scores the rules and (re)writes
bench/session-quality.md. Its story opens with the family of generators
(bench/bench_session_family.py, run first by `make bench`: the regret table the default was
chosen on, spliced in between markers); then this module's detail on our first reading
(tool-latency): held-out seeds, hand-written scenarios, sensitivity, calibration. The default is
chosen by `python bench/bench_session_family.py --tune` (minimax regret across the family);
`--tune` here is the earlier single-generator search, kept for comparison.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import random
import statistics
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from session_timelines import (
    TOOLS,
    CreativeRhythm,
    GeneratedTimeline,
    LabelledTimeline,
    Score,
    boundaries,
    generated,
    hand_scenarios,
    matched_boundaries,
    score,
    segmentation_ari,
    worked_example,
)

from libs.sessions.segmentation import (
    DEFAULT_RULE,
    AdaptiveGap,
    ContentGap,
    FixedGap,
    Moment,
    SessionRule,
    TempoGap,
)

REPORT = Path(__file__).resolve().parent / "session-quality.md"
# the family's regret table (bench_session_family.py writes it, and splices it in here between these
# markers whenever it runs); repeated here so that each module can be run on its own
FAMILY = Path(__file__).resolve().parent / "session-family.md"
START, END = "<!-- session-family: start -->", "<!-- session-family: end -->"
TRAINING_SEED = 0
TRAINING_USERS = 2000  # seed 0 only
HELD_OUT_SEEDS = (1, 2, 3, 4, 5)
# Per-user ARI is noisy (one user's 20-50 sessions); with 40 users a seed, seeds disagreed by more
# than the differences between rules, so every seed holds 1,000 users.
USERS_PER_SEED = 1000
FIXED_MINUTES = (5, 10, 15, 20, 25, 30, 45, 60, 90)
BAR_MINUTES = tuple(range(5, 91))  # the bar: every whole minute, chosen with hindsight on held-out data
PHOTOTOC = AdaptiveGap(k=math.log(17), window=10, floor_minutes=0, ceiling_minutes=math.inf)
# earlier defaults, kept in the tables for comparison: the first one, then the tempo rule as tuned on
# the generator before sessions had tools of their own
BOUNDED_PHOTOTOC = AdaptiveGap(
    k=3.5, window=20, floor_minutes=10, ceiling_minutes=25, offset_seconds=30, centre="mean"
)
PREVIOUS_TEMPO = TempoGap(factor=10, window=80, floor_minutes=24, ceiling_minutes=60)  # before issue 15
# what a caller with times alone gets: the default's own time rule
TIME_RULE: SessionRule = DEFAULT_RULE.time_rule if isinstance(DEFAULT_RULE, ContentGap) else DEFAULT_RULE


# sensitivity checks: nobody switches tools; nobody uses the slowest tool (Midjourney Relax's queue)
ONE_TOOL = CreativeRhythm(tools_per_user=(1, 1))
NO_RELAX = CreativeRhythm(tools=tuple(t for t in TOOLS if "Relax" not in t.name))


def fixed_rules() -> list[FixedGap]:
    return [FixedGap(m) for m in FIXED_MINUTES]


# ---------------------------------------------------------------------------------------------
# Tuning (training seed only)


# one timeline, timed assets in time order: the gaps between them, their true labels and (from
# `prepare_content`) the moments themselves, for rules that read the images' content
Prepared = tuple[list[float], list[str]] | tuple[list[float], list[str], list[Moment]]


def _user_scores(rule: SessionRule, prepared: Sequence[Prepared]) -> list[Score]:
    """score() without segment(), one Score per timeline: the same rule on precomputed gaps, so
    the grid search and the bootstrap stay fast (a unit test checks both agree)."""
    out = []
    for item in prepared:
        gaps, labels = item[0], item[1]
        if isinstance(rule, FixedGap):  # the bar scores 86 of these on every family: keep it cheap
            threshold = rule.minutes * 60
            cuts = [j for j, g in enumerate(gaps, 1) if g >= threshold]
        else:
            cuts = _window_cuts(rule, gaps, item[2] if len(item) > 2 else None)  # type: ignore[misc]
        out.append(_cut_score(labels, cuts))
    return out


def _cut_score(labels: Sequence[str], cuts: Sequence[int]) -> Score:
    """One timeline's Score for cuts at asset positions `cuts`; true sessions are runs in time
    order, as generated."""
    true_b = boundaries(labels)
    return Score(
        matched_boundaries(true_b, cuts),
        len(cuts),
        len(true_b),
        segmentation_ari(len(labels), true_b, cuts),
        1,
    )


def _window_cuts(
    rule: SessionRule, gaps: Sequence[float], moments: Sequence[Moment] | None = None
) -> list[int]:
    """Where `rule` cuts, asset positions j (gap j-1 precedes asset j), as segment() decides it;
    a content rule reads `moments` (the timed moments in time order) when given, times alone if not."""
    cuts = []
    n = len(gaps) + 1
    content = rule if isinstance(rule, ContentGap) and moments is not None else None
    for j in range(1, n):
        cut = rule.settled_by_length(gaps[j - 1])  # most gaps: no window needed
        if cut is None:
            lo, hi = max(1, j - rule.reach), min(n - 1, j + rule.reach)
            if content is not None:
                cut = content.is_boundary_between(gaps[lo - 1 : hi], j - lo, moments[lo - 1 : hi + 1])  # type: ignore[index]
            else:
                cut = rule.is_boundary(gaps[lo - 1 : hi], j - lo)
        if cut:
            cuts.append(j)
    return cuts


def _pooled(scores: Sequence[Score]) -> Score:
    total = Score()
    for s in scores:
        total.true_positives += s.true_positives
        total.predicted += s.predicted
        total.actual += s.actual
        total.ari_sum += s.ari_sum
        total.timelines += s.timelines
    return total


def _fast_score(rule: SessionRule, prepared: Sequence[Prepared]) -> tuple[float, float]:
    total = _pooled(_user_scores(rule, prepared))
    return total.f1, total.ari


def prepare(timelines: Sequence[LabelledTimeline]) -> list[tuple[list[float], list[str]]]:
    out = []
    for t in timelines:
        timed = sorted((m for m in t.moments if m.precision == "second"), key=lambda m: m.key)
        gaps = [(b.key[0] - a.key[0]).total_seconds() for a, b in itertools.pairwise(timed)]
        out.append((gaps, [t.truth[m.asset_id] for m in timed]))
    return out


def prepare_content(timelines: Sequence[LabelledTimeline]) -> list[Prepared]:
    """`prepare` with the moments kept, for rules that read the images' content."""
    out: list[Prepared] = []
    for t in timelines:
        timed = sorted((m for m in t.moments if m.precision == "second"), key=lambda m: m.key)
        gaps = [(b.key[0] - a.key[0]).total_seconds() for a, b in itertools.pairwise(timed)]
        out.append((gaps, [t.truth[m.asset_id] for m in timed], timed))
    return out


def candidates() -> list[SessionRule]:
    """Three families: every whole-minute fixed gap, PhotoTOC bounded, and the tempo rule."""
    grid: list[SessionRule] = [*(FixedGap(m) for m in BAR_MINUTES), PHOTOTOC]
    for centre, k, window, floor, ceiling in itertools.product(
        ("mean", "median"), (3, 4, 5), (10, 20), (10, 20), (30, 60)
    ):
        grid.append(AdaptiveGap(k, window, floor, ceiling, 30, centre))  # type: ignore[arg-type]
    for factor, window, floor, ceiling in itertools.product(
        (8, 10, 12, 15), (20, 40, 80, 160), (20, 22, 24, 26), (60, 90)
    ):
        grid.append(TempoGap(factor, window, floor, ceiling))
    return grid


_TRAINING: list[tuple[list[float], list[str]]] = []  # set before the worker processes fork


def _training_score(rule: SessionRule) -> tuple[float, float]:
    return _fast_score(rule, _TRAINING)


def tune() -> list[tuple[float, float, float, SessionRule]]:
    """Every candidate's (margin, F1, ARI) on the training seed, best first (a few minutes on
    two cores).

    The objective is the issue's own test: the *smaller* of the two margins over the best fixed
    gaps on this same data (the best by F1 and the best by ARI, each chosen with hindsight), so
    a rule that trades one score for the other does not win; ties go to the larger F1 + ARI."""
    _TRAINING[:] = prepare(generated(TRAINING_SEED, TRAINING_USERS))
    rules = candidates()
    with multiprocessing.Pool() as pool:
        scores = dict(zip(rules, pool.map(_training_score, rules, chunksize=4), strict=True))
    best_f1 = max(scores[FixedGap(m)][0] for m in BAR_MINUTES)
    best_ari = max(scores[FixedGap(m)][1] for m in BAR_MINUTES)
    results = [(min(f1 - best_f1, ari - best_ari), f1, ari, rule) for rule, (f1, ari) in scores.items()]
    # ties (a floor or ceiling the training data never reaches) go to the grid's first entry
    results.sort(key=lambda r: (-r[0], -(r[1] + r[2])))
    return results


# ---------------------------------------------------------------------------------------------
# The report


def _table(rows: list[tuple[str, Score]]) -> list[str]:
    lines = ["| rule | precision | recall | F1 | ARI |", "|---|---:|---:|---:|---:|"]
    best_f1 = max(s.f1 for _, s in rows)
    best_ari = max(s.ari for _, s in rows)
    for name, s in rows:
        f1 = f"**{s.f1:.3f}**" if s.f1 == best_f1 else f"{s.f1:.3f}"
        ari = f"**{s.ari:.3f}**" if s.ari == best_ari else f"{s.ari:.3f}"
        lines.append(f"| {name} | {s.precision:.3f} | {s.recall:.3f} | {f1} | {ari} |")
    return lines


def _rules(extra_fixed: Sequence[float] = ()) -> list[tuple[str, SessionRule]]:
    minutes = sorted(set(FIXED_MINUTES) | set(extra_fixed))
    return [
        ("**default**: " + DEFAULT_RULE.describe(), DEFAULT_RULE),
        ("the default on times alone: " + TIME_RULE.describe(), TIME_RULE),
        ("previous default (tuned on this generator alone): " + PREVIOUS_TEMPO.describe(), PREVIOUS_TEMPO),
        ("first default: " + BOUNDED_PHOTOTOC.describe(), BOUNDED_PHOTOTOC),
        ("PhotoTOC as published (k = log 17, d = 10, no bounds)", PHOTOTOC),
        *[(FixedGap(m).describe(), FixedGap(m)) for m in minutes],
    ]


def the_bar(prepared: Sequence[Prepared]) -> tuple[dict[float, tuple[float, float]], float, float]:
    """Every whole-minute fixed gap's (F1, ARI) on `prepared`, and the gaps best by F1 and by ARI."""
    scores = {m: _fast_score(FixedGap(m), prepared) for m in BAR_MINUTES}
    return scores, max(scores, key=lambda m: scores[m][0]), max(scores, key=lambda m: scores[m][1])


def _bootstrap(
    default: Sequence[Score], f1_bar: Sequence[Score], ari_bar: Sequence[Score], draws: int = 2000
) -> tuple[tuple[float, float], tuple[float, float], float]:
    """95 % intervals of ΔF1 and ΔARI over users resampled with replacement (fixed seed), and the
    share of draws where both are above zero."""
    rng = random.Random(0)
    n = len(default)
    d_f1, d_ari, both = [], [], 0
    for _ in range(draws):
        pick = [rng.randrange(n) for _ in range(n)]
        d, f, a = (_pooled([s[i] for i in pick]) for s in (default, f1_bar, ari_bar))
        d_f1.append(d.f1 - f.f1)
        d_ari.append(d.ari - a.ari)
        both += d.f1 > f.f1 and d.ari > a.ari
    d_f1.sort()
    d_ari.sort()
    lo, hi = int(0.025 * draws), int(0.975 * draws) - 1
    return (d_f1[lo], d_f1[hi]), (d_ari[lo], d_ari[hi]), both / draws


def _against_the_bar(rhythm: CreativeRhythm) -> str:
    """The default and the hindsight bar on the held-out seeds generated with `rhythm`, as a table row."""
    prepared = prepare_content(
        [t for seed in HELD_OUT_SEEDS for t in generated(seed, USERS_PER_SEED, rhythm)]
    )
    bar, f1_minutes, ari_minutes = the_bar(prepared)
    f1, ari = _fast_score(DEFAULT_RULE, prepared)
    best_f1, best_ari = bar[f1_minutes][0], bar[ari_minutes][1]
    return (
        f"{best_f1:.3f} ({f1_minutes} min) | {f1:.3f} ({f1 - best_f1:+.4f}) | "
        f"{best_ari:.3f} ({ari_minutes} min) | {ari:.3f} ({ari - best_ari:+.4f})"
    )


def oracle_bound(held_out: Sequence[GeneratedTimeline]) -> list[tuple[str, float, float]]:
    """What knowing the rhythm could buy at best: a rule *told* the true tempo of the session each
    gap ends (the generator's own draw), cut at g >= max(floor, factor x tempo), constants
    chosen with hindsight on the held-out data itself. A real rule must estimate the tempo from
    the gaps around it; this bounds what that estimate is worth."""
    prepared = prepare(held_out)
    rows = []
    for floor, factor in itertools.product((14, 18, 22, 26), (8, 10, 12, 15, 20, 30)):
        total = _pooled(
            [
                _cut_score(
                    labels,
                    [
                        j
                        for j in range(1, len(labels))
                        if gaps[j - 1] >= max(floor * 60, factor * t.tempo_s[labels[j - 1]])
                    ],
                )
                for t, (gaps, labels) in zip(held_out, prepared, strict=True)
            ]
        )
        rows.append((f"told the true tempo: max({floor} min, {factor}× tempo)", total.f1, total.ari))
    return rows


def _timeout_sizes(timelines: Sequence[GeneratedTimeline], minutes: float) -> list[int]:
    sizes = []
    for t in timelines:
        size = 1
        for a, b in itertools.pairwise(t.prompts):
            if (b - a).total_seconds() >= minutes * 60:
                sizes.append(size)
                size = 0
            size += 1
        sizes.append(size)
    return sizes


def _true_sizes(timelines: Sequence[GeneratedTimeline]) -> tuple[list[int], list[int]]:
    """Prompts and images per true session."""
    prompts, images = [], []
    for t in timelines:
        per_session = {}
        for m in t.moments:
            per_session.setdefault(t.truth[m.asset_id], set()).add(m.at)
        prompts += [len(v) for v in per_session.values()]
        images += list(_count(t.truth.values()).values())
    return prompts, images


def _count(labels) -> dict[str, int]:
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return counts


def _quantiles(values: list[float], qs: Sequence[float]) -> list[str]:
    values = sorted(values)
    return [f"{values[round(q * (len(values) - 1))] / 60:.1f}" for q in qs]


def burstiness_and_memory(prompts: Sequence[datetime]) -> tuple[float, float]:
    """Goh & Barabási's (EPL 2008) burstiness B = (σ - m) / (σ + m) of the inter-event times, and
    memory M, the correlation between consecutive inter-event times, of one user's prompts."""
    t = [(b - a).total_seconds() for a, b in itertools.pairwise(prompts)]
    m, sd = statistics.fmean(t), statistics.pstdev(t)
    x, y = t[:-1], t[1:]
    mx, my, sx, sy = statistics.fmean(x), statistics.fmean(y), statistics.pstdev(x), statistics.pstdev(y)
    if not sx or not sy:  # a perfectly regular user: no variation to correlate
        return (sd - m) / (sd + m), 0.0
    covariance = statistics.fmean([(a - mx) * (b - my) for a, b in zip(x, y, strict=True)])
    return (sd - m) / (sd + m), covariance / (sx * sy)


def calibration(timelines: Sequence[GeneratedTimeline]) -> list[str]:
    bm = [burstiness_and_memory(t.prompts) for t in timelines]
    pauses = [p for t in timelines for p in t.pauses_s]
    breaks = [b for t in timelines for b in t.breaks_s]
    t20, t30 = _timeout_sizes(timelines, 20), _timeout_sizes(timelines, 30)
    prompts, images = _true_sizes(timelines)
    qs = (0.01, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99)
    bands = ((5, 10), (10, 20), (20, 30), (30, 60), (60, 120))
    in_band = [
        (lo, hi, sum(lo * 60 <= p < hi * 60 for p in pauses), sum(lo * 60 <= b < hi * 60 for b in breaks))
        for lo, hi in bands
    ]
    return [
        "| measured on the held-out seeds | median | mean | published |",
        "|---|---:|---:|---|",
        f"| prompts per session, cut with a 20-min timeout | {statistics.median(t20):g} | "
        f"{statistics.mean(t20):.1f} | median 4-5, mean 10-14 (Xie et al. 2023) |",
        f"| prompts per session, cut with a 30-min timeout | {statistics.median(t30):g} | "
        f"{statistics.mean(t30):.1f} | median 4-5, mean 10-14 (Xie et al. 2023) |",
        f"| prompts per *true* session | {statistics.median(prompts):g} | {statistics.mean(prompts):.1f} | |",
        f"| images per *true* session | {statistics.median(images):g} | {statistics.mean(images):.1f} | |",
        f"| burstiness B of a user's prompt times | {statistics.median(b for b, _ in bm):.2f} | "
        f"{statistics.mean(b for b, _ in bm):.2f} | bursty, B > 0 (Goh & Barabási 2008) |",
        f"| memory M of a user's prompt times | {statistics.median(m for _, m in bm):.3f} | "
        f"{statistics.mean(m for _, m in bm):.3f} | weak for human activity (Goh & Barabási 2008) |",
        "",
        "Pauses inside sessions against breaks between them, in minutes:",
        "",
        "| quantile | " + " | ".join(f"{q:.0%}" for q in qs) + " |",
        "|---|" + "---:|" * len(qs),
        f"| pause inside a session ({len(pauses)}) | " + " | ".join(_quantiles(pauses, qs)) + " |",
        f"| break between sessions ({len(breaks)}) | " + " | ".join(_quantiles(breaks, qs)) + " |",
        "",
        "How many gaps of each kind fall in each band (a gap-only rule must guess inside a band):",
        "",
        "| gap length | pauses inside sessions | breaks between sessions |",
        "|---|---:|---:|",
        *[f"| {lo}-{hi} min | {p} | {b} |" for lo, hi, p, b in in_band],
    ]


def write_report(
    families: dict[str, list[LabelledTimeline]],
    scores: dict[str, list[tuple[str, Score]]],
    held_out: list[GeneratedTimeline],
    per_scenario: list[tuple[str, Score, Score, str]],
    verdict: list[str],
    evidence: list[str],
) -> None:
    lines = [
        "# Session quality",
        "",
        "Generated by `uv run python bench/run.py session_quality` (bench/bench_session_quality.py);"
        " the timelines are in bench/session_timelines.py. Do not edit by hand.",
        "",
        "A predicted boundary matches a true one if it falls within one asset of it (one-to-one);"
        " precision and recall are pooled over timelines. ARI is the adjusted Rand index of each"
        " timeline's partition against the truth, averaged over timelines. Boundaries are counted"
        " on timed assets in time order; ARI also covers day-precision assets. **Bold** marks the"
        " best of each column.",
        "",
        f"**Default rule:** {DEFAULT_RULE.describe()}. It was chosen by minimax regret across the"
        " family of generators below, on their tuning seed 0, then frozen; the family's table is on"
        " held-out seeds. The rest of this report is the detail on our first reading (tool-latency):"
        f" held-out seeds {', '.join(map(str, HELD_OUT_SEEDS))} ({USERS_PER_SEED} users each), seed"
        f" {TRAINING_SEED} ({TRAINING_USERS} users, whose first 200 the family's search saw) and the"
        " hand-written scenarios (times only: there the default is its time rule).",
        "",
        START,
        *(
            FAMILY.read_text().split("\n", 2)[2].splitlines()
            if FAMILY.exists()
            else ["(run `bench/run.py session_family`)"]
        ),
        END,
        "",
        "## Our first reading (tool-latency) in detail",
        "",
        *verdict,
        "",
        *evidence,
        "",
    ]
    for family, rows in scores.items():
        timelines = families[family]
        assets = sum(len(t.moments) for t in timelines)
        lines += [f"## {family}", "", f"{len(timelines)} timelines, {assets} assets.", "", *_table(rows), ""]
    lines += [
        "## Hand-written scenarios one by one (ARI)",
        "",
        "| scenario | default | best fixed gap on held-out F1 |",
        "|---|---:|---:|",
        *[f"| {name} | {d.ari:.3f} | {f.ari:.3f} ({label}) |" for name, d, f, label in per_scenario],
        "",
        "## The generator's calibration",
        "",
        "`CreativeRhythm` and `TOOLS` in bench/session_timelines.py document every constant and"
        " its source. Session sizes are fitted to the published measurement itself: Xie et al."
        " (2023) cut real text-to-image prompt logs with 20-30 min timeouts, so the same cut is"
        " applied to the generated prompt times. Topic changes come without pauses (Don-Yehiya et"
        " al. 2023), so they leave the times alone and live in each prompt's content (`ContentHabits`:"
        " threads of 1.6 prompts, a look kept across subjects, models, LoRAs, seeds). Each session is worked in one of the user's 1-3"
        " tools, whose latencies come from Midjourney's documentation and consumer-GPU benchmarks;"
        " pauses are heavy-tailed around the session's tempo (PhotoTOC; Cooper et al. 2005), because"
        " past about 10 s of waiting users turn to other work (Miller 1968; Nielsen). Interruptions,"
        " quick returns and long breaks are the same for every user and tool (Halfaker et al., WWW"
        " 2015, find the between-session mode regular across users and domains). Two figures are"
        " our assumptions, not published ones: the spread of users' own pace and how many tools a"
        " user keeps (the sensitivity check above sets the second to one). The generated prompt"
        " times are bursty with weak memory, the pattern Goh & Barabási (2008) report for human"
        " activity.",
        "",
        *calibration(held_out),
        "",
    ]
    REPORT.write_text("\n".join(lines))


def run() -> list[dict]:
    training = generated(TRAINING_SEED, TRAINING_USERS)
    per_seed = {seed: generated(seed, USERS_PER_SEED) for seed in HELD_OUT_SEEDS}
    held_out = [t for seed in HELD_OUT_SEEDS for t in per_seed[seed]]
    hand = hand_scenarios()

    families: dict[str, list[LabelledTimeline]] = {
        "Worked example (2 pm-3 pm, break, 5 pm-5:30 pm)": list(worked_example()),
        "Hand-written scenarios": list(hand),
        f"Generated, held-out seeds {', '.join(map(str, HELD_OUT_SEEDS))}": list(held_out),
        f"Generated, tuning seed {TRAINING_SEED}": list(training),
    }
    # the generated families hold only timed assets in runs, so the fast scorer (checked against
    # score() by a unit test) is exact there; the hand-written ones go through segment()
    prepared = {
        family: prepare_content(ts) for family, ts in families.items() if family.startswith("Generated")
    }
    held_key = next(k for k in families if "held-out" in k)

    # the bar: the best fixed gaps chosen with hindsight on the held-out data itself
    bar, f1_minutes, ari_minutes = the_bar(prepared[held_key])
    f1_rule, ari_rule = FixedGap(f1_minutes), FixedGap(ari_minutes)
    rules = _rules((f1_minutes, ari_minutes))

    def family_score(rule: SessionRule, family: str) -> Score:
        if family in prepared:
            return _pooled(_user_scores(rule, prepared[family]))
        return score(rule, families[family])

    scores = {family: [(name, family_score(rule, family)) for name, rule in rules] for family in families}

    default = scores[held_key][0][1]
    f1_best = family_score(f1_rule, held_key)
    ari_best = family_score(ari_rule, held_key)
    hand_rows = scores["Hand-written scenarios"]
    hand_fixed = [(r, s) for r, (_, s) in zip(rules, hand_rows, strict=True) if isinstance(r[1], FixedGap)]
    (hf1_name, _), hf1_best = max(hand_fixed, key=lambda rs: rs[1].f1)
    (hari_name, _), hari_best = max(hand_fixed, key=lambda rs: rs[1].ari)
    hand_default = hand_rows[0][1]

    per_scenario = [(t.name, score(DEFAULT_RULE, [t]), score(f1_rule, [t]), f1_rule.describe()) for t in hand]

    # per seed: the default against the bar's two gaps, so a small pooled win can be told from noise
    seed_lines = [
        f"| seed | default F1 | {f1_rule.describe()} F1 | ΔF1 | default ARI | {ari_rule.describe()} ARI | ΔARI |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    d_f1, d_ari = [], []
    for seed, timelines in per_seed.items():
        seed_prepared = prepare_content(timelines)
        d, f, a = (_pooled(_user_scores(r, seed_prepared)) for r in (DEFAULT_RULE, f1_rule, ari_rule))
        d_f1.append(d.f1 - f.f1)
        d_ari.append(d.ari - a.ari)
        seed_lines.append(
            f"| {seed} | {d.f1:.3f} | {f.f1:.3f} | {d.f1 - f.f1:+.3f} | {d.ari:.3f} | {a.ari:.3f} | {d.ari - a.ari:+.3f} |"
        )
    wins_f1, wins_ari = sum(x > 0 for x in d_f1), sum(x > 0 for x in d_ari)
    seed_lines.append(
        f"| mean ± sd | | | {statistics.mean(d_f1):+.3f} ± {statistics.stdev(d_f1):.3f} | | |"
        f" {statistics.mean(d_ari):+.3f} ± {statistics.stdev(d_ari):.3f} |"
    )

    # uncertainty: resample users, keep the bar's two gaps (chosen with hindsight on all of them)
    ci_f1, ci_ari, both_share = _bootstrap(
        *(_user_scores(r, prepared[held_key]) for r in (DEFAULT_RULE, f1_rule, ari_rule))
    )

    # the fixed gap a product would ship if it tuned a fixed gap the way the default was tuned
    train_key = next(k for k in families if "tuning" in k)
    train_bar, _, _ = the_bar(prepared[train_key])
    shipped_minutes = max(train_bar, key=lambda m: sum(train_bar[m]))
    shipped = family_score(FixedGap(shipped_minutes), held_key)

    oracle = oracle_bound(held_out)
    dominating = [r for r in oracle if r[1] > f1_best.f1 and r[2] > ari_best.ari]
    best_margin = max(min(r[1] - f1_best.f1, r[2] - ari_best.ari) for r in oracle)
    o_f1, o_ari = max(oracle, key=lambda r: r[1]), max(oracle, key=lambda r: r[2])

    # sensitivity: the same rule against the same kind of bar on variants of the generator
    sensitivity = {
        name: _against_the_bar(rhythm) for name, rhythm in (("one", ONE_TOOL), ("no_relax", NO_RELAX))
    }

    beats = default.f1 > f1_best.f1 and default.ari > ari_best.ari
    frontier = max(bar.values(), key=lambda fa: fa[0] + fa[1])
    verdict = [
        "**Verdict on held-out generated data:** the bar is the best fixed gap chosen *with"
        " hindsight on the held-out data*, on every whole minute from 5 to 90, once per score: "
        f"{f1_rule.describe()} for F1 ({f1_best.f1:.3f}) and {ari_rule.describe()} for ARI"
        f" ({ari_best.ari:.3f}). The default scores F1 {default.f1:.3f} ({default.f1 - f1_best.f1:+.4f},"
        f" higher on {wins_f1} of {len(HELD_OUT_SEEDS)} seeds) and ARI {default.ari:.3f}"
        f" ({default.ari - ari_best.ari:+.4f}, higher on {wins_ari} of {len(HELD_OUT_SEEDS)} seeds): it "
        + ("**beats both**." if beats else "does **not** beat both.")
        + f" Resampling the {len(held_out)} held-out users (2,000 bootstrap draws) gives ΔF1"
        f" {ci_f1[0]:+.4f} to {ci_f1[1]:+.4f} and ΔARI {ci_ari[0]:+.4f} to {ci_ari[1]:+.4f} (95 %),"
        f" both above zero in {both_share:.0%} of draws. Against the fixed gap tuned the way the"
        f" default was (on the training seed, best F1 + ARI: {FixedGap(shipped_minutes).describe()})"
        f" it scores {default.f1 - shipped.f1:+.3f} F1 and {default.ari - shipped.ari:+.3f} ARI. Its"
        f" F1 + ARI is {default.f1 + default.ari:.3f} against {frontier[0] + frontier[1]:.3f} for the"
        " best single fixed gap on that sum. On the hand-written scenarios it scores F1 "
        f"{hand_default.f1:.3f} / ARI {hand_default.ari:.3f}, the best fixed gap "
        f"{hf1_best.f1:.3f} ({hf1_name}) / {hari_best.ari:.3f} ({hari_name}).",
        "",
        "On times alone the margins are small, and the report says why below: most of what is hard"
        " here (an interruption of 10-20 min inside a session against a quick return of 15-30 min"
        " after a break) is the same length for everyone, so no rule that sees only times can call"
        " it; what a rhythm-aware rule can win is the slow tools' long ordinary pauses. The default's"
        " margin comes from the images' content inside that band (compare its row with the one on"
        " times alone in the tables below). The hand-written scenarios carry no content, so there the"
        " default is its time rule, whose 36-min floor joins the 25-min break of"
        " fast-tool-short-break: the price of robustness to readings where such pauses are"
        " interruptions.",
    ]
    evidence = [
        "## What knowing the rhythm is worth, and where the margin comes from",
        "",
        "A rule *told the generator's true tempo of every session* (no real rule knows it), cut at"
        " g ≥ max(floor, factor × tempo), both constants chosen with hindsight on the held-out data,"
        f" over {len(oracle)} settings: best F1 {o_f1[1]:.3f} ({o_f1[0]}, ARI {o_f1[2]:.3f}); best ARI"
        f" {o_ari[2]:.3f} ({o_ari[0]}, F1 {o_ari[1]:.3f}); {len(dominating)} of them beat the bar on"
        f" both, by at most {best_margin:+.3f} on the weaker of the two. That is the ceiling the"
        " default's margin should be read against.",
        "",
        "**Sensitivity**, each on the same held-out seeds against its own hindsight bar:",
        "",
        "| generator variant | best fixed gap, F1 | default F1 | best fixed gap, ARI | default ARI |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| {label} | {row} |"
            for label, row in (
                ("every user keeps to one tool (users still differ in pace and tool)", sensitivity["one"]),
                ("nobody uses Midjourney Relax (the slowest tool, minutes per job)", sensitivity["no_relax"]),
            )
        ],
        "",
        "The first shows the margin does not rest on users switching tools from one session to the"
        " next; the second shows where it comes from: sessions slow enough that their ordinary"
        " pauses reach the break band, which a fixed gap must either cut or pay for elsewhere."
        " Without them nearly every user's tempo times the factor stays under the floor, the rule acts as"
        " a fixed gap at its floor, and it trails each score's own best fixed gap, as any single"
        " gap does when F1 and ARI prefer different ones.",
        "",
        f"Per held-out seed ({USERS_PER_SEED} users each), the default against the bar's two fixed gaps:",
        "",
        *seed_lines,
    ]
    write_report(families, scores, held_out, per_scenario, verdict, evidence)

    def row(name: str, value: float, baseline: str, baseline_value: float) -> dict:
        return {
            "name": name,
            "value": value,
            "unit": "score",
            "baseline": f"best {baseline}",
            "baseline_value": baseline_value,
            "ratio": value / baseline_value if baseline_value else None,
        }

    return [
        row("sessions.f1.default", default.f1, f1_rule.describe(), f1_best.f1),
        row("sessions.ari.default", default.ari, ari_rule.describe(), ari_best.ari),
        row("sessions.f1.default.hand_scenarios", hand_default.f1, hf1_name, hf1_best.f1),
        row("sessions.ari.default.hand_scenarios", hand_default.ari, hari_name, hari_best.ari),
    ]


if __name__ == "__main__":
    if "--tune" in sys.argv:
        for margin, f1, ari, rule in tune()[:15]:
            print(f"margin {margin:+.4f}  F1 {f1:.4f}  ARI {ari:.4f}  {rule!r}")
    else:
        for r in run():
            print(r)
