"""The reader's record holds only text PostgreSQL and JSON encoders accept: no NUL, no lone
surrogates, wherever they came from; raw text keeps what cleaning removed, losslessly."""

from __future__ import annotations

import base64
import json
from typing import Any

from libs.metadata import GenerationRecord, read_generation
from libs.metadata.reader import ORIGINAL_TEXT_KEY, clean_raw

from .builders import png_bytes, text_chunk


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def assert_storable(record: GenerationRecord) -> None:
    for s in _strings(record.to_json()) + _strings(record.raw) + _strings(record.extra):
        assert "\x00" not in s
        s.encode("utf-8")
    json.dumps(record.to_json(), allow_nan=False)


def test_a_nul_in_a1111_parameters() -> None:
    text = "a cat\x00with a NUL\nSteps: 20, Sampler: Euler, Seed: 1"
    record = read_generation(png_bytes(text_chunk("parameters", text)))
    assert (record.prompt, record.steps, record.sampler, record.seed) == ("a catwith a NUL", 20, "Euler", 1)
    assert record.raw["png_text"]["parameters"] == text.replace("\x00", "")
    assert base64.b64decode(record.raw[ORIGINAL_TEXT_KEY]["/png_text/parameters"]).decode() == text
    assert_storable(record)


def test_escapes_in_a_comfyui_graph_become_storable_text() -> None:
    graph = {
        "3": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 10, "cfg": 7, "sampler_name": "euler\u0000",
              "positive": ["6", 0], "negative": ["7", 0], "model": ["4", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "model\ud800.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a \ud83d cat\u0000"}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry\udfff"}},
    }  # fmt: skip
    # json.dumps writes the NUL and the lone surrogates as ASCII escapes: the chunk itself is clean
    record = read_generation(png_bytes(text_chunk("prompt", json.dumps(graph))))
    assert record.tool == "comfyui"
    assert record.prompt == "a \ufffd cat" and record.negative_prompt == "blurry\ufffd"
    assert record.seed == 5
    assert ORIGINAL_TEXT_KEY not in record.raw  # the raw chunk needed no cleaning
    assert_storable(record)


def test_sidecar_keys_and_file_name_are_cleaned() -> None:
    record = read_generation(
        png_bytes(), filename="a\x00b\udcff.png", folder="x\x00", sidecar={"k\x00": 1, "\udcff": 2}
    )
    assert record.path == "ab\ufffd.png"
    assert_storable(record)


def test_notes_are_cleaned() -> None:
    record = GenerationRecord()
    record.note_error("first \x00")
    record.note_error("second \udcff")
    assert record.error == "first " and record.extra["warnings"] == ["second \ufffd"]


def test_clean_raw_names_each_original_by_its_json_pointer() -> None:
    raw = {"png_text": {"a/b~c": "x\x00y"}, "list": ["ok", "\ud800"]}
    cleaned = clean_raw(raw)
    assert cleaned["png_text"] == {"a/b~c": "xy"} and cleaned["list"] == ["ok", "\ufffd"]
    originals = cleaned[ORIGINAL_TEXT_KEY]
    assert base64.b64decode(originals["/png_text/a~1b~0c"]) == b"x\x00y"
    assert base64.b64decode(originals["/list/1"]).decode("utf-8", "surrogatepass") == "\ud800"
    assert clean_raw({"t": "clean"}) == {"t": "clean"}
