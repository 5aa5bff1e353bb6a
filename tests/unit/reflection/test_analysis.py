"""The analysis on a generated 60-image session names each known edit with the right asset ids."""

from __future__ import annotations

import random

from libs.reflection.analysis import AssetInfo, analyse, color_name
from tests.unit.reflection.session60 import OTHERS, session60


def _ids(assets: list[AssetInfo], rng: range | list[int]) -> set[str]:
    return {assets[i].asset_id for i in rng}


def test_subject_and_themes() -> None:
    assets = session60()
    a = analyse(list(reversed(assets)), OTHERS)  # generation time orders them, not the input order
    assert a.asset_ids == tuple(x.asset_id for x in assets)
    (subject,) = a.of_kind("subject")
    assert subject.data["phrase"] == "lighthouse on a cliff"
    assert set(subject.asset_ids) == _ids(assets, range(60))
    themes = {f.data["phrase"]: f for f in a.of_kind("theme")}
    assert set(themes["golden hour"].asset_ids) == _ids(assets, range(30, 60))
    # "oil painting" is also in another session: it weighs less than "dramatic sky", which is not
    assert themes["oil painting"].data["weight"] < themes["dramatic sky"].data["weight"]
    words = {f.data["word"] for f in a.of_kind("concept")}
    assert {"lighthouse", "cliff"} <= words


def test_style_patterns() -> None:
    assets = session60()
    a = analyse(assets, OTHERS)
    palettes = {f.data["value"]: f for f in a.of_kind("palette")}
    assert set(palettes["blue"].asset_ids) == _ids(assets, range(30))
    assert set(palettes["orange"].asset_ids) == _ids(assets, range(30, 60))
    models = {f.data["value"]: f for f in a.of_kind("model")}
    assert set(models["juggernautXL_v9"].asset_ids) == _ids(assets, range(40))
    assert set(models["dreamshaperXL_turbo"].asset_ids) == _ids(assets, range(40, 60))
    (cfg,) = a.of_kind("cfg_range")
    assert (cfg.data["min"], cfg.data["max"]) == (5.0, 7.0)
    assert [f.data["value"] for f in a.of_kind("aspect_ratio")] == ["1:1"]
    assert [f.data["value"] for f in a.of_kind("sampler")] == ["DPM++ 2M Karras"]


def test_each_edit_named_with_its_asset_ids() -> None:
    assets = session60()
    a = analyse(assets, OTHERS)
    (cfg,) = a.of_kind("cfg_change")
    assert (cfg.data["from"], cfg.data["to"], cfg.data["position"]) == (5.0, 7.0, 31)
    assert cfg.asset_ids == (assets[29].asset_id, assets[30].asset_id)
    assert "CFG 5 -> 7" in cfg.text
    (added,) = a.of_kind("phrase_added")
    assert added.data["phrase"] == "golden hour" and added.data["position"] == 31
    assert set(added.asset_ids) == _ids(assets, range(30, 60))
    (switch,) = a.of_kind("model_switch")
    assert (switch.data["from"], switch.data["to"]) == ("juggernautXL_v9", "dreamshaperXL_turbo")
    assert switch.asset_ids == (assets[39].asset_id, assets[40].asset_id)
    (shift,) = a.of_kind("palette_shift")
    assert (shift.data["from"], shift.data["to"], shift.data["position"]) == ("blue", "orange", 31)
    edits = a.of_kind("edit")
    assert [e.data["position"] for e in edits] == [31, 41]
    assert edits[0].data["added"] == ["golden hour"] and edits[0].data["cfg"] == {"from": 5.0, "to": 7.0}
    assert a.of_kind("seed_reuse") == []  # every seed differs
    phases = a.of_kind("phase")
    assert [(p.data["first"], p.data["last"]) for p in phases] == [(1, 30), (31, 40), (41, 60)]
    assert set(phases[1].asset_ids) == _ids(assets, range(30, 40))
    (conv,) = a.of_kind("convergence")
    assert set(conv.asset_ids) == _ids(assets, range(40, 60))


def test_representatives_cover_the_phases_and_every_fact_cites_known_ids() -> None:
    assets = session60()
    a = analyse(assets, OTHERS)
    reps = [f.data["position"] for f in a.of_kind("representative")]
    phase_of = {p: (0 if p <= 30 else 1 if p <= 40 else 2) for p in range(1, 61)}
    assert {phase_of[p] for p in reps} == {0, 1, 2}
    known = set(a.asset_ids)
    for fact in a.facts:
        assert fact.asset_ids and set(fact.asset_ids) <= known, fact


def test_seed_reuse_near_duplicates_and_standouts_from_pixels() -> None:
    rng = random.Random(3)
    base = session60()[:20]
    assets = []
    for i, x in enumerate(base):
        seed = 7 if i in (5, 6) else x.seed
        phash = 0xF0F0F0F0F0F0F0F0 ^ (1 << rng.randrange(64))
        if i == 12:
            phash = 0x0F0F0F0F0F0F0F0F  # looks like nothing else
        assets.append(
            AssetInfo(**{**x.__dict__, "seed": seed, "phash": phash, "sharpness": 0.8, "exposure": 0.5})
        )
    a = analyse(assets)
    (reuse,) = a.of_kind("seed_reuse")
    assert reuse.asset_ids == (assets[5].asset_id, assets[6].asset_id)
    assert a.of_kind("near_duplicates")
    assert any(f.data["position"] == 13 for f in a.of_kind("standout"))


def test_colour_names() -> None:
    assert color_name("#1e3cc8") == "blue"
    assert color_name("#e6781e") == "orange"
    assert color_name("#ffffff") == "white"
    assert color_name("#101010") == "black"
    assert color_name("nonsense") is None


def test_pixel_features() -> None:
    from PIL import Image, ImageDraw

    from libs.reflection.pixels import features

    flat = Image.new("RGB", (128, 128), (128, 128, 128))
    busy = flat.copy()
    d = ImageDraw.Draw(busy)
    for x in range(0, 128, 8):
        d.line([(x, 0), (x, 127)], fill=(255, 255, 255))
    f, b = features(flat), features(busy)
    assert f["sharpness"] < 0.05 < b["sharpness"]
    assert abs(f["exposure"] - 128 / 255) < 0.01
    assert features(flat.copy())["phash"] == f["phash"]
    assert isinstance(b["phash"], int) and 0 <= b["phash"] < 2**64
