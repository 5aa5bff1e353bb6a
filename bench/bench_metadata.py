"""Metadata extraction: speed and field accuracy on the real corpus, ours vs sd-parsers 0.6.

Rows:
- files/s of `read_generation` on bytes already in memory, with sd-parsers 0.6 (ParserManager
  on the same bytes) as the baseline measured in the same run;
- files/s on the PNG files against the floor of just walking their chunks;
- field accuracy on EXPECTED.json (same scoring as tests/unit/metadata/test_corpus.py);
- the share of our time spent inside c2pa-python (only called when a manifest box is present).

Run: `uv run python bench/run.py metadata`.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.unit.metadata.corpus_scoring

from libs.metadata import c2pa as c2pa_module  # noqa: E402
from libs.metadata import read_generation  # noqa: E402
from libs.metadata.containers import read_png, sniff_format  # noqa: E402
from tests.unit.metadata.corpus_scoring import CORPUS, load_expected, score_file  # noqa: E402

MIN_SECONDS = 2.0  # repeat each measurement at least this long for a stable rate
SD_PARSERS_TOOLS = {
    "AUTOMATIC1111": "a1111",
    "ComfyUI": "comfyui",
    "InvokeAI": "invokeai",
    "NovelAI": "novelai",
    "Fooocus": "fooocus",
}


def files_per_second(func: Callable[[bytes], Any], blobs: list[bytes]) -> float:
    for blob in blobs:  # warm-up: imports, caches
        func(blob)
    rounds, started = 0, time.perf_counter()
    while True:
        for blob in blobs:
            func(blob)
        rounds += 1
        elapsed = time.perf_counter() - started
        if elapsed >= MIN_SECONDS:
            return rounds * len(blobs) / elapsed


def sd_parsers_record(data: bytes) -> dict[str, Any]:
    """sd-parsers' answer mapped onto our JSON fields (None where it has nothing)."""
    from PIL import Image
    from sd_parsers import ParserManager

    manager = _sd_parsers_manager(ParserManager)
    out: dict[str, Any] = dict.fromkeys(("tool", "prompt", "negative_prompt", "seed", "model", "sampler"))
    out.update(steps=None, cfg=None, width=None, height=None, generated_at=None, timestamp_source=None)
    try:
        with Image.open(io.BytesIO(data)) as image:
            out["width"], out["height"] = image.size
            info = manager.parse(image)
    except Exception:
        return out
    if info is None:
        return out
    out["tool"] = SD_PARSERS_TOOLS.get(getattr(info.generator, "value", ""), None)
    try:
        out["prompt"] = info.full_prompt or None
        out["negative_prompt"] = info.full_negative_prompt or None
    except Exception:
        pass
    if len(info.samplers) == 1:
        sampler = info.samplers[0]
        params = sampler.parameters
        out["sampler"] = sampler.name
        out["seed"] = _int(params.get("seed"))
        out["steps"] = _int(params.get("steps"))
        out["cfg"] = _float(params.get("cfg_scale"))
        out["model"] = sampler.model.name if sampler.model else None
    if out["model"] is None:
        models = list(info.models)
        out["model"] = models[0].name if len(models) == 1 else None
    return out


_MANAGER: list[Any] = []


def _sd_parsers_manager(factory: Any) -> Any:
    if not _MANAGER:
        _MANAGER.append(factory())
    return _MANAGER[0]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def accuracy(results: dict[str, dict[str, Any]]) -> float:
    total = missed = 0
    for name, expected in load_expected().items():
        scored, misses = score_file(name, expected, results[name])
        total += scored
        missed += len(misses)
    return 1 - missed / total


def c2pa_time_share(blobs: list[bytes]) -> float:
    """Fraction of one pass of read_generation spent in c2pa-python's reader."""
    spent = [0.0]
    original = c2pa_module.read_c2pa

    def timed(data: bytes, mime_type: str) -> Any:
        started = time.perf_counter()
        try:
            return original(data, mime_type)
        finally:
            spent[0] += time.perf_counter() - started

    c2pa_module.read_c2pa = timed
    try:
        started = time.perf_counter()
        for blob in blobs:
            read_generation(blob)
        total = time.perf_counter() - started
    finally:
        c2pa_module.read_c2pa = original
    return spent[0] / total


def run() -> list[dict]:
    names = list(load_expected())
    blobs = [(CORPUS / name).read_bytes() for name in names]
    pngs = [b for b in blobs if sniff_format(b) == "PNG"]

    # accuracy first, on a fresh sd-parsers ParserManager: one that has parsed the corpus many times
    # over in the timing loops scores differently (74-76 % between runs), so its state carries over
    _MANAGER.clear()
    theirs = {n: sd_parsers_record(b) for n, b in zip(names, blobs, strict=True)}
    ours = {
        n: read_generation(b, filename=(CORPUS / n).name).to_json() for n, b in zip(names, blobs, strict=True)
    }

    ours_rate = files_per_second(read_generation, blobs)
    theirs_rate = files_per_second(sd_parsers_record, blobs)
    # sd-parsers does not read C2PA at all; compare on the files both of us actually parse too
    plain = [b for b in blobs if b"c2pa" not in b]
    ours_plain = files_per_second(read_generation, plain)
    theirs_plain = files_per_second(sd_parsers_record, plain)
    ours_png = files_per_second(read_generation, pngs)
    floor_png = files_per_second(read_png, pngs)

    ours_acc, theirs_acc = accuracy(ours), accuracy(theirs)
    share = c2pa_time_share(blobs)
    return [
        {
            "name": f"metadata: corpus files/s ({len(blobs)} real files)",
            "value": ours_rate,
            "unit": "files/s",
            "baseline": "sd-parsers 0.6",
            "baseline_value": theirs_rate,
            "ratio": ours_rate / theirs_rate,
        },
        {
            "name": f"metadata: files/s without C2PA ({len(plain)} files)",
            "value": ours_plain,
            "unit": "files/s",
            "baseline": "sd-parsers 0.6",
            "baseline_value": theirs_plain,
            "ratio": ours_plain / theirs_plain,
        },
        {
            "name": f"metadata: PNG files/s ({len(pngs)} files)",
            "value": ours_png,
            "unit": "files/s",
            "baseline": "floor: walk PNG chunks only",
            "baseline_value": floor_png,
            "ratio": ours_png / floor_png,
        },
        {
            "name": "metadata: field accuracy on EXPECTED.json",
            "value": ours_acc * 100,
            "unit": "%",
            "baseline": "sd-parsers 0.6",
            "baseline_value": theirs_acc * 100,
            "ratio": ours_acc / theirs_acc if theirs_acc else None,
        },
        {
            "name": "metadata: share of time in c2pa-python",
            "value": share * 100,
            "unit": "%",
            "baseline": None,
            "baseline_value": None,
            "ratio": None,
        },
    ]
