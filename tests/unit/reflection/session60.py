"""A generated 60-image session with known edits, as make_reflection_session.py writes it: subject
'lighthouse on a cliff', CFG 5 -> 7 and ', golden hour' added at image 31 (index 30), a model switch
juggernautXL_v9 -> dreamshaperXL_turbo at image 41 (index 40), blue palette then orange."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from libs.reflection.analysis import AssetInfo

BASE = "a lighthouse on a cliff, dramatic sky, oil painting"
T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def session60() -> list[AssetInfo]:
    out = []
    for i in range(60):
        out.append(
            AssetInfo(
                asset_id=str(uuid.UUID(int=i + 1)),
                prompt=BASE + (", golden hour" if i >= 30 else ""),
                negative_prompt="blurry, lowres",
                tool="a1111",
                model="juggernautXL_v9" if i < 40 else "dreamshaperXL_turbo",
                sampler="DPM++ 2M Karras",
                cfg=5.0 if i < 30 else 7.0,
                steps=30,
                seed=1000 + i,
                width=256,
                height=256,
                generated_at=T0 + timedelta(seconds=40 * i),
                dominant_colors=("#1e3cc8", "#2a48d0") if i < 30 else ("#e6781e", "#f08a30"),
            )
        )
    return out


OTHERS = [["a red fox in snow, watercolor"], ["a tiny robot gardener, isometric, oil painting"]]
