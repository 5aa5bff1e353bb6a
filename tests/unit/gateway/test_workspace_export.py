"""The export's and the restore's pure parts: the zip written to an unseekable sink reads back (stored
and deflated entries, any order of writes), file names in originals/ are safe and unique, the next
session edit the restore proposes, and asset ids remapped inside reflection texts."""

from __future__ import annotations

import io
import uuid
import zipfile

from services.gateway.export.restore import plan_session_edits, remap_ids
from services.gateway.export.service import UniqueNames, ZipSink, _entry, safe_name


def test_a_zip_streamed_to_an_unseekable_sink_reads_back() -> None:
    sink = ZipSink()
    archive = zipfile.ZipFile(sink, "w", allowZip64=True)  # type: ignore[arg-type]
    sent = bytearray()
    picture = bytes(range(256)) * 5000
    with archive.open(_entry("originals/a.png", stored=True, size=len(picture)), "w", force_zip64=True) as f:
        for start in range(0, len(picture), 4096):
            f.write(picture[start : start + 4096])
            sent += sink.drain()  # handed out as it is written: the sink never holds the whole file
            assert len(sink) == 0
    with archive.open(_entry("metadata.jsonl"), "w", force_zip64=True) as f:
        f.write(b'{"a": 1}\n' * 1000)
    archive.close()
    sent += sink.drain()
    with zipfile.ZipFile(io.BytesIO(bytes(sent))) as back:
        assert back.testzip() is None
        assert back.read("originals/a.png") == picture
        assert back.getinfo("originals/a.png").compress_type == zipfile.ZIP_STORED
        assert back.read("metadata.jsonl") == b'{"a": 1}\n' * 1000


def test_original_names_are_safe_and_unique() -> None:
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\me\\x.png") == "x.png"
    assert safe_name("..") == "_" and safe_name("") == "_" and safe_name("a\x00b.png") == "a_b.png"
    names = UniqueNames()
    taken = [names.take(n) for n in ("x.png", "X.PNG", "x.png", "noext", "noext", "a/b/x.png")]
    assert taken == [
        "originals/x.png",
        "originals/X (2).PNG",
        "originals/x (3).png",
        "originals/noext",
        "originals/noext (2)",
        "originals/x (4).png",
    ]


def _ids(n: int) -> list[uuid.UUID]:
    return [uuid.UUID(int=i + 1) for i in range(n)]


def test_the_restore_cuts_every_session_that_mixes_exported_ones_from_one_read() -> None:
    a = _ids(8)
    s1, s2 = uuid.UUID(int=100), uuid.UUID(int=101)
    label = {a[0]: 0, a[1]: 0, a[2]: 1, a[3]: 1, a[4]: 2, a[5]: 3, a[6]: 3, a[7]: 3}
    sessions = [(s1, a[:5]), (s2, a[5:])]
    assert plan_session_edits(sessions, label, set()) == ("cut", [(s1, [a[2], a[4]])])


def test_the_restore_joins_runs_of_neighbours_once_nothing_is_left_to_cut() -> None:
    a = _ids(6)
    s = [uuid.UUID(int=100 + i) for i in range(6)]
    label = {a[0]: 0, a[1]: 1, a[2]: 1, a[3]: 1, a[4]: 2, a[5]: 2}
    sessions = [(s[i], [a[i]]) for i in range(6)]
    assert plan_session_edits(sessions, label, set()) == ("join", [[s[1], s[2], s[3]], [s[4], s[5]]])
    done = [(s[0], [a[0]]), (s[1], a[1:4]), (s[4], a[4:])]
    assert plan_session_edits(done, label, set()) is None


def test_the_restore_leaves_images_the_export_does_not_know_and_refused_edits() -> None:
    a = _ids(4)
    s1, s2, s3 = uuid.UUID(int=101), uuid.UUID(int=102), uuid.UUID(int=103)
    label = {a[0]: 0, a[2]: 0}  # a[1] and a[3] are the workspace's own, newer images
    assert plan_session_edits([(s1, [a[0], a[1], a[2]]), (s2, [a[3]])], label, set()) is None
    assert plan_session_edits([(s1, [a[0], a[1]])], {a[0]: 0, a[1]: 1}, {a[1]}) is None
    # a join into s2 was refused: s2 starts a run of its own, and s3 may still join it
    three = [(s1, [a[0]]), (s2, [a[1]]), (s3, [a[2]])]
    assert plan_session_edits(three, {a[0]: 0, a[1]: 0, a[2]: 0}, {s2}) == ("join", [[s2, s3]])


def test_asset_ids_inside_reflection_texts_are_remapped() -> None:
    old, new = str(uuid.UUID(int=1)), str(uuid.UUID(int=2))
    texts = [{"text": "the fox", "asset_ids": [old, "other"]}, {"n": 3, "nested": {"id": old}}]
    assert remap_ids(texts, {old: new}) == [
        {"text": "the fox", "asset_ids": [new, "other"]},
        {"n": 3, "nested": {"id": new}},
    ]


def test_atelier_admin_hands_both_commands_to_their_server_modules(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from libs.cli.main import main

    calls: list[list[str]] = []

    def call(argv: list[str]) -> int:
        calls.append(argv)
        return 0

    monkeypatch.setattr(subprocess, "call", call)
    assert main(["admin", "restore-workspace", "ws", "--from", "x.zip"]) == 0
    assert main(["admin", "export-workspace", "ws", "--to", "y.zip"]) == 0
    assert calls == [
        [sys.executable, "-m", "services.gateway.export.restore", "ws", "--from", "x.zip"],
        [sys.executable, "-m", "services.gateway.export.dump", "ws", "--to", "y.zip"],
    ]


def test_an_export_with_a_lost_original_restores_the_rest() -> None:
    from datetime import UTC, datetime

    from services.gateway.export import schemas
    from services.gateway.export.restore import read_export

    workspace = schemas.ExportedWorkspace(
        tenant_id=uuid.UUID(int=9), workspace="w", time_zone="UTC", gap_minutes=None,
        exported_at=datetime.now(UTC), asset_count=2, curation=[],
    )  # fmt: skip
    kept, lost = (
        schemas.ExportedAsset(asset_id=uuid.UUID(int=i), sha256=f"{i:064x}", file=f"originals/{i}.png", filename=f"{i}.png")
        for i in (1, 2)
    )  # fmt: skip
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(schemas.WORKSPACE_FILE, workspace.model_dump_json())
        archive.writestr(schemas.METADATA_FILE, kept.model_dump_json() + "\n" + lost.model_dump_json() + "\n")
        archive.writestr(schemas.SESSIONS_FILE, "[]")
        archive.writestr("originals/1.png", b"png")
        archive.writestr("originals/2.png.missing.txt", b"not found")
    with zipfile.ZipFile(out) as archive:
        export = read_export(archive)
    assert [o.file for o in export.originals] == ["originals/1.png"]
    assert export.missing == ["originals/2.png"]
