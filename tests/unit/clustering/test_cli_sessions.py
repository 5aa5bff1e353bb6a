"""`atelier sessions segment` runs the service's segmentation over a CSV, offline."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from libs.cli.main import main
from libs.sessions.segmentation import DEFAULT_RULE, ContentGap, Moment, segment


def write(tmp_path: Path, rows: list[str]) -> str:
    path = tmp_path / "times.csv"
    path.write_text("\n".join(["tenant,timestamp", *rows]) + "\n", encoding="utf-8")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> list[list[str]]:
    assert main(["sessions", "segment", *argv]) == 0
    return [line.split(",") for line in capsys.readouterr().out.splitlines()]


def test_segments_each_tenant_and_keeps_input_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = write(
        tmp_path,
        [
            "ana,2024-03-09T17:05:00+01:00",  # ana's second session, listed first
            "ana,2024-03-09T14:00:00+01:00",
            "bo,2024-03-09T14:00:00Z",
            "ana,2024-03-09T14:10:00+01:00",
            "ana,",  # no time: no session
            "ana,2024-03-09T17:00:00+01:00",
            "bo,2024-03-09",  # day precision: a session of its own
        ],
    )
    out = run(capsys, "--input", csv, "--gap", "30")
    assert out[0] == ["tenant", "timestamp", "session"]
    assert [row[2] for row in out[1:]] == ["ana-s2", "ana-s1", "bo-s2", "ana-s1", "", "ana-s2", "bo-s1"]
    assert [row[1] for row in out[1:]][:2] == ["2024-03-09T17:05:00+01:00", "2024-03-09T14:00:00+01:00"]


def test_naive_times_are_read_in_the_given_zone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 01:50 and 03:10 in Berlin on the spring-forward night are only 20 real minutes apart
    csv = write(tmp_path, ["t,2024-03-31T01:50:00", "t,2024-03-31T03:10:00"])
    berlin = run(capsys, "--input", csv, "--gap", "30", "--tz", "Europe/Berlin")
    utc = run(capsys, "--input", csv, "--gap", "30")
    assert [r[2] for r in berlin[1:]] == ["t-s1", "t-s1"]
    assert [r[2] for r in utc[1:]] == ["t-s1", "t-s2"]


def test_the_default_rule_finds_the_products_two_sessions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [f"me,2024-03-09T14:{round(i * 60 / 19) % 60:02d}:00+00:00" for i in range(19)]
    rows += ["me,2024-03-09T15:00:00+00:00"]
    rows += [f"me,2024-03-09T17:{i * 2:02d}:00+00:00" for i in range(15)]
    out = run(capsys, "--input", write(tmp_path, rows))
    labels = [r[2] for r in out[1:]]
    assert labels == ["me-s1"] * 20 + ["me-s2"] * 15


def test_a_file_without_the_columns_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("who,when\nx,2024-01-01T00:00:00Z\n", encoding="utf-8")
    assert main(["sessions", "segment", "--input", str(path)]) == 2
    assert "timestamp" in capsys.readouterr().err


def write_rows(tmp_path: Path, header: str, rows: list[str]) -> str:
    path = tmp_path / "made.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return str(path)


def two_bursts(gap_minutes: int) -> list[tuple[str, str, str, str, str]]:
    """Ten prompts a minute apart, a pause, five more: (timestamp, prompt, model, tool, seed)."""
    rows = []
    for i in range(10):
        rows.append((f"2024-03-09T14:{i:02d}:00+00:00", "red fox in snow, oil painting, by monet", "sdxl", "comfyui", str(100 + i)))  # fmt: skip
    start = 9 + gap_minutes
    for i in range(5):
        minute = start + i
        rows.append((f"2024-03-09T{14 + minute // 60}:{minute % 60:02d}:00+00:00", "red fox in snow, oil painting, by monet, wide angle", "sdxl", "comfyui", str(100 + i)))  # fmt: skip
    return rows


def test_times_only_give_exactly_the_time_rules_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file of times alone, and the same file with empty content columns: the time rule's sessions."""
    assert isinstance(DEFAULT_RULE, ContentGap)
    rows = two_bursts(45)
    times = run(capsys, "--input", write_rows(tmp_path, "tenant,timestamp", [f"me,{r[0]}" for r in rows]))
    empty = run(capsys, "--input", write_rows(tmp_path, "tenant,timestamp,prompt,model,tool,seed", [f"me,{r[0]},,,," for r in rows]))  # fmt: skip
    moments = [Moment(str(i), datetime.fromisoformat(r[0])) for i, r in enumerate(rows)]
    expected = {m.asset_id: n for n, s in enumerate(segment(moments, DEFAULT_RULE.time_rule), 1) for m in s}
    assert [r[2] for r in times[1:]] == [f"me-s{expected[str(i)]}" for i in range(len(rows))]
    assert empty == times
    assert len(set(expected.values())) == 2  # the time rule cuts this 45-minute pause


def test_content_columns_are_read_as_the_service_reads_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same prompt, model, tool and seed family across the 45-minute pause: one session."""
    rows = two_bursts(45)
    path = write_rows(tmp_path, "tenant,timestamp,prompt,model,tool,seed", [f'me,{t},"{p}",{m},{tool},{s}' for t, p, m, tool, s in rows])  # fmt: skip
    out = run(capsys, "--input", path)
    moments = [
        Moment(str(i), datetime.fromisoformat(t), prompt=p, model=m, tool=tool, seed=int(s))
        for i, (t, p, m, tool, s) in enumerate(rows)
    ]
    assert [r[2] for r in out[1:]] == ["me-s1"] * len(rows)
    assert len(segment(moments, DEFAULT_RULE)) == 1


def test_a_seed_that_is_not_a_number_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_rows(tmp_path, "tenant,timestamp,seed", ["me,2024-03-09T14:00:00Z,abc"])
    assert main(["sessions", "segment", "--input", path]) == 2
    assert "seed" in capsys.readouterr().err
