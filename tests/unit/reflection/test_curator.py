"""The curator: validation drops statements citing unknown images or numbers not in the facts; the
built-in curator names the subject, the added phrase, the CFG change and the model switch; the price rule."""

from __future__ import annotations

import json
import re

from libs.reflection import pricing
from libs.reflection.analysis import analyse
from libs.reflection.curator import build_prompt, builtin_reflection, summary_text, validate
from tests.unit.reflection.session60 import OTHERS, session60


def test_validation_drops_unknown_ids_and_invented_numbers() -> None:
    a = analyse(session60(), OTHERS)
    ids = a.asset_ids
    answer = {
        "summary": [{"text": "Sixty images of a lighthouse on a cliff.", "assets": ["i1", "i60"]}],
        "style_patterns": [
            {"text": "CFG went from 5 to 7.", "assets": ["i30", "i31"]},
            {"text": "A blue palette for the first 30 images.", "asset_ids": [ids[0]]},
            {"text": "CFG 12 throughout.", "assets": ["i1"]},  # 12 is in no fact
        ],
        "evolution_notes": [
            {"text": "The model switched at image 41.", "assets": ["i41"]},
            {"text": "A new subject appeared.", "assets": ["i61"]},  # no image 61
            {"text": "Something else.", "asset_ids": ["00000000-0000-0000-0000-0000000000ff"]},  # unknown id
            "not an object",
        ],
    }
    checked = validate(answer, a)
    texts = [s["text"] for sec in checked.sections.values() for s in sec]
    assert texts == [
        "Sixty images of a lighthouse on a cliff.",
        "CFG went from 5 to 7.",
        "A blue palette for the first 30 images.",
        "The model switched at image 41.",
        "not an object",
    ]
    assert checked.sections["summary"][0]["asset_ids"] == [ids[0], ids[59]]
    assert checked.sections["style_patterns"][1]["asset_ids"] == [ids[0]]
    reasons = sorted(d["reason"].split(" [")[0] for d in checked.dropped)
    assert reasons == ["numbers not in the facts", "unknown asset ids", "unknown asset ids"]
    # a bare string is a statement citing nothing, kept like any other grounded one
    assert checked.sections["evolution_notes"][-1] == {"text": "not an object", "asset_ids": []}


def test_builtin_curator_names_subject_phrase_cfg_and_model_switch() -> None:
    assets = session60()
    a = analyse(assets, OTHERS)
    r = builtin_reflection(a)
    assert set(r) == {"summary", "style_patterns", "evolution_notes"}
    text = json.dumps(r, ensure_ascii=False)
    assert "lighthouse on a cliff" in summary_text(r)
    assert "'golden hour'" in text
    assert "CFG 5 → 7" in text
    assert "switched model from juggernautXL_v9 to dreamshaperXL_turbo" in text
    assert "blue" in text and "orange" in text
    # the acceptance check reads ASCII-escaped JSON (the arrow becomes \u2192): the words must match too
    assert re.search(r"cfg\D{0,60}5(?:\.0+)?\D{1,30}7(?:\.0+)?", json.dumps(r).lower())
    notes = {s["text"]: s["asset_ids"] for s in r["evolution_notes"]}
    (cfg_note,) = [t for t in notes if "CFG" in t]
    assert notes[cfg_note] == [assets[29].asset_id, assets[30].asset_id]
    (model_note,) = [t for t in notes if "switched model" in t]
    assert notes[model_note] == [assets[39].asset_id, assets[40].asset_id]
    # its own statements pass the validation a model's must pass
    checked = validate(
        {k: [{"text": s["text"], "asset_ids": s["asset_ids"]} for s in v] for k, v in r.items()}, a
    )
    assert checked.dropped == []


def test_prompt_is_compact_and_names_images_by_position() -> None:
    a = analyse(session60(), OTHERS)
    messages = build_prompt(a)
    user = messages[1]["content"]
    assert "i1-i60" in user and "i30-i31" in user
    assert "00000000-" not in user  # refs, not uuids
    assert len(user) < 6000


def test_price_rule() -> None:
    # gpt-4o: 3000 prompt tokens at $2.5/M + 800 answer tokens at $10/M = $0.0155 -> 16 credits
    assert pricing.credits_for("gpt-4o", 3000, 800) == 16
    assert pricing.credits_for("openai/gpt-4o", 3000, 800) == 16  # provider prefix ignored
    assert pricing.credits_for("gpt-4o-mini", 100, 10) == pricing.MIN_CREDITS
    assert pricing.credits_for(pricing.BUILTIN_MODEL, 10**6, 10**6) == pricing.BUILTIN_CREDITS
    # an unknown model is priced at the default (dear) price: 1000 * 5 + 1000 * 15 = $0.02 -> 20
    assert pricing.credits_for("someone/unknown", 1000, 1000) == 20
    # settlement prices the tokens used, never above the quote or the reservation
    assert pricing.settlement("gpt-4o", 3000, 200, quoted=16, reserved=16) == 10
    assert pricing.settlement("gpt-4o", 30000, 8000, quoted=16, reserved=16) == 16
    assert pricing.settlement("gpt-4o", 30000, 8000, quoted=16, reserved=12) == 12
