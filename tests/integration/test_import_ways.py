"""Every corpus file, brought in each of the four ways (upload, zip, desktop sync, connected
folder), arrives exactly once with the metadata the reader finds in it.

"The metadata the reader finds" is `read_generation` run here on the same bytes: the pipeline
must carry it through staging, events and storage unchanged. The tool is also checked against
the corpus's own EXPECTED.json.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import shutil
import uuid
import zipfile
from pathlib import Path

import pytest

from libs.metadata import read_generation
from tests.conftest import REPO
from tests.polling import until

pytestmark = pytest.mark.integration

FIELDS = ("tool", "prompt", "negative_prompt", "seed", "model", "sampler", "steps", "cfg")
NOT_IMAGES = {"EXPECTED.json", "README.md", "SOURCES.tsv"}


def _corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.glob("*/*") if p.name not in NOT_IMAGES)


async def _all_assets(client, count: int):  # type: ignore[no-untyped-def]
    """Wait until the tenant has `count` assets (or 60 s pass); their details by sha256."""

    async def listed_all():  # type: ignore[no-untyped-def]
        listed = (await client.get("/api/v1/assets", params={"limit": 500})).json()
        return listed if len(listed) >= count else None

    listed = (
        await until(listed_all, within=60)
        or (await client.get("/api/v1/assets", params={"limit": 500})).json()
    )
    details = [(await client.get(f"/api/v1/assets/{a['asset_id']}")).json() for a in listed]
    return {d["sha256"]: d for d in details}


def _check_metadata(files: list[Path], corpus: Path, on_server: dict[str, dict]) -> None:
    expected_tools = json.loads((corpus / "EXPECTED.json").read_text())
    assert len(on_server) == len(files), "each file exactly once"
    for path in files:
        data = path.read_bytes()
        asset = on_server[hashlib.sha256(data).hexdigest()]
        local = read_generation(data, filename=path.name)
        for field in FIELDS:
            assert asset[field] == getattr(local, field), (path.name, field)
        tool = expected_tools[f"{path.parent.name}/{path.name}"]["tool"]
        assert asset["tool"] == (None if tool == "_negative" else tool), path.name


async def test_uploaded(new_tenant, corpus) -> None:
    _, client = await new_tenant()
    files = _corpus_files(corpus)
    parts = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in files]
    results = (await client.post("/api/v1/assets", files=parts)).json()
    assert {r["status"] for r in results} == {"imported"}
    _check_metadata(files, corpus, await _all_assets(client, len(files)))


async def test_zipped(new_tenant, corpus) -> None:
    _, client = await new_tenant()
    files = _corpus_files(corpus)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for p in files:
            archive.write(p, f"{p.parent.name}/{p.name}")
    results = (
        await client.post("/api/v1/assets", files=[("files", ("corpus.zip", buffer.getvalue()))])
    ).json()
    assert len(results) == len(files) and {r["status"] for r in results} == {"imported"}
    _check_metadata(files, corpus, await _all_assets(client, len(files)))


async def test_synced(new_tenant, gateway_url, corpus, tmp_path) -> None:
    token, client = await new_tenant()
    files = _corpus_files(corpus)
    root = tmp_path / "pictures"
    for p in files:
        (root / p.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, root / p.parent.name / p.name)
    process = await asyncio.create_subprocess_exec(
        str(REPO / ".venv/bin/atelier"), "sync", str(root), "--server", gateway_url, "--token", token, "--json",
        "--state", str(tmp_path / "state.json"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode == 0, err.decode()
    [summary] = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert summary["imported"] == len(files), summary
    _check_metadata(files, corpus, await _all_assets(client, len(files)))


async def test_dropped_in_a_connected_folder(new_tenant, corpus, folder_root) -> None:
    _, client = await new_tenant()
    files = _corpus_files(corpus)
    folder = folder_root / f"corpus-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    response = await client.post("/api/v1/folders", json={"path": str(folder)})
    assert response.status_code == 201, response.text
    for p in files:
        (folder / p.parent.name).mkdir(exist_ok=True)
        shutil.copyfile(p, folder / p.parent.name / p.name)
    _check_metadata(files, corpus, await _all_assets(client, len(files)))
