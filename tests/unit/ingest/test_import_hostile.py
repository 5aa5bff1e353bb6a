"""`import_bytes` on valid-but-unusual files (imported, with what could not be read noted), on hostile
ones (refused with a reason, before any large decode) and on text PostgreSQL would refuse (cleaned
where it enters, so one upload can never fail an import batch)."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from PIL import Image, PngImagePlugin

from libs.common.events import AssetImported, AssetRejected, Event
from services.ingest import repository
from services.ingest.importing import ImportedAsset, Rejection, import_bytes
from services.ingest.settings import IngestSettings

from . import hostile_files as hf

SETTINGS = IngestSettings()
TENANT = uuid.UUID("00000000-0000-0000-0000-0000000000aa")
NUL_PARAMETERS = b"a cat\x00with a NUL\nSteps: 20, Sampler: Euler, Seed: 1"


def imported(data: bytes, settings: IngestSettings = SETTINGS, **upload: object) -> ImportedAsset:
    outcome = import_bytes(data, hf.uploaded(data, **upload), settings)  # type: ignore[arg-type]
    assert isinstance(outcome, ImportedAsset), f"refused: {getattr(outcome, 'reason', None)}"
    return outcome


def refused(data: bytes, settings: IngestSettings = SETTINGS) -> Rejection:
    outcome = import_bytes(data, hf.uploaded(data), settings)
    assert isinstance(outcome, Rejection), f"imported: {outcome}"
    assert outcome.reason and not hf.unstorable(outcome.reason)
    return outcome


def assert_storable(item: ImportedAsset) -> None:
    """Every text ingest writes for this file (row, metadata jsonb, events) is one PostgreSQL takes."""
    record = item.record
    assert hf.unstorable(record.to_json()) == []
    assert hf.unstorable(record.raw) == []
    assert hf.unstorable(record.extra) == []
    row = repository.asset_row(TENANT, item, {"card": "c", "detail": "d"})
    assert hf.unstorable(list(row)) == []
    json.dumps(repository.metadata_json(record), allow_nan=False)
    u = item.uploaded
    Event.of(
        AssetImported(asset_id=u.asset_id, sha256=u.sha256, filename=u.filename, tool=record.tool,
                      prompt=record.prompt, model=record.model, width=1, height=1),
        tenant_id=TENANT,
    ).to_bytes()  # fmt: skip


# ------------------------------------------------------------------ text PostgreSQL would refuse


def test_nul_inside_a_png_text_chunk_is_removed_and_the_parameters_still_read() -> None:
    item = imported(hf.text_png("parameters", NUL_PARAMETERS))
    r = item.record
    assert r.tool == "a1111"
    assert r.prompt == "a catwith a NUL"
    assert (r.steps, r.sampler, r.seed) == (20, "Euler", 1)
    assert_storable(item)


def test_raw_keeps_the_text_with_its_nul_losslessly() -> None:
    r = imported(hf.text_png("parameters", NUL_PARAMETERS)).record
    assert r.raw["png_text"]["parameters"] == NUL_PARAMETERS.decode().replace("\x00", "")
    original = r.raw["original_text_utf8_base64"]["/png_text/parameters"]
    assert base64.b64decode(original) == NUL_PARAMETERS


def test_lone_surrogates_and_nul_from_json_escapes_are_cleaned_everywhere() -> None:
    # a JSON text chunk is plain ASCII in the file; parsing its escapes makes a NUL and lone surrogates
    meta = (
        '{"positive_prompt": "a \\ud800 cat\\u0000", "negative_prompt": "blur\\udfff", "seed": 7, "steps": 9,'
        ' "cfg_scale": 5, "scheduler": "euler\\u0000", "model": {"model_name": "m\\ud83d"}, "x\\u0000": ["\\udc80"]}'
    )
    item = imported(hf.text_png("invokeai_metadata", meta.encode()))
    r = item.record
    assert r.tool == "invokeai"
    assert r.prompt == "a \ufffd cat" and r.negative_prompt == "blur\ufffd"
    assert (r.seed, r.steps) == (7, 9)
    assert_storable(item)


def test_upload_fields_with_nul_and_lone_surrogates_are_cleaned() -> None:
    data = hf.text_png("parameters", b"a cat\nSteps: 20, Sampler: Euler, Seed: 1")
    item = imported(
        data,
        filename="nul\x00name\udcff.png",
        folder="2025-01-01\x00evil\udcfe",
        sidecar={"creation_date": "2025-01-01T10:00:00Z", "note": "a\x00b", "k\udcff": ["\x00"]},
    )
    u = item.uploaded
    assert u.filename == "nulname\ufffd.png"
    assert u.folder == "2025-01-01evil\ufffd"
    assert u.sidecar == {"creation_date": "2025-01-01T10:00:00Z", "note": "ab", "k\ufffd": [""]}
    assert item.record.path == "nulname\ufffd.png"
    assert item.record.timestamp_source == "sidecar:creation_date"
    assert_storable(item)


def test_a_rejection_of_an_upload_with_a_nul_name_is_storable() -> None:
    outcome = import_bytes(b"not an image", hf.uploaded(b"not an image", "bad\x00name\udcff.png"), SETTINGS)
    assert isinstance(outcome, Rejection)
    assert outcome.uploaded.filename == "badname\ufffd.png"
    assert hf.unstorable(list(repository.quarantine_row(TENANT, outcome))) == []
    u = outcome.uploaded
    Event.of(
        AssetRejected(asset_id=u.asset_id, filename=u.filename, reason=outcome.reason), tenant_id=TENANT
    ).to_bytes()


def test_rejections_made_outside_import_bytes_are_clean_too() -> None:
    # the handler quarantines a missing original (and, after repeated failures, a poison event) itself
    outcome = Rejection(hf.uploaded(b"x", "a\x00b.png", folder="\udcff"), "reason with \x00 and \udcff")
    assert outcome.uploaded.filename == "ab.png" and outcome.uploaded.folder == "\ufffd"
    assert outcome.reason == "reason with  and \ufffd"


def test_a_nan_in_exif_does_not_reach_the_metadata_json() -> None:
    item = imported(hf.exif_float_jpeg(float("nan")), filename="nan.jpg")
    assert_storable(item)


def test_numbers_the_asset_columns_cannot_hold_stay_in_the_metadata_only() -> None:
    text = b"a cat\nSteps: 99999999999, Sampler: Euler, Seed: 123456789012345678901234567890"
    item = imported(hf.text_png("parameters", text))
    assert item.record.steps == 99999999999
    row = repository.asset_row(TENANT, item, {})
    columns = dict(zip(repository.ASSET_COLUMNS, row, strict=True))
    assert columns["steps"] is None and columns["seed"] is None
    metadata = repository.metadata_json(item.record)
    assert metadata["steps"] == 99999999999 and metadata["seed"] == 123456789012345678901234567890


# ------------------------------------------------------------------ valid but unusual: imported


def test_webp_with_garbage_exif_is_imported_with_the_exif_noted() -> None:
    item = imported(hf.garbage_exif_webp(), filename="garbage_exif.webp")
    assert (item.image.format, item.image.width, item.image.height) == ("WEBP", 64, 64)
    problems = [item.record.error, *item.record.extra.get("warnings", [])]
    assert any(p and "EXIF" in p for p in problems), problems
    assert_storable(item)


def test_jpeg_with_the_same_garbage_exif_is_imported() -> None:
    item = imported(hf.garbage_exif_jpeg(), filename="garbage_exif.jpg")
    assert item.image.format == "JPEG"


def test_webp_whose_exif_chunk_claims_2_gb_is_imported_from_the_image_data_before_it() -> None:
    item = imported(hf.huge_exif_length_webp(), filename="huge_exif_len.webp")
    assert (item.image.format, item.image.width, item.image.height) == ("WEBP", 64, 64)
    problems = [item.record.error, *item.record.extra.get("warnings", [])]
    assert any(p and "EXIF" in p for p in problems), problems


@pytest.mark.parametrize("writer", [hf.ztxt_png, hf.itxt_compressed_png], ids=["zTXt", "iTXt"])
def test_a_2_mb_compressed_comfyui_workflow_is_imported_whole(writer: object) -> None:
    workflow = hf.comfy_workflow()
    item = imported(writer("workflow", workflow))  # type: ignore[operator]
    assert item.record.raw["png_text"]["workflow"] == workflow.decode()
    assert PngImagePlugin.MAX_TEXT_CHUNK == SETTINGS.max_png_text_chunk_bytes


def test_the_configured_pixel_limit_is_the_only_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # whatever lowered Pillow's own limit before (the stealth reader did, to 64 M), the setting decides
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    imported(hf.png(20, 20))
    small = IngestSettings(max_image_pixels=10_000)
    imported(hf.png(100, 100), small)
    assert "10,100 pixels exceed 10,000" in refused(hf.png(101, 100), small).reason


def test_an_image_just_under_the_80_m_pixel_limit_is_imported() -> None:
    imported(hf.png(4, 4))  # a PNG without metadata: the stealth reader looks at its pixels first
    item = imported(hf.near_limit_png(), filename="near_limit_8944.png")
    assert (item.image.width, item.image.height) == (8944, 8944)
    assert item.image.width * item.image.height < SETTINGS.max_image_pixels


def test_ten_1_mb_text_chunks_are_imported() -> None:
    # 10 MB of plain text, each chunk under the per-chunk limit, all under the per-file one: an
    # unusual file, not a bomb (its text is really in the file), so it imports
    item = imported(hf.text_chunks_png())
    assert len(item.record.raw["png_text"]) == 10


# ------------------------------------------------------------------ hostile: refused with a reason


def test_a_declared_60000_square_png_is_refused_before_decoding() -> None:
    started = time.perf_counter()
    rejection = refused(hf.declared_png(60000, 60000, 200))
    assert time.perf_counter() - started < 2
    assert "3,600,000,000 pixels exceed 80,000,000" in rejection.reason


def test_a_gif_claiming_65535_square_is_refused() -> None:
    refused(hf.huge_gif())


def test_a_ztxt_bomb_is_refused() -> None:
    bomb = hf.ztxt_png("prompt", b"B" * (SETTINGS.max_png_text_chunk_bytes + (1 << 20)))
    assert "text" in refused(bomb).reason


def test_a_png_with_more_chunks_than_the_reader_walks_is_refused() -> None:
    assert "chunks" in refused(hf.many_chunks_png()).reason


@pytest.mark.parametrize(
    "cut", [lambda d: d[: len(d) // 2], lambda d: d[:20]], ids=["truncated_half", "truncated_header"]
)
def test_truncated_pngs_are_refused(cut: object) -> None:
    refused(cut(hf.png(64, 64, (200, 10, 10))))  # type: ignore[operator]


def test_a_png_missing_only_its_iend_is_imported_with_the_damage_noted() -> None:
    data = hf.png(64, 64, (200, 10, 10))
    item = imported(data[:-12])
    assert item.record.error is not None and "IEND" in item.record.error


@pytest.mark.parametrize("data", [b"", b"hello, this is not a png\n" * 100], ids=["empty", "text"])
def test_not_an_image_is_refused(data: bytes) -> None:
    refused(data)
