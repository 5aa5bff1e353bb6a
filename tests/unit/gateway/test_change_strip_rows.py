"""The change strip reads a session's member_facts rows as the rules' generations: a ComfyUI seed past
bigint (carried as the facts' JSON text) still shows as a seed change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.gateway.curation.service import changes_json

AT = datetime(2026, 5, 1, 10, tzinfo=UTC)


def _row(i: int, seed: str | None) -> dict[str, object]:
    return {
        "asset_id": uuid.uuid4(), "generated_at": AT + timedelta(seconds=30 * i), "tool": "comfyui",
        "prompt": "a fox in snow", "negative_prompt": None, "model": "flux1-dev", "loras": [], "seed": seed,
        "sampler": "euler", "steps": 20, "cfg": 3.5, "width": 1024, "height": 1024,
    }  # fmt: skip


def test_a_seed_past_bigint_is_a_seed_change() -> None:
    rows = [_row(0, str(2**64 - 1)), _row(1, str(2**64 - 2)), _row(2, str(2**64 - 2))]
    (step,) = changes_json(rows)
    assert step["asset_id"] == str(rows[1]["asset_id"])
    assert [(p["name"], p["before"], p["after"]) for p in step["parameters"]] == [
        ("seed", str(2**64 - 1), str(2**64 - 2))
    ]
