"""Export and restore, round trip, over the real stack (issue 16, backups and restore).

A workspace with corpus files from several tools and a timed 60-image session, a paid reflection of it,
two hand cuts (the session split in three), a changed session gap, a pick, a reject and a stack made by hand is
exported through `GET /api/v1/export`; the zip is checked against the API (every original byte for
byte, each asset's stored metadata, the sessions and their images, the reflection's texts, the flags,
the README). Then `atelier admin restore-workspace` (the real command, in a child process) brings it
into a fresh workspace: the same files (by SHA-256) with the same metadata and times, the same sessions,
flags, hand stack, gap and time zone, and the reflection with its texts, without spending a credit.
A second run changes nothing. A mistake in the source workspace itself (a cut undone, a pick cleared,
the gap reset) is put right by restoring its own export into it. The later restores and the operator's
export (`export-workspace`) run in this process: a child Python's start-up costs seconds on a busy machine,
and the command wiring is tested once here and in tests/unit/gateway/test_workspace_export.py."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.gateway.endpoints import ORIGINAL_CHUNK_BYTES
from services.gateway.export import schemas
from services.gateway.export.dump import export_workspace
from services.gateway.export.restore import RestoreReport, restore_workspace, workspace_subject
from services.gateway.export.service import ExportWriter
from tests.integration.test_reflection_flow import T0_MS, lighthouse_session, upload_session
from tests.polling import until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CORPUS_FILES = [
    "a1111/automatic1111_cropped.png",
    "comfyui/XL_00008.png",
    "novelai/sample-0316.png",
    "invokeai/invokeai_sdmeta1.png",
    "civitai/68295CAE9DE493031ACD8C135AD863E5E7C53D368852AD5FC14F661E6D489A58.jpeg",
    "midjourney/image-description.png",
]


async def _workspace_id(client: httpx.AsyncClient) -> str:
    me = (await client.get("/api/v1/me")).json()
    return str(me.get("workspace_id") or me["tenant_id"])


async def _assets(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """sha256 -> the asset's detail (metadata included), every asset of the workspace, rejects too."""
    listed = (await client.get("/api/v1/assets", params={"limit": 500, "include_rejected": "true"})).json()
    details = [(await client.get(f"/api/v1/assets/{a['asset_id']}")).json() for a in listed]
    return {d["sha256"]: d for d in details}


async def _members(client: httpx.AsyncClient, session_id: str) -> list[str]:
    """The session's asset ids in generation order."""
    params: dict[str, str | int] = {"limit": 500, "include_rejected": "true"}
    return [
        a["asset_id"]
        for a in (await client.get(f"/api/v1/sessions/{session_id}/assets", params=params)).json()
    ]


async def _state(client: httpx.AsyncClient) -> dict[str, Any]:
    """What must come back, named by content (SHA-256) so two workspaces compare."""
    assets = await _assets(client)
    by_id = {d["asset_id"]: sha for sha, d in assets.items()}
    sessions, stacks, reflections = [], [], []
    for card in (await client.get("/api/v1/sessions", params={"limit": 100})).json():
        members = [by_id[a] for a in await _members(client, card["id"])]
        sessions.append(members)
        for stack in (await client.get(f"/api/v1/sessions/{card['id']}/stacks")).json()["stacks"]:
            if stack["manual"]:
                stacks.append(sorted(by_id[a] for a in stack["asset_ids"]))
        for r in (await client.get(f"/api/v1/sessions/{card['id']}/reflections")).json():
            texts = {k: r[k] for k in ("status", "summary", "summary_statements", "style_patterns",
                                       "evolution_notes", "facts", "credits_charged")}  # fmt: skip
            reflections.append({"session": sorted(members), **_remapped(texts, by_id)})
    return {
        "metadata": {sha: d["metadata"] for sha, d in assets.items()},
        "times": {sha: (d["generated_at"], d["timestamp_source"]) for sha, d in assets.items()},
        "flags": {sha: d["flag"] for sha, d in assets.items() if d.get("flag")},
        "sessions": sorted(sessions),
        "stacks": sorted(stacks),
        "reflections": reflections,
        "gap": (await client.get("/api/v1/settings/sessions")).json()["gap_minutes"],
        "time_zone": (await client.get("/api/v1/settings/time-zone")).json(),
    }


def _remapped(value: Any, by_id: dict[str, str]) -> Any:
    """Asset ids inside a reflection's texts as SHA-256s."""
    if isinstance(value, str):
        return by_id.get(value, value)
    if isinstance(value, list):
        return [_remapped(v, by_id) for v in value]
    if isinstance(value, dict):
        return {k: _remapped(v, by_id) for k, v in value.items()}
    return value


async def _admin(stack: dict[str, Any], *args: str) -> tuple[int, str]:
    """`atelier admin ...` as an operator runs it: a child process with the gateway's settings in its
    environment (the stack's services keep running in this one)."""
    settings = stack["gateway"].settings
    env = {**os.environ, "ATELIER_CLUSTERING_URL": settings.clustering_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "libs.cli.main", "admin", *args,
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def _restore(stack: dict[str, Any], workspace: str, export: Path) -> tuple[int, str]:
    return await _admin(stack, "restore-workspace", workspace, "--from", str(export), "--wait", "60")


async def _restore_here(stack: dict[str, Any], workspace: str, export: Path) -> RestoreReport:
    """The same restore in this process (a child Python's start-up costs seconds on a busy machine)."""
    gateway = stack["gateway"]
    return await restore_workspace(
        gateway.pool, gateway.store, gateway.settings, workspace, export, timeout=60
    )


async def _reflect(client: httpx.AsyncClient, session: str) -> dict[str, Any]:
    quote = (await client.post(f"/api/v1/sessions/{session}/reflection/quote")).json()
    confirmed = await client.post(
        f"/api/v1/sessions/{session}/reflections",
        json={"quote_id": quote["quote_id"]},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert confirmed.status_code == 202, confirmed.text
    reflection_id = confirmed.json()["reflection_id"]

    async def done() -> dict[str, Any] | None:
        doc = (await client.get(f"/api/v1/reflections/{reflection_id}")).json()
        return doc if doc["status"] == "completed" else None

    doc = await until(done, within=60.0)
    assert doc, "the reflection did not complete"
    return doc


async def test_export_then_restore_into_a_fresh_workspace(stack, new_tenant, corpus, tmp_path) -> None:
    _, source = await new_tenant("Europe/Paris")
    # corpus files of six tools, then a 60-image session timed by the files' modification times
    files = [
        ("files", (Path(p).name, (corpus / p).read_bytes(), "application/octet-stream")) for p in CORPUS_FILES
    ]
    imported = (await source.post("/api/v1/assets", files=files)).json()
    assert {r["status"] for r in imported} == {"imported"}, imported
    session = await upload_session(source, lighthouse_session(), T0_MS, "lighthouse")
    reflection = await _reflect(source, session)
    # the person's word: a gap, cuts (the largest part keeps the session and its reflection), flags, a stack
    assert (await source.put("/api/v1/settings/sessions", json={"gap_minutes": 45})).status_code == 200
    members = await _members(source, session)
    assert len(members) == 60
    cut = await source.post(f"/api/v1/sessions/{session}/split", json={"asset_id": members[40]})
    assert cut.status_code == 200, cut.text
    later = cut.json()["sessions"][1]["id"]  # and a second cut, so the restore makes two in one session
    cut = await source.post(f"/api/v1/sessions/{later}/split", json={"asset_id": members[50]})
    assert cut.status_code == 200, cut.text
    assert (await source.put(f"/api/v1/assets/{members[3]}/flag", json={"flag": "pick"})).status_code == 200
    assert (
        await source.put(f"/api/v1/assets/{members[50]}/flag", json={"flag": "reject"})
    ).status_code == 200
    hand = await source.post(
        f"/api/v1/sessions/{session}/stacks", json={"asset_ids": [members[10], members[20]]}
    )
    assert hand.status_code == 200, hand.text
    before = await _state(source)
    assert len(before["metadata"]) == 66 and before["flags"] and before["stacks"] and before["reflections"]

    # the export, checked against the API
    response = await source.get("/api/v1/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith('attachment; filename="atelier-')
    export = tmp_path / "export.zip"
    export.write_bytes(response.content)
    with zipfile.ZipFile(export) as archive:
        assert archive.testzip() is None
        names = set(archive.namelist())
        lines = [json.loads(line) for line in archive.read(schemas.METADATA_FILE).splitlines()]
        assert {line["sha256"] for line in lines} == set(before["metadata"])
        for line in lines:  # the bytes are the asset's, the metadata the stored record
            assert hashlib.sha256(archive.read(line["file"])).hexdigest() == line["sha256"]
            assert line["metadata"] == before["metadata"][line["sha256"]]
        assert (
            len({line["file"] for line in lines})
            == len(lines)
            == len([n for n in names if n.startswith("originals/")])
        )
        by_id = {line["asset_id"]: line["sha256"] for line in lines}
        exported_sessions = json.loads(archive.read(schemas.SESSIONS_FILE))
        assert sorted([by_id[a] for a in s["asset_ids"]] for s in exported_sessions) == before["sessions"]
        [exported_reflection] = json.loads(archive.read(schemas.REFLECTIONS_FILE))
        assert exported_reflection["summary"] == reflection["summary"]
        assert exported_reflection["evolution_notes"] == reflection["evolution_notes"]
        flags = [json.loads(line) for line in archive.read(schemas.FLAGS_FILE).splitlines()]
        assert {by_id[f["asset_id"]]: f["flag"] for f in flags} == before["flags"]
        workspace = json.loads(archive.read(schemas.WORKSPACE_FILE))
        assert (workspace["gap_minutes"], workspace["time_zone"], workspace["asset_count"]) == (
            45,
            "Europe/Paris",
            66,
        )
        assert {schemas.README_FILE, schemas.STACKS_FILE, schemas.LINEAGE_FILE} <= names

    # streamed as it is written: no piece handed to the server is much over one read of an original
    gateway = stack["gateway"]
    subject = await workspace_subject(gateway.pool, await _workspace_id(source))
    pieces = [len(piece) async for piece in ExportWriter(gateway.pool, gateway.store, subject).stream()]
    assert max(pieces) <= 2 * ORIGINAL_CHUNK_BYTES < sum(pieces) // 4, (max(pieces), sum(pieces))

    # the restore into a fresh workspace: everything back, by content; no credit spent
    _, target = await new_tenant()
    credits_before = (await target.get("/api/v1/credits")).json()
    code, out = await _restore(stack, await _workspace_id(target), export)
    assert code == 0, out
    assert "originals: 66 imported" in out, out
    after = await _state(target)
    for part in before:
        assert after[part] == before[part], part
    assert (await target.get("/api/v1/credits")).json() == credits_before

    # again: nothing to do
    report = await _restore_here(stack, await _workspace_id(target), export)
    assert (report.changes, report.already_there, report.warnings) == (0, 66, []), report
    assert await _state(target) == before

    # a mistake in the workspace itself: the cut undone, the pick cleared, the gap put back; the restore
    # into the same workspace puts the person's word back (same ids, nothing imported again)
    parts = [c["id"] for c in (await source.get("/api/v1/sessions", params={"limit": 100})).json()
             if members[0] in await _members(source, c["id"]) or members[40] in await _members(source, c["id"])]  # fmt: skip
    assert len(parts) == 2
    assert (await source.post("/api/v1/sessions/merge", json={"session_ids": parts})).status_code == 200
    assert (await source.put(f"/api/v1/assets/{members[3]}/flag", json={"flag": None})).status_code == 200
    assert (await source.put("/api/v1/settings/sessions", json={"gap_minutes": None})).status_code == 200
    assert await _state(source) != before
    report = await _restore_here(stack, await _workspace_id(source), export)
    assert (report.uploaded, report.already_there, report.cuts, report.flags, report.gap) == (
        0,
        66,
        1,
        1,
        1,
    ), report
    assert await _state(source) == before
    assert await _members(source, session) == members[:40]  # the same ids: the survivor keeps its session

    # the operator's export, straight from the database (what point-in-time recovery uses): the same files
    dumped = tmp_path / "dumped.zip"
    size = await export_workspace(os.environ["ATELIER_DATABASE_URL"], stack["gateway"].store,
                                  await _workspace_id(target), dumped)  # fmt: skip
    assert size == dumped.stat().st_size > 0
    with zipfile.ZipFile(dumped) as archive:
        lines = [json.loads(line) for line in archive.read(schemas.METADATA_FILE).splitlines()]
        assert {line["sha256"]: line["metadata"] for line in lines} == before["metadata"]
        assert len(json.loads(archive.read(schemas.SESSIONS_FILE))) == len(before["sessions"])


def _copy_back_function() -> str:
    """deploy/README.md's `pg_temp.copy_back`, as an operator pastes it."""
    text = (REPO / "deploy" / "README.md").read_text()
    start = text.index("CREATE FUNCTION pg_temp.copy_back")
    end = text.index("END $$;", start) + len("END $$;")
    return "\n".join(line.strip() for line in text[start:end].splitlines())


async def test_the_documented_copy_back_sql_puts_a_workspace_rows_back(stack, new_tenant) -> None:
    """deploy/README.md's row-by-row restore, on one table with generated columns (ingest.assets: loras and
    search): the workspace's rows deleted after a "backup", then copied back from it, equal what they were.
    The scratch schema here is a plain copy in the same database; the procedure attaches it over postgres_fdw."""
    _, client = await new_tenant()
    files = [("files", (f"copy-{i}.png", png, "image/png")) for i, png in enumerate(lighthouse_session(3))]
    assert {r["status"] for r in (await client.post("/api/v1/assets", files=files)).json()} == {"imported"}
    workspace = uuid.UUID(await _workspace_id(client))
    pool = stack["gateway"].pool
    columns = "asset_id, sha256, filename, metadata, loras, search::text AS search"
    async with pool.acquire() as conn:
        before = await conn.fetch(
            f"SELECT {columns} FROM ingest.assets WHERE tenant_id = $1 ORDER BY asset_id", workspace
        )
        assert len(before) == 3 and all(r["search"] for r in before)
        schema = f"scratch_ingest_{workspace.hex[:8]}"
        await conn.execute(f"CREATE SCHEMA {schema}")
        try:
            await conn.execute(
                f"CREATE TABLE {schema}.assets AS SELECT * FROM ingest.assets WHERE tenant_id = '{workspace}'"
            )
            await conn.execute("DELETE FROM ingest.assets WHERE tenant_id = $1", workspace)  # the mistake
            await conn.execute(_copy_back_function().replace("'scratch_' || s", f"'{schema}'"))
            async with conn.transaction():
                await conn.execute("SELECT pg_temp.copy_back('ingest', 'assets', $1)", workspace)
            after = await conn.fetch(
                f"SELECT {columns} FROM ingest.assets WHERE tenant_id = $1 ORDER BY asset_id", workspace
            )
        finally:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
            await conn.execute("DROP FUNCTION IF EXISTS pg_temp.copy_back(text, text, uuid)")
    assert [dict(r) for r in after] == [dict(r) for r in before]
