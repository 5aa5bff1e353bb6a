"""Issue 15, first step: how the default session rule fares across a family of readings of the same
published figures (bench/session_profiles.py), against the best fixed gap chosen in hindsight for each
profile, for F1 and for ARI separately (its regret), and against the single best all-round fixed gap.

`make bench` writes the regret table to bench/session-family.md and the worst regrets to results.json.
Target (issue 15): the default never trails a profile's best fixed gap by more than 0.01 on either
score, and beats the best all-round fixed gap on average. `BENCH_FAMILY_USERS` (per seed) and
`BENCH_FAMILY_SEEDS` size the run (held-out seeds, distinct from the tuning seed).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_session_quality import BAR_MINUTES, _fast_score, prepare, the_bar
from session_profiles import PROFILES
from session_timelines import generated

from libs.sessions.segmentation import DEFAULT_RULE

USERS = int(os.environ.get("BENCH_FAMILY_USERS", "400"))
SEEDS = tuple(range(11, 11 + int(os.environ.get("BENCH_FAMILY_SEEDS", "2"))))
REPORT = Path(__file__).resolve().parent / "session-family.md"
TARGET_REGRET = 0.01


def regret_table() -> dict[str, Any]:
    rows = []
    all_bars: list[dict[float, tuple[float, float]]] = []
    for profile in PROFILES:
        prepared = prepare([t for seed in SEEDS for t in generated(seed, USERS, profile.rhythm)])
        bar, f1_minutes, ari_minutes = the_bar(prepared)
        f1, ari = _fast_score(DEFAULT_RULE, prepared)
        all_bars.append(bar)
        rows.append({
            "profile": profile.name, "why": profile.why, "f1": f1, "ari": ari,
            "best_f1": bar[f1_minutes][0], "best_f1_minutes": f1_minutes,
            "best_ari": bar[ari_minutes][1], "best_ari_minutes": ari_minutes,
        })  # fmt: skip
    # the single fixed gap best on average over the family (mean of F1 and ARI over every profile)
    all_round = max(BAR_MINUTES, key=lambda m: statistics.mean((b[m][0] + b[m][1]) / 2 for b in all_bars))
    for row, bar in zip(rows, all_bars, strict=True):
        row["all_round_f1"], row["all_round_ari"] = bar[all_round]
    return {"rows": rows, "all_round_minutes": all_round}


def _markdown(table: dict[str, Any]) -> str:
    rows, gap = table["rows"], table["all_round_minutes"]
    lines = [
        "# Session rules across a family of generators (issue 15)", "",
        f"Held-out seeds {', '.join(map(str, SEEDS))}, {USERS} users each, per profile; written by `make bench`"
        " (bench/bench_session_family.py). Regret: the default's shortfall against the best fixed gap chosen"
        f" in hindsight for that profile (negative: the default is better). All-round gap: {gap} min, the one"
        " fixed gap best on average over every profile.", "",
        "| profile | F1 default | best fixed (min) | regret | ARI default | best fixed (min) | regret |"
        f" F1 / ARI at {gap} min |",
        "|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['profile']} | {r['f1']:.3f} | {r['best_f1']:.3f} ({r['best_f1_minutes']}) |"
            f" {r['best_f1'] - r['f1']:+.3f} | {r['ari']:.3f} | {r['best_ari']:.3f} ({r['best_ari_minutes']}) |"
            f" {r['best_ari'] - r['ari']:+.3f} | {r['all_round_f1']:.3f} / {r['all_round_ari']:.3f} |"
        )
    mean = lambda k: statistics.mean(r[k] for r in rows)  # noqa: E731
    lines += [
        f"| **mean** | {mean('f1'):.3f} | | | {mean('ari'):.3f} | | | {mean('all_round_f1'):.3f} /"
        f" {mean('all_round_ari'):.3f} |", "", "Profiles:", "",
        *[f"- **{r['profile']}**: {r['why']}" for r in rows], "",
    ]  # fmt: skip
    return "\n".join(lines)


def run() -> list[dict[str, Any]]:
    started = time.perf_counter()
    table = regret_table()
    REPORT.write_text(_markdown(table))
    rows = table["rows"]
    worst_f1 = max(r["best_f1"] - r["f1"] for r in rows)
    worst_ari = max(r["best_ari"] - r["ari"] for r in rows)
    mean_default = statistics.mean((r["f1"] + r["ari"]) / 2 for r in rows)
    mean_all_round = statistics.mean((r["all_round_f1"] + r["all_round_ari"]) / 2 for r in rows)
    print(f"   {len(rows)} profiles in {time.perf_counter() - started:.0f} s: worst regret F1 {worst_f1:+.3f},"
          f" ARI {worst_ari:+.3f}; mean (F1+ARI)/2 default {mean_default:.3f} vs"
          f" {table['all_round_minutes']} min {mean_all_round:.3f}", flush=True)  # fmt: skip
    return [
        {"name": "sessions.family.worst_regret_f1", "value": round(worst_f1, 4), "unit": "score",
         "baseline": "target", "baseline_value": TARGET_REGRET, "ratio": None},
        {"name": "sessions.family.worst_regret_ari", "value": round(worst_ari, 4), "unit": "score",
         "baseline": "target", "baseline_value": TARGET_REGRET, "ratio": None},
        {"name": "sessions.family.mean_f1_ari.default", "value": round(mean_default, 4), "unit": "score",
         "baseline": f"best all-round fixed gap ({table['all_round_minutes']} min)",
         "baseline_value": round(mean_all_round, 4), "ratio": round(mean_default / mean_all_round, 3)},
    ]  # fmt: skip
