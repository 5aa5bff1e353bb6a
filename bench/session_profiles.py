"""A family of readings of the same published figures (issue 15): generators that agree on what the
literature pins down (Xie et al. 2023's session sizes, bursty heavy-tailed pauses, documented tool
latencies) and differ where it is silent, so that a session rule is judged on all of them and none is
privileged. Each profile is a `CreativeRhythm` (bench/session_timelines.py) with what it changes and why.

What the literature leaves open, and the range the profiles span:
- how soon people come back after a short break: quick returns with a median of 20 to 60 minutes;
- how long the outside world interrupts a session: interruptions with a median of 10 to 30 minutes,
  reaching past an hour at the tail;
- how often each happens, and how much users differ in tempo;
- which tools they use: nobody on a slow queue, or everyone on one;
- how many images arrive at the same second (upload logs show two thirds of gaps under a minute).
"""

from __future__ import annotations

from dataclasses import dataclass

from session_timelines import TOOLS, CreativeRhythm

RELAX = tuple(t for t in TOOLS if "Relax" in t.name)
FAST_TOOLS = tuple(t for t in TOOLS if t.latency_s <= 15)


@dataclass(frozen=True)
class Profile:
    name: str
    why: str
    rhythm: CreativeRhythm


PROFILES: tuple[Profile, ...] = (
    Profile(
        "tool-latency",
        "our first reading (the generator the issue-14 default was tuned on): quick returns median 25 min, "
        "interruptions median 14 min, 1-3 tools per user with documented latencies",
        CreativeRhythm(),
    ),
    Profile(
        "late-returns",
        "the independent set's reading: quick returns median 45 min and never under 20; interruptions "
        "median 25 min reaching past 75 min; returns and pauses overlap between 20 and 75 min",
        CreativeRhythm(
            quick_return_median_min=45,
            quick_return_sigma=0.35,
            quick_return_floor_min=20,
            interruption_median_min=25,
            interruption_sigma=0.5,
            interruption_p=0.05,
        ),
    ),
    Profile(
        "early-returns",
        "people come back soon (quick returns median 20 min, 40 % of breaks) and are rarely interrupted "
        "for long (median 10 min)",
        CreativeRhythm(quick_return_p=0.4, quick_return_median_min=20, interruption_median_min=10),
    ),
    Profile(
        "long-interruptions",
        "the outside world takes longer (interruptions median 30 min, 6 % of pauses) while returns stay "
        "at our reading's 25 min: the hardest overlap for times alone",
        CreativeRhythm(interruption_p=0.06, interruption_median_min=30, interruption_sigma=0.45),
    ),
    Profile(
        "nobody-slow",
        "every session on a tool that answers within 15 s (no Flux on a consumer GPU, no Midjourney "
        "Fast or Relax): ordinary pauses are short, the gap rule's best case",
        CreativeRhythm(tools=FAST_TOOLS),
    ),
    Profile(
        "everyone-on-relax",
        "everyone on Midjourney Relax (queue waits of minutes): ordinary pauses reach the break band",
        CreativeRhythm(tools=RELAX, tools_per_user=(1, 1)),
    ),
    Profile(
        "tempo-spread",
        "users differ far more in their own pace (log-normal σ 1.0 around 30 s instead of 0.6)",
        CreativeRhythm(pace_sigma=1.0),
    ),
    Profile(
        "same-second-bursts",
        "batches of dozens of images saved at the same second (grids, batch runs, upscales): most gaps "
        "between images are zero",
        CreativeRhythm(images_per_prompt=((1, 0.25), (4, 0.35), (16, 0.25), (32, 0.15))),
    ),
)
