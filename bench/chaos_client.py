"""What `make chaos` does through the public API: workspaces, generated images, uploads that retry as a
real client does, browsing, reflections; every request timed.

Images are small generated PNGs (48 px noise, A1111 parameters with a per-session prompt and a seed),
distinct by construction; each carries a `last_modified` time so that sessions form: bursts of
images 10-50 s apart, sessions 3-8 h apart. Everything comes from one seeded `random.Random`, so a
run with the same settings sends the same bytes at the same (simulated) times.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

PASSWORD = "chaos monkey in the atelier 42"
UPLOAD_ATTEMPT_SECONDS = 600.0  # a client keeps retrying one request for this long
REQUEST_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
SUBJECTS = (
    "a lighthouse at dusk",
    "an astronaut in a garden",
    "a cosy reading room",
    "a fox in the snow",
    "a glass city at night",
    "an owl on a branch",
    "a red bicycle",
    "a quiet harbour",
)


@dataclass(frozen=True)
class ImageFile:
    name: str
    data: bytes
    sha256: str
    taken_ms: int  # the file's last-modified time, milliseconds since the epoch


def generated_files(rng: random.Random, count: int, prefix: str, start: datetime) -> Iterator[ImageFile]:
    """`count` distinct PNGs in sessions (bursts of 50-90 images, so reflections have something to
    reflect on), in time order."""
    from PIL import Image, PngImagePlugin

    at = start
    made = 0
    while made < count:
        burst = rng.randrange(50, 91)
        subject = rng.choice(SUBJECTS)
        for _ in range(burst):
            if made == count:
                break
            at += timedelta(seconds=rng.uniform(10, 50))
            image = Image.frombytes("RGB", (48, 48), rng.randbytes(48 * 48 * 3))
            info = PngImagePlugin.PngInfo()
            info.add_text(
                "parameters",
                f"{subject}\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
                f"Seed: {rng.randrange(2**32)}, Size: 48x48, Model: chaos",
            )
            out = io.BytesIO()
            image.save(out, "PNG", pnginfo=info, compress_level=1)
            data = out.getvalue()
            yield ImageFile(
                f"{prefix}-{made:05d}.png", data, hashlib.sha256(data).hexdigest(), int(at.timestamp() * 1000)
            )
            made += 1
        at += timedelta(hours=rng.uniform(3, 8))


@dataclass
class Timings:
    """Latencies of API calls by what they were for (seconds), and failures by kind."""

    calls: dict[str, list[float]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, seconds: float) -> None:
        self.calls.setdefault(what, []).append(seconds)

    def failed(self, what: str) -> None:
        self.failures[what] = self.failures.get(what, 0) + 1


@dataclass
class Workspace:
    name: str
    tenant_id: uuid.UUID
    token: str
    client: httpx.AsyncClient
    sent: dict[str, ImageFile] = field(default_factory=dict)  # sha256 -> file, accepted by the gateway
    statuses: dict[str, int] = field(default_factory=dict)
    # sha256 -> monotonic time its upload request was sent (the first attempt)
    upload_started: dict[str, float] = field(default_factory=dict)
    asset_ids: dict[str, str] = field(default_factory=dict)  # sha256 -> asset id
    retries: int = 0
    last_accepted_at: float = 0.0

    async def get(self, path: str, timings: Timings, what: str, **params: Any) -> Any:
        began = time.monotonic()
        response = await self.client.get(path, params=params or None)
        timings.add(what, time.monotonic() - began)
        response.raise_for_status()
        return response.json()


async def new_workspace(base_url: str, name: str) -> Workspace:
    """Sign up (an account and its workspace), then make an API token and use only that."""
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT) as browser:
        email = f"{name}-{uuid.uuid4().hex[:8]}@chaos.example"
        signed = await browser.post(
            "/api/v1/accounts", json={"email": email, "password": PASSWORD, "name": name}
        )
        signed.raise_for_status()
        tenant_id = uuid.UUID(_tenant_of(signed.json()))
        made = await browser.post("/api/v1/tokens", json={"label": "chaos"}, headers={"Origin": base_url})
        made.raise_for_status()
        token = made.json()["token"]
    client = httpx.AsyncClient(
        base_url=base_url, timeout=REQUEST_TIMEOUT, headers={"Authorization": f"Bearer {token}"}
    )
    return Workspace(name, tenant_id, token, client)


def _tenant_of(me: dict[str, Any]) -> str:
    for key in ("tenant_id", "workspace_id"):
        if key in me:
            return str(me[key])
    workspace = me.get("workspace") or me.get("tenant") or {}
    return str(workspace["id"])


async def upload(
    workspace: Workspace, files: list[ImageFile], timings: Timings, what: str = "upload"
) -> None:
    """POST /api/v1/assets?wait=false with these files, retried until the gateway answers: a 503 or 429
    waits its Retry-After, a dropped connection or a 5xx a second. Asset ids come from the bytes, so a
    retry never makes a second asset."""
    now = time.monotonic()
    for f in files:
        workspace.upload_started.setdefault(f.sha256, now)
    began = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        sent_at = time.monotonic()
        try:
            response = await workspace.client.post(
                "/api/v1/assets",
                params={"wait": "false"},
                files=[("files", (f.name, f.data, "image/png")) for f in files],
                data={"last_modified": [str(f.taken_ms) for f in files]},
            )
        except httpx.HTTPError as exc:
            timings.failed(f"{what}: {type(exc).__name__}")
            pause = 1.0
        else:
            if response.status_code == 200:
                timings.add(what, time.monotonic() - sent_at)
                for f, result in zip(files, response.json(), strict=True):
                    status = result["status"]
                    workspace.statuses[status] = workspace.statuses.get(status, 0) + 1
                    if status != "rejected":
                        workspace.sent[f.sha256] = f
                        if result.get("asset_id"):
                            workspace.asset_ids[f.sha256] = result["asset_id"]
                workspace.last_accepted_at = time.monotonic()
                return
            timings.failed(f"{what}: HTTP {response.status_code}")
            pause = (
                float(response.headers.get("Retry-After") or 1.0)
                if response.status_code in (429, 503)
                else 1.0
            )
        workspace.retries += 1
        if time.monotonic() - began > UPLOAD_ATTEMPT_SECONDS:
            raise RuntimeError(f"{workspace.name}: an upload was refused for {UPLOAD_ATTEMPT_SECONDS:.0f} s")
        await asyncio.sleep(min(pause, 10.0) if attempt > 1 else min(pause, 2.0))


async def upload_raw(workspace: Workspace, name: str, data: bytes) -> dict[str, Any]:
    """One file as it is (a poison upload): the gateway's verdict, retried only while it is away."""
    for _ in range(120):
        try:
            response = await workspace.client.post(
                "/api/v1/assets", params={"wait": "false"}, files=[("files", (name, data, "image/png"))]
            )
        except httpx.HTTPError:
            await asyncio.sleep(1.0)
            continue
        if response.status_code in (429, 503) or response.status_code >= 500:
            await asyncio.sleep(1.0)
            continue
        if response.status_code == 413:
            return {"filename": name, "status": "rejected", "reason": f"HTTP 413: {response.text[:200]}"}
        response.raise_for_status()
        return dict(response.json()[0])
    raise RuntimeError(f"the poison upload {name} was never answered")


async def browse(workspace: Workspace, timings: Timings, rng: random.Random) -> None:
    """What a person looking at their library does: the sessions, a gallery page, one session's images."""
    sessions = await workspace.get("/api/v1/sessions", timings, "GET /sessions", limit=50)
    await workspace.get("/api/v1/assets", timings, "GET /assets", limit=100)
    if sessions:
        chosen = rng.choice(sessions)
        await workspace.get(
            f"/api/v1/sessions/{chosen['id']}/assets", timings, "GET /sessions/{id}/assets", limit=100
        )


async def placed_assets(workspace: Workspace, timings: Timings) -> dict[str, str]:
    """asset id -> session id for every asset of the workspace that is in a session (the gallery, paged)."""
    placed: dict[str, str] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        began = time.monotonic()
        response = await workspace.client.get("/api/v1/assets", params=params)
        timings.add("GET /assets", time.monotonic() - began)
        response.raise_for_status()
        for asset in response.json():
            if asset.get("session_id"):
                placed[asset["asset_id"]] = asset["session_id"]
        cursor = response.headers.get("X-Next-Cursor") or _next_from_link(response.headers.get("Link"))
        if not cursor:
            return placed


def _next_from_link(link: str | None) -> str | None:
    if not link or 'rel="next"' not in link:
        return None
    from urllib.parse import parse_qs, urlsplit

    target = link.split(";")[0].strip().strip("<>")
    cursors = parse_qs(urlsplit(target).query).get("cursor")
    return cursors[0] if cursors else None


async def confirm_reflection(workspace: Workspace, session_id: str, timings: Timings) -> dict[str, Any]:
    """Quote and confirm a reflection of one session, the confirmation sent twice with one
    Idempotency-Key (a client retrying), each call retried while a service is away."""
    key = f"chaos-{uuid.uuid4()}"

    async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        for _ in range(240):
            began = time.monotonic()
            try:
                response = await workspace.client.request(method, path, **kwargs)
            except httpx.HTTPError:
                await asyncio.sleep(1.0)
                continue
            timings.add(f"{method} {path.split('/')[-1]}", time.monotonic() - began)
            if response.status_code >= 500 or response.status_code == 429:
                await asyncio.sleep(1.0)
                continue
            return response
        raise RuntimeError(f"{method} {path} never answered")

    quote = await call("POST", f"/api/v1/sessions/{session_id}/reflection/quote")
    if quote.status_code != 200:
        return {"session_id": session_id, "outcome": f"quote HTTP {quote.status_code}", "key": key}
    quote_id = quote.json()["quote_id"]
    answers = []
    for _ in range(2):
        confirmed = await call(
            "POST",
            f"/api/v1/sessions/{session_id}/reflections",
            json={"quote_id": quote_id},
            headers={"Idempotency-Key": key},
        )
        answers.append((confirmed.status_code, confirmed.json() if confirmed.content else {}))
    first, second = answers
    return {
        "session_id": session_id,
        "key": key,
        "credits": quote.json()["credits"],
        "outcome": f"HTTP {first[0]}",
        "reflection_id": first[1].get("reflection_id") or first[1].get("id"),
        "same_answer_twice": first == second,
    }


def utc_start(rng: random.Random) -> datetime:
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(0, 300))
