"""Connected folders end to end over the real broker, database and object store: the gateway
registers a folder with ingest, the watcher scans and watches it, each file is imported once."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.polling import until

pytestmark = pytest.mark.integration

SCANNED_DATE_FOLDER = "novelai/sample-0316.png"  # no embedded time: the `2025-03-21/` folder decides
SCANNED_MTIME = "comfyui/img2img_cropped.png"  # no embedded time: its mtime decides
SCANNED_WITH_SIDECAR = "invokeai/invokeai_sdmeta1.png"
WATCHED = "a1111/automatic1111_cropped.png"
WRITTEN_SLOWLY = "comfyui/flux_depth_lora_example.png"

SCAN_MTIME = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
WATCH_MTIME = datetime(2024, 6, 7, 8, 9, 10, tzinfo=UTC)


def _copy(corpus: Path, name: str, target: Path, mtime: datetime | None = None) -> bytes:
    target.parent.mkdir(parents=True, exist_ok=True)
    data = (corpus / name).read_bytes()
    target.write_bytes(data)
    if mtime is not None:
        os.utime(target, (mtime.timestamp(), mtime.timestamp()))
    return data


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as out:
        out.write(data)


async def _uploaded_events(stack, tenant_id: str) -> int:  # type: ignore[no-untyped-def]
    """`asset.uploaded` events the folder watcher queued for the tenant (outbox rows stay after sending), in
    either lane (a folder's take the bulk lane) and whatever their key (the asset: README "Fair imports")."""
    return await stack["ingest"].pool.fetchval(
        "SELECT count(*) FROM ingest.outbox WHERE topic IN ('asset.uploaded', 'asset.uploaded.bulk') "
        "AND convert_from(body, 'UTF8')::jsonb ->> 'tenant_id' = $1",
        tenant_id,
    )


async def _assets_by_sha(client) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    assets = (await client.get("/api/v1/assets", params={"limit": 500})).json()
    details = [(await client.get(f"/api/v1/assets/{a['asset_id']}")).json() for a in assets]
    return {d["sha256"]: d for d in details}


async def test_a_connected_folder_imports_each_file_once(stack, new_tenant, corpus, folder_root) -> None:
    _, client = await new_tenant()
    tenant_id = (await client.get("/api/v1/me")).json()["tenant_id"]
    folder = folder_root / f"renders-{uuid.uuid4().hex[:8]}"
    staging = (
        folder_root / f"staging-{uuid.uuid4().hex[:8]}"
    )  # same filesystem: a rename moves a file in whole
    staging.mkdir()

    # already there before the folder is connected: found by the scan
    date_folder = _copy(corpus, SCANNED_DATE_FOLDER, folder / "2025-03-21" / "sample.png")
    by_mtime = _copy(corpus, SCANNED_MTIME, folder / "img2img.png", SCAN_MTIME)
    _copy(corpus, SCANNED_MTIME, folder / "copies" / "img2img-again.png")  # same bytes elsewhere: a duplicate
    with_sidecar = _copy(corpus, SCANNED_WITH_SIDECAR, folder / "invoke.png", SCAN_MTIME)
    (folder / "invoke.png.json").write_text(json.dumps({"created_at": "2023-05-06T07:08:09Z"}))
    (folder / "notes.txt").write_text("not an image")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")

    response = await client.post("/api/v1/folders", json={"path": str(folder)})
    assert response.status_code == 201, response.text
    registered = response.json()
    assert registered["path"] == str(folder.resolve()) and registered["status"] == "pending"

    # after: one moved in whole, one written slowly in chunks (each pause shorter than the settle interval)
    watched = _copy(corpus, WATCHED, staging / "after.png", WATCH_MTIME)
    os.rename(staging / "after.png", folder / "after.png")
    slow = (corpus / WRITTEN_SLOWLY).read_bytes()
    chunk = len(slow) // 5 + 1
    for start in range(0, len(slow), chunk):
        await asyncio.to_thread(_append, folder / "slow.png", slow[start : start + chunk])
        await asyncio.sleep(0.3)

    expected = {hashlib.sha256(d).hexdigest() for d in (date_folder, by_mtime, with_sidecar, watched, slow)}

    async def all_imported() -> dict[str, dict] | None:
        found = await _assets_by_sha(client)
        return found if set(found) >= expected else None

    assets = await until(all_imported)
    assert assets, "the folder's files were not all imported"
    assert set(assets) == expected  # the sidecar, the text file, .DS_Store and the copy are not assets
    assert await _uploaded_events(stack, tenant_id) == 5  # each file staged once; the copy was a duplicate
    quarantined = (await client.get("/api/v1/assets/quarantine")).json()
    assert quarantined == []  # the slow file was imported complete, not cut short

    def asset(data: bytes) -> dict:
        return assets[hashlib.sha256(data).hexdigest()]

    assert asset(date_folder)["tool"] == "novelai"
    assert asset(date_folder)["generated_at"].startswith("2025-03-21")
    assert asset(date_folder)["timestamp_precision"] == "day"
    assert asset(by_mtime)["tool"] == "comfyui"
    assert datetime.fromisoformat(asset(by_mtime)["generated_at"]) == SCAN_MTIME
    assert asset(by_mtime)["timestamp_source"] == "file_mtime"
    assert asset(with_sidecar)["tool"] == "invokeai"
    assert asset(with_sidecar)["generated_at"].startswith("2023-05-06T07:08:09")
    assert asset(with_sidecar)["timestamp_source"] == "sidecar:created_at"
    assert asset(watched)["tool"] == "a1111"
    assert datetime.fromisoformat(asset(watched)["generated_at"]) == WATCH_MTIME
    assert asset(slow)["tool"] == "comfyui"

    # the folder reports its scan and the files it staged (the copy is recorded too: it is not read again)
    [listed] = (await client.get("/api/v1/folders")).json()
    assert listed["id"] == registered["id"] and listed["status"] == "watching" and listed["last_scan_at"]
    assert listed["file_count"] == 6

    # a restarted watcher scans again: a touched file (same bytes, new mtime) and the rest import nothing
    os.utime(folder / "img2img.png", (WATCH_MTIME.timestamp(), WATCH_MTIME.timestamp()))
    watcher = stack["ingest"].app.state.folder_watcher
    await watcher.stop()
    await watcher.start()
    first_scan = listed["last_scan_at"]

    async def rescanned() -> bool:
        [now] = (await client.get("/api/v1/folders")).json()
        return now["last_scan_at"] > first_scan

    assert await until(rescanned), "the restarted watcher did not finish its scan"
    assert await _uploaded_events(stack, tenant_id) == 5
    assert set(await _assets_by_sha(client)) == expected
    touched_mtime = await stack["ingest"].pool.fetchval(
        "SELECT mtime_ns FROM ingest.folder_files WHERE folder_id = $1 AND relative_path = 'img2img.png'",
        uuid.UUID(registered["id"]),
    )
    assert touched_mtime == int(WATCH_MTIME.timestamp()) * 1_000_000_000  # seen, read, found unchanged


async def test_a_folder_that_disappears_is_in_error_until_it_is_back(new_tenant, folder_root) -> None:
    _, client = await new_tenant()
    folder = folder_root / f"nas-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    folder_id = (await client.post("/api/v1/folders", json={"path": str(folder)})).json()["id"]

    async def status(expected: str) -> dict | None:
        [listed] = (await client.get("/api/v1/folders")).json()
        return listed if listed["id"] == folder_id and listed["status"] == expected else None

    assert await until(lambda: status("watching"))
    folder.rename(folder.with_name(folder.name + "-unmounted"))
    in_error = await until(lambda: status("error"))
    assert in_error and "no longer exists" in in_error["error"]
    folder.with_name(folder.name + "-unmounted").rename(folder)
    back = await until(lambda: status("watching"))
    assert back and back["error"] is None


async def test_folders_outside_the_allowed_roots_are_refused(new_tenant, folder_root, tmp_path) -> None:
    _, client = await new_tenant()
    inside = folder_root / f"ok-{uuid.uuid4().hex[:8]}"
    inside.mkdir()
    escape = inside / "escape"
    escape.symlink_to(tmp_path)

    for path in (str(tmp_path), f"{inside}/../../", str(escape), "/etc"):
        response = await client.post("/api/v1/folders", json={"path": path})
        assert response.status_code == 403, (path, response.text)
        assert "outside the folders this server allows" in response.json()["detail"]

    missing = await client.post("/api/v1/folders", json={"path": str(inside / "not-there")})
    assert missing.status_code == 400 and "does not exist" in missing.json()["detail"]
    assert (await client.post("/api/v1/folders", json={"path": str(inside)})).status_code == 201
    again = await client.post("/api/v1/folders", json={"path": f"{inside}/"})
    assert again.status_code == 409 and "already connected" in again.json()["detail"]
    assert [f["path"] for f in (await client.get("/api/v1/folders")).json()] == [str(inside.resolve())]


async def test_another_tenant_cannot_see_or_disconnect_a_folder(new_tenant, folder_root) -> None:
    _, owner = await new_tenant()
    _, other = await new_tenant()
    folder = folder_root / f"mine-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    folder_id = (await owner.post("/api/v1/folders", json={"path": str(folder)})).json()["id"]

    assert (await other.get("/api/v1/folders")).json() == []
    assert (await other.delete(f"/api/v1/folders/{folder_id}")).status_code == 404
    assert [f["id"] for f in (await owner.get("/api/v1/folders")).json()] == [folder_id]

    assert (await owner.delete(f"/api/v1/folders/{folder_id}")).status_code == 204
    assert (await owner.get("/api/v1/folders")).json() == []
    assert (await owner.delete(f"/api/v1/folders/{folder_id}")).status_code == 404
    shutil.rmtree(folder)


async def test_each_folder_has_one_watcher_and_a_stopped_ones_folders_move_on(
    stack, new_tenant, folder_root
) -> None:
    """Two watchers (as two ingest replicas would run): the advisory locks give each folder to one of them."""
    from services.ingest.folders import FolderWatcher
    from services.ingest.settings import IngestSettings

    _, client = await new_tenant()
    folder = folder_root / f"shared-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    folder_id = uuid.UUID((await client.post("/api/v1/folders", json={"path": str(folder)})).json()["id"])
    first = stack["ingest"].app.state.folder_watcher
    second = FolderWatcher(IngestSettings(folder_refresh_seconds=0.2), stack["ingest"])
    await second.start()
    try:

        async def watched_by_one() -> bool:
            owners = [w for w in (first, second) if folder_id in w.watched_folder_ids]
            return len(owners) == 1

        assert await until(watched_by_one)
        assert not (first.watched_folder_ids & second.watched_folder_ids)

        await first.stop()  # a replica goes away: its connection, and so its locks, with it

        async def taken_over() -> bool:
            return folder_id in second.watched_folder_ids

        assert await until(taken_over)
    finally:
        await second.stop()
        await first.start()
