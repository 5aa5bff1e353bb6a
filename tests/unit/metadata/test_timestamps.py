"""The time ladder: one test per rung, zone handling and DST, and the parsers it relies on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from libs.metadata import read_generation
from libs.metadata.timestamps import (
    Rung,
    TimeCandidate,
    date_from_folder,
    parse_time_text,
    pick_generation_time,
    time_from_filename,
)

from .builders import png_bytes, text_chunk

NEW_YORK = ZoneInfo("America/New_York")


def candidates() -> list[TimeCandidate]:
    return [
        TimeCandidate(Rung.FILE_MTIME, "file_mtime", datetime(2024, 1, 5, 12, 0, tzinfo=UTC)),
        TimeCandidate(Rung.NAME, "filename:fooocus", datetime(2024, 1, 4, 10, 0)),
        TimeCandidate(Rung.SIGNATURE, "c2pa:signature", datetime(2024, 1, 3, 9, 0, tzinfo=UTC)),
        TimeCandidate(Rung.EMBEDDED, "png:Creation Time", datetime(2024, 1, 2, 8, 0, tzinfo=UTC)),
    ]


def test_embedded_time_wins_over_every_other_rung() -> None:
    assert pick_generation_time(candidates()).source == "png:Creation Time"  # type: ignore[union-attr]


def test_signature_wins_over_name_and_mtime() -> None:
    assert pick_generation_time(candidates()[:3]).source == "c2pa:signature"  # type: ignore[union-attr]


def test_name_wins_over_mtime_and_is_read_in_the_tenant_zone() -> None:
    resolved = pick_generation_time(candidates()[:2], NEW_YORK)
    assert resolved is not None and resolved.source == "filename:fooocus"
    assert resolved.at.isoformat() == "2024-01-04T10:00:00-05:00"


def test_mtime_is_the_last_resort() -> None:
    resolved = pick_generation_time(candidates()[:1])
    assert resolved is not None and (resolved.source, resolved.precision) == ("file_mtime", "second")


def test_no_candidate_gives_none() -> None:
    assert pick_generation_time([]) is None


def test_first_proposed_wins_within_a_rung() -> None:
    a = TimeCandidate(Rung.EMBEDDED, "infotext:Created Date", datetime(2024, 1, 1, tzinfo=UTC))
    b = TimeCandidate(Rung.EMBEDDED, "xmp:photoshop:DateCreated", datetime(2023, 1, 1, tzinfo=UTC))
    assert pick_generation_time([a, b]).source == "infotext:Created Date"  # type: ignore[union-attr]


def test_date_only_is_day_precision_at_local_midnight() -> None:
    resolved = pick_generation_time([TimeCandidate(Rung.EMBEDDED, "swarmui", date(2024, 7, 1))], NEW_YORK)
    assert resolved is not None
    assert (resolved.at.isoformat(), resolved.precision) == ("2024-07-01T00:00:00-04:00", "day")


def test_aware_times_keep_their_offset() -> None:
    value = datetime(2024, 3, 8, 20, 41, 56, tzinfo=UTC)
    resolved = pick_generation_time([TimeCandidate(Rung.EMBEDDED, "c2pa", value)], NEW_YORK)
    assert resolved is not None and resolved.at == value and resolved.at.utcoffset() == timedelta(0)


def test_dst_gap_and_overlap_in_the_tenant_zone() -> None:
    # 2024-03-10 02:30 does not exist in New York (clocks jump 02:00 → 03:00)
    gap = pick_generation_time([TimeCandidate(Rung.NAME, "n", datetime(2024, 3, 10, 2, 30))], NEW_YORK)
    assert gap is not None and gap.at.isoformat() == "2024-03-10T03:30:00-04:00"
    # 2024-11-03 01:30 happens twice; the first occurrence (EDT) is taken
    overlap = pick_generation_time([TimeCandidate(Rung.NAME, "n", datetime(2024, 11, 3, 1, 30))], NEW_YORK)
    assert overlap is not None and overlap.at.utcoffset() == timedelta(hours=-4)
    # summer and winter wall times get their own offsets
    summer = pick_generation_time([TimeCandidate(Rung.NAME, "n", datetime(2024, 7, 1, 12))], NEW_YORK)
    assert summer is not None and summer.at.utcoffset() == timedelta(hours=-4)


def test_parse_formats_seen_in_real_files() -> None:
    assert parse_time_text("Thu, 25 Jun 2026 01:46:47 GMT") == datetime(2026, 6, 25, 1, 46, 47, tzinfo=UTC)
    assert parse_time_text("2024-05-18T11:28:26.9555996Z") == datetime(
        2024, 5, 18, 11, 28, 26, 955599, tzinfo=UTC
    )
    assert parse_time_text("2026-01-01T17:20:10+00:00") == datetime(2026, 1, 1, 17, 20, 10, tzinfo=UTC)
    assert parse_time_text("2020-06-07T05:22:52-07:00") == datetime(
        2020, 6, 7, 5, 22, 52, tzinfo=timezone(timedelta(hours=-7))
    )
    assert parse_time_text("2013:10:21 15:19:01") == datetime(2013, 10, 21, 15, 19, 1)
    assert parse_time_text("2025-08-04") == date(2025, 8, 4)
    assert parse_time_text("not a date") is None
    assert parse_time_text("2024-13-45T00:00:00Z") is None


def test_filename_patterns() -> None:
    fooocus = time_from_filename("2024-05-01_13-45-09_1234.png")
    assert fooocus is not None and (fooocus.source, fooocus.value) == (
        "filename:fooocus",
        datetime(2024, 5, 1, 13, 45, 9),
    )
    civitai = time_from_filename("Elysian_e000001_02_20250321072508.png")
    assert civitai is not None and civitai.value == datetime(2025, 3, 21, 7, 25, 8)
    assert time_from_filename("00012-20240501-134509.png").value == datetime(2024, 5, 1, 13, 45, 9)  # type: ignore[union-attr]
    assert time_from_filename("shot 2024-05-01 13-45-09.png").value == datetime(2024, 5, 1, 13, 45, 9)  # type: ignore[union-attr]
    assert time_from_filename("ComfyUI_07052_.png") is None
    assert time_from_filename("seed_99999999999999.png") is None  # 14 digits but not a plausible date


def test_date_folder() -> None:
    found = date_from_folder("outputs/2024-05-01")
    assert found is not None and (found.source, found.value) == ("folder:date", date(2024, 5, 1))
    assert date_from_folder("outputs") is None


def test_read_generation_walks_the_ladder_down_to_mtime() -> None:
    data = png_bytes(text_chunk("parameters", "cat\nSteps: 1, Seed: 2, CFG scale: 3"))
    mtime = datetime(2024, 2, 2, 2, 2, 2, tzinfo=UTC)
    by_name = read_generation(
        data, filename="2024-05-01_13-45-09_1234.png", file_mtime=mtime, tenant_tz=NEW_YORK
    )
    assert (by_name.timestamp_source, by_name.generated_at.isoformat()) == (  # type: ignore[union-attr]
        "filename:fooocus", "2024-05-01T13:45:09-04:00")  # fmt: skip
    by_folder = read_generation(data, filename="x.png", folder="2024-05-01", file_mtime=mtime)
    assert (by_folder.timestamp_source, by_folder.timestamp_precision) == ("folder:date", "day")
    by_mtime = read_generation(data, filename="x.png", file_mtime=mtime)
    assert (by_mtime.timestamp_source, by_mtime.generated_at) == ("file_mtime", mtime)


def test_sidecar_enqueue_time_is_embedded_rung() -> None:
    data = png_bytes(text_chunk("parameters", "cat\nSteps: 1, Seed: 2, CFG scale: 3"))
    record = read_generation(
        data, filename="2024-05-01_13-45-09_1.png", sidecar={"enqueue_time": "2023-04-05T06:07:08.123Z"}
    )
    assert record.timestamp_source == "sidecar:enqueue_time"
    assert record.generated_at == datetime(2023, 4, 5, 6, 7, 8, 123000, tzinfo=UTC)
