"""`atelier inspect`: the JSON-lines contract, directory walking, and exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from libs.cli.main import main

from .builders import png_bytes, text_chunk

CONTRACT_KEYS = {"path", "tool", "prompt", "negative_prompt", "seed", "model", "sampler", "steps", "cfg",
                 "width", "height", "generated_at", "timestamp_source", "timestamp_precision", "error"}  # fmt: skip


def test_json_lines_for_a_walked_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "2024-05-01"
    folder.mkdir()
    (folder / "a.png").write_bytes(
        png_bytes(text_chunk("parameters", "cat\nSteps: 3, Seed: 9, CFG scale: 4"))
    )
    (folder / "broken.jpg").write_bytes(b"not really a jpeg")
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    os.utime(folder / "a.png", (1_700_000_000, 1_700_000_000))

    assert main(["inspect", "--json", str(tmp_path)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [Path(r["path"]).name for r in lines] == ["a.png", "broken.jpg"]
    good, broken = lines
    assert CONTRACT_KEYS <= good.keys()
    assert (good["tool"], good["seed"], good["timestamp_source"], good["timestamp_precision"]) == (
        "a1111", 9, "folder:date", "day")  # fmt: skip
    assert broken["error"] == "not an image: unknown file signature"


def test_readable_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(png_bytes(text_chunk("parameters", "a red fox\nSteps: 3, Seed: 9, CFG scale: 4")))
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "tool=a1111" in out and "prompt: a red fox" in out


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["inspect", str(tmp_path / "missing.png")]) == 2


def test_summary_lists_every_sampler_of_a_multi_sampler_graph(capsys: pytest.CaptureFixture[str]) -> None:
    corpus = Path(__file__).resolve().parents[3].parent / "shared/corpus/real"
    assert main(["inspect", str(corpus / "comfyui/night_evening_day_morning_cropped.png")]) == 0
    out = capsys.readouterr().out
    assert "2 sampler nodes" in out
    assert "#3 KSampler: seed=335608130539327" in out and "#24 KSampler: seed=1122440447966177" in out
