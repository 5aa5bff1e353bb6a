"""Hostile and damaged input: a record with a clear `error`, never an exception or a hang."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.metadata import read_generation, read_generation_file
from libs.metadata.containers import MAX_DECOMPRESSED_TEXT_BYTES
from libs.metadata.xmp import parse_xmp

from .builders import PNG_SIGNATURE, png_bytes, png_chunk, text_chunk
from .corpus_scoring import CORPUS, load_expected

# small and medium corpus files: mutating a 3 MB file per example would make the run slow
SEED_FILES = [n for n in load_expected() if (CORPUS / n).stat().st_size < 1_000_000]
SEEDS = {n: (CORPUS / n).read_bytes() for n in SEED_FILES}


def test_not_an_image() -> None:
    record = read_generation(b"hello, I am a text file")
    assert record.error == "not an image: unknown file signature"
    assert record.format is None


def test_empty_input() -> None:
    assert read_generation(b"").error is not None


def test_truncated_png_keeps_what_was_read_before_the_cut() -> None:
    data = png_bytes(text_chunk("parameters", "cat\nSteps: 1, Seed: 2, CFG scale: 3"))
    record = read_generation(data[: len(data) - 20])
    assert record.seed == 2
    assert record.error is not None and "truncated" in record.error


def test_chunk_claiming_a_huge_length() -> None:
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    data = PNG_SIGNATURE + ihdr + struct.pack(">I", 0x7FFFFFF0) + b"tEXt" + b"x" * 100
    record = read_generation(data)
    assert record.error is not None and "more than the file holds" in record.error


def test_bad_crc_chunk_is_skipped_and_reported() -> None:
    body = b"parameters\x00cat\nSteps: 1, Seed: 2, CFG scale: 3"
    record = read_generation(png_bytes(png_chunk(b"tEXt", body, crc=12345)))
    assert record.tool is None
    assert record.error is not None and "bad CRC" in record.error


def test_ztxt_decompression_bomb_is_refused() -> None:
    bomb = zlib.compress(b"\x00" * (MAX_DECOMPRESSED_TEXT_BYTES + 1024), 9)
    record = read_generation(png_bytes(png_chunk(b"zTXt", b"parameters\x00\x00" + bomb)))
    assert record.error is not None and "decompression bomb" in record.error


def test_nan_in_comfy_json_is_a_clean_error() -> None:
    record = read_generation(
        png_bytes(text_chunk("prompt", '{"3": {"class_type": "KSampler", "inputs": {"cfg": NaN}}}'))
    )
    assert record.tool == "comfyui"
    assert record.error is not None and "NaN" in record.error
    json.dumps(record.to_json(), allow_nan=False)


def test_malformed_comfy_json_is_a_clean_error() -> None:
    record = read_generation(png_bytes(text_chunk("prompt", '{"3": {"class_type": ')))
    assert record.error is not None and "not valid JSON" in record.error


def test_deeply_nested_json_is_a_clean_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    record = read_generation(png_bytes(text_chunk("prompt", deep)))
    assert record.error is not None and "nested too deeply" in record.error


def test_deep_comfy_graph_chain_does_not_crash() -> None:
    graph = {
        str(i): {"class_type": "CLIPTextEncode", "inputs": {"text": [str(i + 1), 0]}} for i in range(5000)
    }
    graph["s"] = {"class_type": "KSampler", "inputs": {"seed": 1, "positive": ["0", 0], "negative": ["0", 0]}}
    record = read_generation(png_bytes(text_chunk("prompt", json.dumps(graph))))
    assert record.tool == "comfyui"


def test_xmp_with_entities_is_refused() -> None:
    lol = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>'
    with pytest.raises(Exception, match="DOCTYPE"):
        parse_xmp(lol)


def test_missing_file_gives_a_record(tmp_path: Path) -> None:
    record = read_generation_file(tmp_path / "nope.png")
    assert record.error is not None and "could not read file" in record.error


def _corrupt(data: bytes, kind: str, position: int, value: int) -> bytes:
    if not data:
        return data
    at = position % len(data)
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ (1 << (value % 8))]) + data[at + 1 :]
    if kind == "truncate":
        return data[:at]
    if kind == "huge_length":  # overwrite 4 bytes with a huge big-endian length
        return data[:at] + struct.pack(">I", 0x7FFF0000 | value & 0xFFFF) + data[at + 4 :]
    if kind == "chunk_length":  # corrupt the length field of a real chunk/segment
        hits = [
            i
            for i in range(8, min(len(data), 200_000))
            if data[i : i + 4] in (b"tEXt", b"iTXt", b"zTXt", b"IDAT")
        ]
        if hits:
            i = hits[value % len(hits)] - 4
            return data[:i] + struct.pack(">I", value * 7919 % 0xFFFFFFFF) + data[i + 4 :]
        return data
    return data[:at] + b"\xff" * (value % 64) + data[at:]  # insert junk


@settings(max_examples=120, deadline=2000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(
    name=st.sampled_from(SEED_FILES),
    mutations=st.lists(
        st.tuples(
            st.sampled_from(["flip", "truncate", "huge_length", "chunk_length", "insert"]),
            st.integers(min_value=0, max_value=2**31),
            st.integers(min_value=0, max_value=2**16),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_corpus_files_never_raise(name: str, mutations: list[tuple[str, int, int]]) -> None:
    data = SEEDS[name]
    for kind, position, value in mutations:
        data = _corrupt(data, kind, position, value)
    record = read_generation(data, filename=name)
    # "unexpected ..." is the safety net catching a bug of ours, not a clean reason
    assert record.error is None or not record.error.startswith("unexpected")
    json.dumps(record.to_json(), allow_nan=False)
