"""A timeline rebuilt from clustering's tables reads the same content as the one built import by import:
`repository._stored_moment` (a members row joined to its lineage facts) equals `handlers.moment_of`
(the `asset.imported` event), so the default rule cuts the same way after a reload."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from libs.common.events import AssetImported
from libs.lineage.facts import LineageFacts
from services.clustering.handlers import moment_of
from services.clustering.repository import _stored_moment

AT = datetime(2026, 5, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "facts",
    [
        None,  # an import from before lineage facts: no seed, no LoRAs either way
        LineageFacts(),
        LineageFacts(seed=2**64 - 1, loras=["film_grain", "detail_tweaker"]),  # a ComfyUI seed past bigint
        LineageFacts(seed=-1, loras=[]),
    ],
)
def test_a_reloaded_moment_equals_the_imported_one(facts: LineageFacts | None) -> None:
    asset = uuid.uuid4()
    event = AssetImported(asset_id=asset, sha256="0" * 64, filename="a.png", tool="comfyui", prompt="a fox",
                          model="flux1-dev", generated_at=AT, timestamp_precision="second", lineage=facts)  # fmt: skip
    # the row as load_timeline_rows reads it: the seed as the facts' JSON text, the LoRAs as the decoded list
    row = {
        "asset_id": asset, "generated_at": AT, "precision": "second", "prompt": "a fox", "model": "flux1-dev",
        "tool": "comfyui",
        "seed": None if facts is None or facts.seed is None else str(facts.seed),
        "loras": None if facts is None else list(facts.loras),
    }  # fmt: skip
    assert _stored_moment(row) == moment_of(event)  # type: ignore[arg-type]
    if facts is not None and facts.loras:
        assert moment_of(event).loras == tuple(sorted(facts.loras))  # the CLI's order: LoRAs are a set
