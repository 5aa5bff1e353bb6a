"""Desktop sync over the real stack: `atelier sync` runs as a separate process against the gateway
served over HTTP (it cannot run in-process: the gateway lives on this test's event loop)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.polling import until

pytestmark = pytest.mark.integration

ATELIER = REPO / ".venv" / "bin" / "atelier"
# corpus files whose only time is the file's own (no embedded time, nothing in the name)
NO_EMBEDDED_TIME = ["comfyui/unclip_2pass_cropped.png", "comfyui/night_evening_day_morning_cropped.png"]
MIDJOURNEY = "midjourney/image-description.png"  # embeds its creation time
SMALL_FILES = [
    "a1111/automatic1111_cropped.png",
    "a1111/automatic1111_cropped.jpg",
    "novelai/sample-0316.png",
    "novelai/novelai1_cropped.png",
    "invokeai/invokeai_sdmeta1.png",
    "comfyui/img2img_cropped.png",
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _place(corpus: Path, source: str, target: Path, mtime: datetime | None = None) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(corpus / source, target)
    if mtime is not None:
        os.utime(target, (mtime.timestamp(), mtime.timestamp()))
    return target


def _env(cache: Path) -> dict[str, str]:
    # the default state file goes under $XDG_CACHE_HOME: a per-test cache keeps tests apart
    return os.environ | {"XDG_CACHE_HOME": str(cache)}


async def _sync(*args: str, env: dict[str, str]) -> tuple[int, list[dict], str]:
    """Run `atelier sync ... --json` to the end: (exit code, summaries, stderr)."""
    process = await asyncio.create_subprocess_exec(
        str(ATELIER), "sync", *args, "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    summaries = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert process.returncode is not None
    return process.returncode, summaries, err.decode()


async def _server_sha256s(client) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """sha256 -> asset detail, for every asset the tenant has."""
    listed = (await client.get("/api/v1/assets", params={"limit": 500})).json()
    details = [(await client.get(f"/api/v1/assets/{a['asset_id']}")).json() for a in listed]
    return {d["sha256"]: d for d in details}


# ------------------------------------------------------------------------------------- lookup
async def test_lookup_answers_with_the_callers_own_hashes(new_tenant, corpus) -> None:
    _, alice = await new_tenant()
    _, bob = await new_tenant()
    data = (corpus / "novelai/sample-0316.png").read_bytes()
    digest, unknown = hashlib.sha256(data).hexdigest(), "0" * 64
    [result] = (
        await alice.post("/api/v1/assets", files=[("files", ("s.png", data))], params={"wait": "false"})
    ).json()
    assert result["status"] == "queued"

    # staged is enough: the pipeline need not have finished
    answer = await alice.post("/api/v1/assets/lookup", json={"sha256": [digest, unknown]})
    assert answer.status_code == 200 and answer.json() == {"known": [digest]}
    assert (await bob.post("/api/v1/assets/lookup", json={"sha256": [digest]})).json() == {"known": []}


@pytest.mark.parametrize(
    "body",
    [{"sha256": ["not-a-hash"]}, {"sha256": ["A" * 64]}, {"sha256": ["0" * 64] * 1001}, {"hashes": []}],
)
async def test_lookup_refuses_malformed_requests(new_tenant, body) -> None:
    _, client = await new_tenant()
    assert (await client.post("/api/v1/assets/lookup", json=body)).status_code == 422


async def test_lookup_needs_a_token(api) -> None:
    response = await api.post("/api/v1/assets/lookup", json={"sha256": []}, headers={"Authorization": ""})
    assert response.status_code == 401


async def test_lookup_is_counted_in_metrics(new_tenant, api) -> None:
    _, client = await new_tenant()

    async def counted(known: str) -> float:
        text = (await api.get("/metrics")).text
        match = re.search(rf'^atelier_gateway_lookup_hashes_total\{{known="{known}"\}} (\S+)$', text, re.M)
        return float(match.group(1)) if match else 0.0

    before = await counted("false")
    await client.post("/api/v1/assets/lookup", json={"sha256": ["1" * 64, "2" * 64]})
    assert await counted("false") == before + 2


# --------------------------------------------------------------------------------------- sync
async def test_sync_sends_each_file_once_with_its_time(new_tenant, gateway_url, corpus, tmp_path) -> None:
    token, client = await new_tenant()
    root = tmp_path / "pictures"
    file_time = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    plain = _place(corpus, NO_EMBEDDED_TIME[0], root / "0-top.png", file_time)
    dated = _place(corpus, NO_EMBEDDED_TIME[1], root / "2025-03-21" / "night.png", file_time)
    embedded = _place(corpus, MIDJOURNEY, root / "renders" / "mj.png", file_time)
    other = _place(corpus, "novelai/sample-0316.png", root / "renders" / "sample.png")
    _place(corpus, NO_EMBEDDED_TIME[0], root / "renders" / "copy-of-top.png")  # same bytes as 0-top.png
    _place(corpus, "novelai/sample-0316.png", root / ".trash" / "hidden.png")  # hidden folder: skipped
    (root / "renders" / "sample.png.json").write_text('{"creation_date": "2020-01-01T00:00:00Z"}')
    (root / "renders" / "notes.txt").write_text("not an image")
    whole = (corpus / "novelai/sample-0316.png").read_bytes()
    (root / "renders" / "broken.png").write_bytes(whole[: len(whole) // 3])  # looks like a PNG, is not one
    expected = {_sha256(p): p for p in (plain, dated, embedded, other)}

    code, [summary], err = await _sync(str(root), "--server", gateway_url, "--token", token, "--batch", "2",
                                       env=_env(tmp_path / "cache"))  # fmt: skip
    assert code == 0, err
    assert summary["found"] == 6
    assert summary["uploaded"] == 5 and summary["imported"] == 4, summary
    assert summary["duplicate"] == 1 and summary["unreadable"] == []
    [rejected] = summary["rejected"]
    assert rejected["path"] == "renders/broken.png" and rejected["reason"]

    async def all_listed() -> dict[str, dict] | None:
        on_server = await _server_sha256s(client)
        return on_server if len(on_server) >= len(expected) else None

    on_server = await until(all_listed)
    assert on_server is not None and set(on_server) == set(expected)
    by_name = {detail["filename"]: detail for detail in on_server.values()}
    assert by_name["0-top.png"]["generated_at"] == "2024-05-06T07:08:09+00:00"
    assert by_name["0-top.png"]["timestamp_source"] == "file_mtime"
    assert by_name["night.png"]["generated_at"] == "2025-03-21T00:00:00+00:00"
    assert by_name["night.png"]["timestamp_source"] == "folder:date"
    assert by_name["night.png"]["timestamp_precision"] == "day"
    assert by_name["mj.png"]["generated_at"].startswith("2026-06-25T01:46:47")  # embedded beats mtime
    # the sidecar next to sample.png travelled with it and dates it
    assert by_name["sample.png"]["generated_at"] == "2020-01-01T00:00:00+00:00"
    assert by_name["sample.png"]["timestamp_source"].startswith("sidecar:")

    # a second run has nothing to send and does not even re-hash
    code, [again], err = await _sync(str(root), "--server", gateway_url, "--token", token,
                                     env=_env(tmp_path / "cache"))  # fmt: skip
    assert code == 0, err
    assert again["uploaded"] == 0 and again["hashed"] == 0 and again["unchanged"] == 6
    assert len((await client.get("/api/v1/assets")).json()) == 4


async def test_interrupted_sync_resumes_without_resending(new_tenant, gateway_url, corpus, tmp_path) -> None:
    token, client = await new_tenant()
    root = tmp_path / "pictures"
    for index, source in enumerate(SMALL_FILES):
        _place(corpus, source, root / f"set-{index % 2}" / f"{index}{Path(source).suffix}")
    local = sorted(_sha256(p) for p in root.rglob("*.*"))
    args = (str(root), "--server", gateway_url, "--token", token, "--batch", "1")

    code, [first], err = await _sync(*args, "--limit", "2", env=_env(tmp_path / "cache"))
    assert code == 0, err
    assert first["uploaded"] == 2 and first["stopped_early"] is True

    code, [second], err = await _sync(*args, env=_env(tmp_path / "cache"))
    assert code == 0, err
    assert second["hashed"] == 0, "unchanged files are not hashed again"
    assert second["unchanged"] == 2 and second["uploaded"] == len(SMALL_FILES) - 2
    assert not second["stopped_early"]
    answer = (await client.post("/api/v1/assets/lookup", json={"sha256": local})).json()
    assert sorted(answer["known"]) == local

    # with the state file lost (as when a run dies between an upload and saving its answer),
    # the lookup still keeps the client from sending anything again
    code, [third], err = await _sync(*args, env=_env(tmp_path / "other-cache"))
    assert code == 0, err
    assert third["hashed"] == len(SMALL_FILES) and third["known"] == len(SMALL_FILES)
    assert third["uploaded"] == 0


async def test_sync_with_a_refused_token_exits_non_zero(gateway_url, tmp_path, corpus) -> None:
    _place(corpus, MIDJOURNEY, tmp_path / "pictures" / "mj.png")
    code, summaries, err = await _sync(str(tmp_path / "pictures"), "--server", gateway_url, "--token", "wrong",
                                       env=_env(tmp_path / "cache"))  # fmt: skip
    assert code == 3 and summaries == []
    assert "refused the token" in err


async def test_watch_sends_new_files_once_they_are_complete(
    new_tenant, gateway_url, corpus, tmp_path
) -> None:
    token, client = await new_tenant()
    root = tmp_path / "pictures"
    _place(corpus, SMALL_FILES[0], root / "first.png")
    process = await asyncio.create_subprocess_exec(
        str(ATELIER), "sync", str(root), "--server", gateway_url, "--token", token, "--watch", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_env(tmp_path / "cache"),
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    try:
        initial = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
        assert initial["uploaded"] == 1

        # a file written in two steps: only its complete bytes may arrive
        data = (corpus / SMALL_FILES[2]).read_bytes()
        target = root / "2025-03-21" / "later.png"
        target.parent.mkdir()
        with target.open("wb") as handle:
            handle.write(data[: len(data) // 2])
            handle.flush()
            await asyncio.sleep(0.3)  # a writer pausing mid-file, shorter than the settle time
            handle.write(data[len(data) // 2 :])
        round_report = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
        assert round_report["uploaded"] == 1 and round_report["imported"] == 1, round_report
        full = hashlib.sha256(data).hexdigest()
        answer = (await client.post("/api/v1/assets/lookup", json={"sha256": [full]})).json()
        assert answer == {"known": [full]}

        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 30) == 130
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
