"""Connected folders: file names that are not UTF-8 (os.walk gives their bad bytes as lone
surrogates), sidecars with a NUL. Such a file must not stop its folder: what goes to PostgreSQL
and into the event is text both accept."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path

from libs.common.events import Event
from services.ingest.folder_settle import Stat
from services.ingest.folders import folder_changes, folder_upload, stored_path, walk_candidates
from services.ingest.folders_repository import Folder
from services.ingest.settings import IngestSettings

from .hostile_files import unstorable

FOLDER = Folder(uuid.uuid4(), uuid.uuid4(), "/srv/renders", "Europe/Paris")


def test_a_non_utf8_name_is_found_and_stored_as_utf8_text(tmp_path: Path) -> None:
    (tmp_path / "2025-03-21").mkdir()
    (tmp_path / os.fsdecode(b"2025-03-21/caf\xe9.png")).write_bytes(b"x")
    [(relative, _)] = walk_candidates(tmp_path)
    assert (tmp_path / relative).read_bytes() == b"x"  # the walked name still opens the file
    assert stored_path(relative) == "2025-03-21/caf\\xe9.png"
    assert not unstorable(stored_path(relative))


def test_stored_paths_keep_different_bad_names_apart_and_utf8_names_as_they_are() -> None:
    assert stored_path(os.fsdecode(b"a\xe9.png")) != stored_path(os.fsdecode(b"a\xe8.png"))
    assert stored_path("2025/été ✓.png") == "2025/été ✓.png"


def test_the_upload_event_of_a_non_utf8_name_with_a_nul_sidecar_is_clean() -> None:
    relative = os.fsdecode(b"sub\xff/caf\xe9.png")
    uploaded = folder_upload(
        FOLDER, relative, "0" * 64, 10, Stat(10, 1_700_000_000_000_000_000),
        {"creation_date": "2025-01-01T10:00:00Z", "note": "a\x00b", "k\udcff": "v"},
    )  # fmt: skip
    assert uploaded.filename == "caf\ufffd.png"
    assert uploaded.folder == "sub\ufffd"
    assert uploaded.sidecar == {"creation_date": "2025-01-01T10:00:00Z", "note": "ab", "k\ufffd": "v"}
    assert uploaded.source == "folder" and uploaded.tenant_tz == "Europe/Paris"
    assert not unstorable(uploaded.model_dump(mode="json"))
    Event.of(uploaded, tenant_id=FOLDER.tenant_id).to_bytes()


def test_a_file_at_the_folder_root_has_no_subfolder() -> None:
    uploaded = folder_upload(FOLDER, "image.png", "0" * 64, 1, Stat(1, 0), None)
    assert uploaded.folder is None and uploaded.filename == "image.png"


async def _first_changes(root: Path, count: int) -> list[object]:
    settings = IngestSettings(folder_poll_delay_ms=100)
    stop = asyncio.Event()
    seen: list[object] = []
    async with contextlib.aclosing(folder_changes(root, settings, stop, 50)) as changes:
        async for item in changes:
            seen.append(item)
            if len(seen) == count:
                break
    stop.set()
    return seen


async def test_a_directory_watchfiles_cannot_name_makes_the_watcher_walk_instead(tmp_path: Path) -> None:
    # watchfiles fails to start on it ("Unable to decode path"): the folder is walked instead
    (tmp_path / os.fsdecode(b"sub\xff")).mkdir()
    seen = await asyncio.wait_for(_first_changes(tmp_path, 6), 10)
    assert seen[0] is None  # a walk at once
    assert seen.count(None) >= 2 and all(item is None or item == set() for item in seen)


async def test_a_folder_with_utf8_names_is_watched_by_watchfiles(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    seen = await asyncio.wait_for(_first_changes(tmp_path, 2), 10)
    assert None not in seen
