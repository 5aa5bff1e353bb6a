"""Poison uploads never stall importing (issue: one NUL byte stopped a partition for good).

Over the real stack: uploads carrying a NUL in the `folder` field, inside a PNG `tEXt` chunk, in the
sidecar JSON and in the file name; then ordinary uploads from the same workspace and from another.
Every ordinary upload must import within a minute, and every poison upload must end imported with
the NUL removed or quarantined with a reason, never left hanging.
"""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.images import with_text_chunk
from tests.polling import until

pytestmark = pytest.mark.integration

WITHIN_SECONDS = 60.0


def _png(seed: int, text: bytes | None = None) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 24), (seed % 256, (seed * 7) % 256, (seed * 13) % 256)).save(out, "PNG")
    png = out.getvalue()
    # a tEXt chunk right after IHDR (8-byte signature + 25-byte IHDR chunk)
    return png if text is None else with_text_chunk(png, text)


def _poison_uploads(tag: str) -> list[tuple[str, dict[str, object]]]:
    """(expected name without NUL, httpx request arguments) for each kind of poison."""
    text = b"parameters\x00a cat\x00with a NUL\nSteps: 20, Sampler: Euler, Seed: 1"
    sidecar = json.dumps({"creation_date": "2025-01-01T10:00:00Z", "note": "a\u0000b"})
    return [
        (f"{tag}_folder.png", {"files": [("files", (f"{tag}_folder.png", _png(1), "image/png"))],
                               "data": {"folder": "2025-01-01\x00evil"}}),
        (f"{tag}_text.png", {"files": [("files", (f"{tag}_text.png", _png(2, text), "image/png"))]}),
        (f"{tag}_sidecar.png", {"files": [("files", (f"{tag}_sidecar.png", _png(3), "image/png"))],
                                "data": {"sidecar": sidecar}}),
        (f"{tag}_nulname.png", _raw_multipart(f"{tag}_nul\x00name.png", _png(4))),
    ]  # fmt: skip


def _raw_multipart(filename: str, data: bytes) -> dict[str, object]:
    """A multipart body written by hand: httpx would percent-encode the NUL in the file name, a
    hostile client sends it as it is."""
    boundary = "poison-boundary-7c1f"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return {"content": body, "headers": {"Content-Type": f"multipart/form-data; boundary={boundary}"}}


async def _upload(client, **kwargs: object) -> list[dict[str, object]]:
    response = await client.post("/api/v1/assets", params={"wait": "false"}, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


async def _ordinary(client, tag: str, count: int, first_seed: int) -> None:
    for i in range(count):
        await _upload(client, files=[("files", (f"{tag}_{i:02d}.png", _png(first_seed + i), "image/png"))])


async def _names(client, tag: str) -> tuple[set[str], dict[str, str]]:
    assets = (await client.get("/api/v1/assets", params={"limit": 500})).json()
    quarantined = (await client.get("/api/v1/assets/quarantine", params={"limit": 500})).json()
    return (
        {a["filename"] for a in assets if a["filename"].startswith(tag)},
        {q["filename"]: q["reason"] for q in quarantined if q["filename"].startswith(tag)},
    )


async def test_poison_uploads_do_not_stall_this_or_another_workspace(new_tenant) -> None:
    _, poisoner = await new_tenant()
    _, neighbour = await new_tenant()
    poison = _poison_uploads("poison")
    for _, request in poison:
        await _upload(poisoner, **request)
    await _ordinary(poisoner, "after", 10, first_seed=100)
    await _ordinary(neighbour, "next", 10, first_seed=200)

    async def all_ordinary_imported() -> bool:
        mine, _ = await _names(poisoner, "after")
        theirs, _ = await _names(neighbour, "next")
        return len(mine) == 10 and len(theirs) == 10

    assert await until(all_ordinary_imported, within=WITHIN_SECONDS, every=0.25), (
        await _names(poisoner, "after"),
        await _names(neighbour, "next"),
    )

    async def poison_settled() -> bool:
        imported, quarantined = await _names(poisoner, "poison")
        return all(name in imported or name in quarantined for name, _ in poison)

    assert await until(poison_settled, within=WITHIN_SECONDS, every=0.25), await _names(poisoner, "poison")
    _, quarantined = await _names(poisoner, "poison")
    for name, reason in quarantined.items():
        assert reason, f"{name} quarantined without a reason"
    # nothing anywhere still carries the NUL
    assets = (await poisoner.get("/api/v1/assets", params={"limit": 500})).json()
    for asset in assets:
        full = (await poisoner.get(f"/api/v1/assets/{asset['asset_id']}")).json()
        assert "\\u0000" not in json.dumps(full), full["filename"]


async def test_a_nul_in_a_text_chunk_is_removed_and_the_rest_is_read(new_tenant) -> None:
    _, client = await new_tenant()
    text = b"parameters\x00a cat\x00with a NUL\nSteps: 20, Sampler: Euler, Seed: 12345"
    await _upload(client, files=[("files", ("nul_chunk.png", _png(9, text), "image/png"))])

    async def imported() -> list[dict[str, object]]:
        return [a for a in (await client.get("/api/v1/assets")).json() if a["filename"] == "nul_chunk.png"]

    [asset] = await until(imported, within=WITHIN_SECONDS)
    assert asset["prompt"] == "a catwith a NUL"
    assert (asset["steps"], asset["sampler"], asset["seed"]) == (20, "Euler", 12345)


async def test_nul_in_folder_and_sidecar_is_removed_and_the_sidecar_still_dates_the_image(new_tenant) -> None:
    _, client = await new_tenant()
    sidecar = json.dumps({"creation_date": "2025-01-01T10:00:00Z", "note": "a\u0000b"})
    await _upload(
        client,
        files=[("files", ("dated.png", _png(11), "image/png"))],
        data={"folder": "2024-06-01\x00x", "sidecar": sidecar},
    )

    async def imported() -> list[dict[str, object]]:
        return [a for a in (await client.get("/api/v1/assets")).json() if a["filename"] == "dated.png"]

    [asset] = await until(imported, within=WITHIN_SECONDS)
    assert asset["generated_at"].startswith("2025-01-01T10:00:00")


async def test_a_file_set_aside_then_imported_is_no_longer_shown_as_refused(new_tenant, stack) -> None:  # type: ignore[no-untyped-def]
    """What replaying a dead letter after a fix does: the file, once quarantined, imports, and its
    quarantine entry goes with the same statement, so the person no longer sees it as refused."""
    import hashlib
    import uuid

    from libs.common.assets import asset_id_for

    _, client = await new_tenant()
    me = (await client.get("/api/v1/me")).json()
    tenant = uuid.UUID(me["tenant_id"])
    data = _png(4242)
    sha = hashlib.sha256(data).hexdigest()
    pool = stack["ingest"].pool
    # as the consumer's poison hook leaves an upload that failed on every attempt
    await pool.execute(
        "INSERT INTO ingest.quarantine (asset_id, tenant_id, sha256, filename, object_key, reason)"
        " VALUES ($1, $2, $3, 'fixed.png', 'k', 'could not be imported (a reader bug, since fixed)')",
        asset_id_for(tenant, sha), tenant, sha,
    )  # fmt: skip
    refused = (await client.get("/api/v1/assets/quarantine")).json()
    assert [r["filename"] for r in refused] == ["fixed.png"]
    await _upload(client, files=[("files", ("fixed.png", data, "image/png"))])

    async def no_longer_refused() -> bool:
        return (await client.get("/api/v1/assets/quarantine")).json() == []

    assert await until(no_longer_refused, within=60.0)
    assert await pool.fetchval("SELECT count(*) FROM ingest.assets WHERE tenant_id = $1", tenant) == 1
