"""read_c2pa against every C2PA file of the real corpus, plus damaged and non-C2PA inputs."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from libs.metadata.c2pa import C2paError, C2paInfo, info_from_store, read_c2pa

CORPUS = Path(__file__).resolve().parents[3].parent / "shared/corpus/real"
EXPECTED: dict[str, dict[str, Any]] = json.loads((CORPUS / "EXPECTED.json").read_text())
C2PA_TOOLS = ("openai", "bing_image_creator", "firefly", "google_gemini")
C2PA_FILES = sorted(key for key, value in EXPECTED.items() if value["tool"] in C2PA_TOOLS)
MIME_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def _read(key: str) -> C2paInfo | None:
    return read_c2pa((CORPUS / key).read_bytes(), MIME_TYPES[EXPECTED[key]["format"]])


def test_the_corpus_has_c2pa_files_of_every_tool() -> None:
    assert {EXPECTED[key]["tool"] for key in C2PA_FILES} == set(C2PA_TOOLS)
    assert len(C2PA_FILES) == 8


@pytest.mark.parametrize("key", C2PA_FILES)
def test_corpus_file_matches_expected(key: str) -> None:
    expected = EXPECTED[key]
    info = _read(key)

    assert info is not None
    assert info.tool == expected["tool"]
    assert info.model == expected["model"]
    assert info.claim_generator == expected["c2pa_claim_generator"]
    assert info.issuer == expected["c2pa_issuer"]
    # EXPECTED's timestamp is `when` when present, else the signing time of the generation manifest.
    generation_time = info.created_when or info.signed_at
    if expected["timestamp"] is None:
        assert generation_time is None
    else:
        assert generation_time == datetime.fromisoformat(expected["timestamp"])
    assert info.manifest_store["manifests"]


def test_bing_when_and_signature_time_are_both_reported() -> None:
    info = _read("bing_image_creator/bing_creator_cloud_surfing_puppy.jpg")
    assert info is not None
    assert info.created_when == datetime.fromisoformat("2024-03-08T20:41:56+00:00")
    assert info.signed_at == info.created_when
    assert [action["action"] for action in info.actions] == ["c2pa.created"]


def test_chatgpt_generation_manifest_is_found_behind_the_active_wrapper() -> None:
    info = _read("openai/ChatGPT_Image.png")
    assert info is not None
    assert info.model == "GPT-4o"
    assert info.signed_at is None and info.created_when is None
    assert (
        info.digital_source_type == "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    )
    # Oldest manifest first: created, converted (generation) then the wrapper's opened.
    assert [action["action"] for action in info.actions] == ["c2pa.created", "c2pa.converted", "c2pa.opened"]
    assert info.ingredients[0]["relationship"] == "parentOf"


def test_firefly_ingredient_inside_a_photoshop_edit_gives_firefly_signing_time() -> None:
    info = _read("firefly/ocsp.jpg")
    assert info is not None
    assert info.manifest_store["active_manifest"].startswith("adobe:")  # Photoshop is the active one
    assert info.signed_at == datetime.fromisoformat("2025-08-13T16:18:11+00:00")
    assert info.issuer == "Adobe Inc."


def test_the_whole_store_is_kept_raw_for_later_validation() -> None:
    # we read without validating (it hashes the whole asset); the raw store allows validating later
    info = _read("openai/ChatGPT_Image.png")
    assert info is not None
    store = info.manifest_store
    assert store["active_manifest"] in store["manifests"]
    assert info_from_store(store) == info


def test_to_dict_is_json_serialisable() -> None:
    info = _read("bing_image_creator/bing_creator_cloud_surfing_puppy.jpg")
    assert info is not None
    as_dict = json.loads(json.dumps(info.to_dict()))
    assert as_dict["created_when"] == "2024-03-08T20:41:56+00:00"
    assert as_dict["tool"] == "bing_image_creator"


@pytest.mark.parametrize(
    "key",
    ["_negative/1000000156.png", "_negative/see-and-rock.webp", "comfyui/flux_00939_.png", "a1111/__1.jpeg"],
)
def test_images_without_manifest_return_none(key: str) -> None:
    assert _read(key) is None


def test_the_label_bytes_without_a_manifest_return_none() -> None:
    # "c2pa" in a text chunk passes the cheap byte check; the SDK then finds no manifest.
    pnginfo = PngImagePlugin.PngInfo()
    pnginfo.add_text("Comment", "no c2pa here")
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG", pnginfo=pnginfo)
    assert read_c2pa(buffer.getvalue(), "image/png") is None


@pytest.mark.parametrize("key", C2PA_FILES)
def test_truncated_file_raises_c2pa_error_or_returns_none(key: str) -> None:
    data = (CORPUS / key).read_bytes()
    start = data.index(b"c2pa")
    for cut in (start + 64, start + 4096, len(data) // 2):
        try:
            info = read_c2pa(data[:cut], MIME_TYPES[EXPECTED[key]["format"]])
        except C2paError as error:
            assert str(error)
        else:
            assert info is None or isinstance(info, C2paInfo)


def test_corrupted_manifest_raises_c2pa_error() -> None:
    data = bytearray((CORPUS / "firefly/cai.jpg").read_bytes())
    start = data.index(b"c2pa")
    for offset in range(start + 16, start + 3000, 7):
        data[offset] ^= 0xFF
    with pytest.raises(C2paError, match="unreadable"):
        read_c2pa(bytes(data), "image/jpeg")


def test_unsupported_bytes_return_none() -> None:
    assert read_c2pa(b"c2pa but not an image", "application/octet-stream") is None


def _manifest(
    claim_generator: str, actions: list[dict[str, Any]], issuer: str, **extra: Any
) -> dict[str, Any]:
    return {
        "claim_generator": claim_generator,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": actions}}],
        "signature_info": {"issuer": issuer, "time": "2025-01-02T03:04:05+00:00"},
        **extra,
    }


def test_signed_camera_photo_has_no_tool() -> None:
    store = {
        "active_manifest": "urn:a",
        "manifests": {
            "urn:a": _manifest(
                "Leica M11-P",
                [
                    {
                        "action": "c2pa.created",
                        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                    }
                ],
                "Leica Camera AG",
            )
        },
    }
    info = info_from_store(store)
    assert info is not None
    assert info.tool is None
    assert info.model is None
    assert info.claim_generator == "Leica M11-P"
    assert info.signed_at == datetime.fromisoformat("2025-01-02T03:04:05+00:00")


def test_plain_photoshop_edit_has_no_tool_and_uses_the_oldest_manifest() -> None:
    store = {
        "active_manifest": "urn:edit",
        "manifests": {
            "urn:edit": _manifest(
                "Adobe_Photoshop/26.9.0",
                [{"action": "c2pa.opened"}],
                "Adobe Inc.",
                ingredients=[{"relationship": "parentOf", "active_manifest": "urn:origin"}],
            ),
            "urn:origin": _manifest("Adobe_Photoshop/26.0.0", [{"action": "c2pa.opened"}], "Adobe Inc."),
        },
    }
    info = info_from_store(store)
    assert info is not None
    assert info.tool is None
    assert info.claim_generator == "Adobe_Photoshop/26.0.0"
    assert [action["manifest"] for action in info.actions] == ["urn:origin", "urn:edit"]


def test_cyclic_ingredient_references_terminate() -> None:
    store = {
        "active_manifest": "urn:a",
        "manifests": {
            "urn:a": _manifest("x", [], "y", ingredients=[{"active_manifest": "urn:b"}]),
            "urn:b": _manifest("x", [], "y", ingredients=[{"active_manifest": "urn:a"}]),
        },
    }
    info = info_from_store(store)
    assert info is not None
    assert len(info.ingredients) == 2


def test_malformed_store_values_do_not_raise() -> None:
    assert info_from_store({"manifests": {}}) is None
    assert info_from_store({"manifests": "nope"}) is None
    info = info_from_store(
        {"active_manifest": 3, "manifests": {"m": {"assertions": "x", "signature_info": [1]}}}
    )
    assert info is not None and info.tool is None and info.signed_at is None
