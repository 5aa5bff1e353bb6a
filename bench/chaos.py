"""`make chaos`: Atelier under faults, against the real local stack, with a report.

    make chaos                              # the full run (a fixed seed: the same bytes every time)
    CHAOS_IMAGES=600 CHAOS_WHALE=2000 make chaos   # smaller, for development

Everything is a real process: Tansu (events kept in SeaweedFS), SeaweedFS, an embedded PostgreSQL
owned by the run, and the five services (bench/chaos_stack.py). Every image goes through the
gateway's public API with a token per workspace (bench/chaos_client.py). Three phases, then checks:

1. minnows alone: CHAOS_MINNOWS workspaces upload CHAOS_MINNOW_IMAGES each and browse (list sessions,
   gallery pages, a session's images); for each image, the time from its upload request to the
   gallery showing it in a session (polled every 0.25 s), and every browsing call's latency;
2. faults during a steady import: CHAOS_WORKSPACES workspaces import CHAOS_IMAGES in all at
   CHAOS_RATE images/s while reflections are confirmed (Idempotency-Key, sent twice) on sessions of
   >= 50 images; kill -9 of each service in turn, then stop of the broker, the object store and
   PostgreSQL, each held down CHAOS_DOWN_SECONDS and restarted; per fault, the time from the restart
   until the part answers, until every service's readiness (/healthz) is back, and until the pipeline
   moves again (a new asset stored by ingest and a new member placed by clustering). Poison of every
   kind is injected meanwhile (bench/chaos_poison.py);
3. the whale: one workspace imports CHAOS_WHALE images as fast as the gateway takes them while
   CHAOS_MINNOWS new minnows do what they did in phase 1;
then, once the pipeline has drained: every image imported exactly once, sessions equal to the batch
segmentation, the credits ledger reconciled with every reservation resolved once, every outbox
drained, the dead letters and quarantine by kind. Writes bench/chaos.md and rows in
bench/chaos.json. Exit status 1 when a check fails.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from chaos_client import (  # noqa: E402
    ImageFile,
    Timings,
    Workspace,
    browse,
    confirm_reflection,
    generated_files,
    new_workspace,
    placed_assets,
    upload,
    utc_start,
)
from chaos_stack import INFRA_PARTS, SERVICES, ChaosStack  # noqa: E402

API_CALLS = ("GET /sessions", "GET /assets", "GET /sessions/{id}/assets")
# the pipeline is waited for while it moves; this long without any change means it stopped
STALL_SECONDS = 180.0
SCHEMAS = ("gateway", "ingest", "clustering", "credits", "reflection")


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


@dataclass(frozen=True)
class Settings:
    seed: int = _int("CHAOS_SEED", 2026)
    images: int = _int("CHAOS_IMAGES", 3000)
    workspaces: int = _int("CHAOS_WORKSPACES", 6)
    rate: float = _float("CHAOS_RATE", 10.0)
    whale: int = _int("CHAOS_WHALE", 20_000)
    minnows: int = _int("CHAOS_MINNOWS", 10)
    minnow_images: int = _int("CHAOS_MINNOW_IMAGES", 20)
    reflections: int = _int("CHAOS_REFLECTIONS", 6)
    gap_seconds: float = _float("CHAOS_GAP_SECONDS", 8.0)
    down_seconds: float = _float("CHAOS_DOWN_SECONDS", 3.0)
    # the most the final drain may take (waiting stops sooner once nothing moves for STALL_SECONDS)
    drain_seconds: float = _float("CHAOS_DRAIN_SECONDS", 3600.0)
    keep_state: bool = os.environ.get("CHAOS_KEEP_STATE") == "1"


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


# -- the database, read the way an operator would (reconnecting: PostgreSQL is one of the faults) ---
class Db:
    def __init__(self, url: str) -> None:
        self.url = url

    async def run(self, what: str, *args: Any, method: str = "fetch", timeout: float = 300.0) -> Any:
        import asyncpg

        began = time.monotonic()
        while True:
            try:
                conn = await asyncpg.connect(self.url, timeout=5.0)
                try:
                    return await getattr(conn, method)(what, *args)
                finally:
                    await conn.close()
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                if time.monotonic() - began > timeout:
                    raise
                await asyncio.sleep(0.25)

    async def val(self, what: str, *args: Any, timeout: float = 300.0) -> Any:
        return await self.run(what, *args, method="fetchval", timeout=timeout)

    async def progress(self) -> tuple[int, int]:
        """(assets stored by ingest, members placed by clustering), all workspaces."""
        row = await self.run(
            "SELECT (SELECT count(*) FROM ingest.assets) AS a,"
            " (SELECT count(*) FROM clustering.members WHERE session_id IS NOT NULL) AS m",
            method="fetchrow",
        )
        return int(row["a"]), int(row["m"])


def _json(value: Any) -> Any:
    """A jsonb column as asyncpg gives it without the services' codec: text."""
    import json

    return json.loads(value) if isinstance(value, str) else value


# -- phase 1 and 3: minnows ----------------------------------------------------------------------
@dataclass
class MinnowResult:
    upload_to_session: list[float] = field(default_factory=list)
    # the first part of it: upload request -> stored by ingest (ingest.assets.imported_at)
    upload_to_imported: list[float] = field(default_factory=list)
    never_placed: int = 0
    timings: Timings = field(default_factory=Timings)
    seconds: float = 0.0


async def minnows(
    stack: ChaosStack, settings: Settings, tag: str, registry: list[Workspace], stagger: float = 1.0
) -> MinnowResult:
    result = MinnowResult()
    began = time.monotonic()
    fish = [await new_workspace(stack.url("gateway"), f"minnow-{tag}-{i}") for i in range(settings.minnows)]
    registry.extend(fish)

    async def one(index: int, minnow: Workspace) -> None:
        rng = random.Random(f"{settings.seed}-{tag}-{index}")
        files = list(generated_files(rng, settings.minnow_images, minnow.name, utc_start(rng)))
        await asyncio.sleep(index * stagger)
        await upload(minnow, files, result.timings, "upload (minnow)")
        waiting = {minnow.asset_ids[f.sha256]: minnow.upload_started[f.sha256] for f in files}
        deadline = time.monotonic() + 600
        while waiting and time.monotonic() < deadline:
            placed = await placed_assets(minnow, result.timings)
            seen = time.monotonic()
            for asset_id in [a for a in waiting if a in placed]:
                result.upload_to_session.append(seen - waiting.pop(asset_id))
            await browse(minnow, result.timings, rng)
            await asyncio.sleep(0.25)
        result.never_placed += len(waiting)
        # and a little more browsing, as someone looking at what just arrived
        for _ in range(3):
            await browse(minnow, result.timings, rng)

    await asyncio.gather(*(one(i, m) for i, m in enumerate(fish)))
    result.seconds = time.monotonic() - began
    # where the time went: the database's clock is this machine's, so a monotonic time maps onto it
    wall_minus_mono = time.time() - time.monotonic()
    db = Db(stack.database_url)
    for minnow in fish:
        rows = await db.run(
            "SELECT asset_id, extract(epoch FROM imported_at) AS at FROM ingest.assets WHERE tenant_id = $1",
            minnow.tenant_id,
        )
        started = {
            minnow.asset_ids[sha]: t for sha, t in minnow.upload_started.items() if sha in minnow.asset_ids
        }
        for row in rows:
            if (t := started.get(str(row["asset_id"]))) is not None:
                result.upload_to_imported.append(float(row["at"]) - (t + wall_minus_mono))
    return result


# -- phase 2: the steady import and the faults ---------------------------------------------------
@dataclass
class FaultRecord:
    target: str
    kind: str  # "kill -9" or "stop"
    down_seconds: float
    restart_seconds: float  # the restart call itself (infrastructure start-up waits inside it)
    answers_seconds: float  # restart -> the part answers (/healthz, or its protocol)
    all_ready_seconds: float  # restart -> every service's /healthz is 200
    progress_seconds: float | None  # restart -> a new asset stored and a new member placed
    refused_uploads: int  # upload attempts refused or dropped while it was down or coming back


async def all_services_ready(stack: ChaosStack, timeout: float = 180.0) -> float:
    began = time.monotonic()
    while True:
        ready = await asyncio.gather(*(asyncio.to_thread(stack.service_healthy, s) for s in SERVICES))
        if all(ready):
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            return float("nan")
        await asyncio.sleep(0.2)


async def pipeline_moves(
    db: Db, since: float, importing: asyncio.Task[None], timeout: float = 180.0
) -> float | None:
    """Seconds from `since` until both counts grew past their first reading after `since` (None: they did
    not within `timeout`, or the import had nothing left to send)."""
    first = await db.progress()
    while time.monotonic() - since < timeout and not importing.done():
        now = await db.progress()
        if now[0] > first[0] and now[1] > first[1]:
            return time.monotonic() - since
        await asyncio.sleep(0.2)
    return None


async def fault_sequence(
    stack: ChaosStack,
    db: Db,
    settings: Settings,
    timings: Timings,
    on_second: Any,
    importing: asyncio.Task[None],
) -> list[FaultRecord]:
    records = []
    targets = [*SERVICES, *INFRA_PARTS]
    for index, target in enumerate(targets):
        await asyncio.sleep(settings.gap_seconds)
        if index == 1:
            await on_second()  # poison goes in while the faults go on
        refused_before = sum(timings.failures.values())
        is_service = target in SERVICES
        print(
            f"   fault {index + 1}/{len(targets)}: {'kill -9' if is_service else 'stop'} {target}", flush=True
        )
        if is_service:
            await asyncio.to_thread(stack.kill_service, target)
        else:
            await asyncio.to_thread(stack.stop_infra, target)
        await asyncio.sleep(settings.down_seconds)
        began = time.monotonic()
        if is_service:
            stack.start_service(target)  # in the main thread: see main()
        else:
            stack.restart_infra(target)
        restart_call = time.monotonic() - began
        if is_service:
            await asyncio.to_thread(stack.wait_healthy, target)
        else:
            await stack.wait_infra_ready(target)
        answers = time.monotonic() - began
        all_ready = await all_services_ready(stack)
        all_ready = (time.monotonic() - began) if all_ready == all_ready else float("nan")
        moved = await pipeline_moves(db, began, importing)
        record = FaultRecord(
            target,
            "kill -9" if is_service else "stop",
            settings.down_seconds,
            restart_call,
            answers,
            all_ready,
            moved,
            sum(timings.failures.values()) - refused_before,
        )
        print(
            f"     answers after {answers:.1f} s, all ready after {all_ready:.1f} s, pipeline moving after "
            f"{'never' if moved is None else f'{moved:.1f} s'}",
            flush=True,
        )
        records.append(record)
    return records


async def steady_import(
    workspaces: list[Workspace], files: dict[str, list[ImageFile]], rate: float, timings: Timings
) -> None:
    """Each workspace uploads its files in requests of 10 at its share of `rate` (CHAOS_IMAGES at
    CHAOS_RATE should outlast the faults: a fault after the import's end has no pipeline to watch)."""
    per_request = 10

    async def one(workspace: Workspace) -> None:
        mine = files[workspace.name]
        interval = per_request / (rate / len(workspaces))
        next_at = time.monotonic()
        for start in range(0, len(mine), per_request):
            await upload(workspace, mine[start : start + per_request], timings)
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    await asyncio.gather(*(one(w) for w in workspaces))


async def reflector(
    workspaces: list[Workspace], wanted: int, timings: Timings, done: asyncio.Event
) -> list[dict[str, Any]]:
    """Confirm reflections of sessions of >= 50 images, one per workspace, while the import runs."""
    confirmed: list[dict[str, Any]] = []
    reflected: set[str] = set()
    while not done.is_set() and len(confirmed) < wanted:
        for workspace in workspaces:
            if workspace.name in reflected or len(confirmed) >= wanted:
                continue
            try:
                sessions = await workspace.get("/api/v1/sessions", timings, "GET /sessions", limit=50)
            except Exception:
                continue
            big = [s for s in sessions if s["asset_count"] >= 50]
            if big:
                answer = await confirm_reflection(workspace, big[0]["id"], timings)
                answer["workspace"] = workspace.name
                answer["tenant_id"] = str(workspace.tenant_id)
                confirmed.append(answer)
                reflected.add(workspace.name)
                print(f"   reflection confirmed for {workspace.name}: {answer['outcome']}", flush=True)
        await asyncio.sleep(3.0)
    return confirmed


# -- phase 3: the whale --------------------------------------------------------------------------
async def whale_upload(
    whale: Workspace, files: list[ImageFile], timings: Timings, concurrency: int = 3, per_request: int = 100
) -> float:
    began = time.monotonic()
    chunks = [files[i : i + per_request] for i in range(0, len(files), per_request)]
    queue: asyncio.Queue[list[ImageFile]] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def worker() -> None:
        while not queue.empty():
            await upload(whale, queue.get_nowait(), timings, "upload (whale)")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.monotonic() - began


def reservation_keys(reflections: list[dict[str, Any]]) -> list[str]:
    """The credits reservations' keys: the gateway reserves under `reflection:<tenant>:<Idempotency-Key>`
    (services/gateway/reflections/endpoints.py)."""
    return [f"reflection:{r['tenant_id']}:{r['key']}" for r in reflections if r.get("key")]


# -- checks --------------------------------------------------------------------------------------
async def drained(db: Db, workspaces: list[Workspace], reflections: list[dict[str, Any]]) -> dict[str, Any]:
    tenants = [w.tenant_id for w in workspaces]
    expected = sum(len(w.sent) for w in workspaces)
    stored = await db.val("SELECT count(*) FROM ingest.assets WHERE tenant_id = ANY($1::uuid[])", tenants)
    quarantined = await db.val(
        "SELECT count(*) FROM ingest.quarantine WHERE tenant_id = ANY($1::uuid[])", tenants
    )
    placed = await db.val(
        "SELECT count(*) FROM clustering.members WHERE tenant_id = ANY($1::uuid[])"
        " AND session_id IS NOT NULL",
        tenants,
    )
    pending = 0
    for schema in SCHEMAS:
        pending += await db.val(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")
    keys = reservation_keys(reflections)
    unresolved = (
        await db.val(
            "SELECT count(*) FROM credits.reservations WHERE idempotency_key = ANY($1::text[])"
            " AND status = 'pending'",
            keys,
        )
        if keys
        else 0
    )
    return {
        "expected": expected,
        "stored": stored,
        "quarantined": quarantined,
        "placed": placed,
        "outbox_pending": pending,
        "reservations_pending": unresolved,
    }


async def wait_drained(
    db: Db, workspaces: list[Workspace], reflections: list[dict[str, Any]], timeout: float
) -> tuple[dict[str, Any], float]:
    began = last_change = time.monotonic()
    last: dict[str, Any] = {}
    while True:
        state = await drained(db, workspaces, reflections)
        done = (
            state["stored"] + state["quarantined"] >= state["expected"]
            and state["placed"] >= state["stored"]
            and state["outbox_pending"] == 0
            and state["reservations_pending"] == 0
        )
        if done or time.monotonic() - began > timeout:
            return state, time.monotonic() - began
        # a pipeline still moving is waited for, however slow this machine is; one that stopped is not
        if state != last:
            last, last_change = state, time.monotonic()
        elif time.monotonic() - last_change > STALL_SECONDS:
            return state, time.monotonic() - began
        await asyncio.sleep(1.0)


async def check_workspaces(db: Db, workspaces: list[Workspace]) -> list[dict[str, Any]]:
    """Per workspace: sent vs stored (lost, duplicated, extra), quarantined good files, and its sessions
    against the batch segmentation of its stored times under its rule."""
    from libs.sessions.segmentation import Moment, segment
    from services.clustering.handlers import rule_for
    from services.clustering.repository import TenantState

    rows = []
    for w in workspaces:
        assets = await db.run("SELECT asset_id, sha256 FROM ingest.assets WHERE tenant_id = $1", w.tenant_id)
        by_sha = Counter(r["sha256"] for r in assets)
        quarantined = await db.run(
            "SELECT sha256, reason FROM ingest.quarantine WHERE tenant_id = $1", w.tenant_id
        )
        members = await db.run(
            "SELECT asset_id, generated_at, precision, session_id FROM clustering.members"
            " WHERE tenant_id = $1",
            w.tenant_id,
        )
        state = await db.run(
            "SELECT version, gap_minutes, cuts_before, joins, segmented_with"
            " FROM clustering.tenant_state WHERE tenant_id = $1",
            w.tenant_id,
            method="fetchrow",
        )
        sent = set(w.sent)
        lost = sent - set(by_sha) - {q["sha256"] for q in quarantined}
        duplicated = sum(n - 1 for n in by_sha.values() if n > 1)
        good_quarantined = [q for q in quarantined if q["sha256"] in sent]
        sessions_match: bool | None = None
        session_count = len({m["session_id"] for m in members if m["session_id"]})
        if state is not None:
            from libs.sessions.segmentation import ManualEdits

            edits = ManualEdits(
                cuts_before=frozenset(state["cuts_before"]),
                joins=frozenset(tuple(j) for j in _json(state["joins"])),
            )
            rule = rule_for(
                TenantState(state["version"], state["gap_minutes"], edits, state["segmented_with"])
            )
            expected = {
                frozenset(m.asset_id for m in s)
                for s in segment(
                    [Moment(str(m["asset_id"]), m["generated_at"], m["precision"]) for m in members],
                    rule,
                    edits,
                )
            }
            actual: dict[uuid.UUID, set[str]] = {}
            for m in members:
                actual.setdefault(m["session_id"], set()).add(str(m["asset_id"]))
            sessions_match = {frozenset(s) for s in actual.values()} == expected and None not in actual
        rows.append(
            {
                "workspace": w.name,
                "sent": len(sent),
                "imported": len(by_sha),
                "lost": len(lost),
                "duplicated": duplicated,
                "extra": len(set(by_sha) - sent),
                "good_quarantined": len(good_quarantined),
                "placed": sum(1 for m in members if m["session_id"]),
                "sessions": session_count,
                "sessions_match": sessions_match,
                "upload_retries": w.retries,
            }
        )
    return rows


async def check_credits(
    db: Db, stack: ChaosStack, reflections: list[dict[str, Any]], tenants: list[uuid.UUID]
) -> dict[str, Any]:
    import asyncpg

    from services.credits.repository import reconcile

    pool = await asyncpg.create_pool(stack.database_url, min_size=1, max_size=2)
    try:
        rec = await reconcile(pool)
    finally:
        await pool.close()
    keys = reservation_keys(reflections)
    reservations = await db.run(
        "SELECT reservation_id, idempotency_key, credits, status, settled_credits"
        " FROM credits.reservations WHERE idempotency_key = ANY($1::text[])",
        keys,
    )
    resolutions = await db.run(
        "SELECT reservation_id, count(*) AS n FROM credits.transfers WHERE kind IN ('settlement', 'release', 'expiry')"
        " AND reservation_id = ANY($1::uuid[]) GROUP BY reservation_id",
        [r["reservation_id"] for r in reservations],
    )
    resolved = {r["reservation_id"]: r["n"] for r in resolutions}
    balances = await db.run(
        """
        SELECT w.tenant_id, w.available + w.held AS balance,
               coalesce((SELECT sum(credits) FROM credits.transfers t WHERE t.tenant_id = w.tenant_id
                         AND kind IN ('grant', 'purchase')), 0) AS granted,
               coalesce((SELECT sum(settled_credits) FROM credits.reservations r WHERE r.tenant_id = w.tenant_id
                         AND status = 'settled'), 0) AS settled
        FROM credits.wallets w WHERE w.tenant_id = ANY($1::uuid[])
        """,
        tenants,
    )
    reflection_ids = [uuid.UUID(r["reflection_id"]) for r in reflections if r.get("reflection_id")]
    statuses = await db.run(
        "SELECT status, count(*) AS n FROM reflection.reflections WHERE reflection_id = ANY($1::uuid[]) GROUP BY status",
        reflection_ids,
    )
    return {
        "reflections_by_status": {r["status"]: r["n"] for r in statuses},
        "confirmed": len(keys),
        "reservations": len(reservations),
        "reserved": sum(r["credits"] for r in reservations),
        "settled": sum(r["settled_credits"] or 0 for r in reservations if r["status"] == "settled"),
        "released": sum(r["credits"] for r in reservations if r["status"] in ("released", "expired")),
        "unsettled_part_of_settled": sum(
            r["credits"] - (r["settled_credits"] or 0) for r in reservations if r["status"] == "settled"
        ),
        "by_status": dict(Counter(r["status"] for r in reservations)),
        "resolved_once": sum(1 for r in reservations if resolved.get(r["reservation_id"]) == 1),
        "resolved_twice_or_more": sum(1 for r in reservations if resolved.get(r["reservation_id"], 0) > 1),
        "ledger_reconciled": not (
            rec.mismatched or rec.unbalanced_transfers or rec.ledger_total or rec.resolved_twice
        ),
        "ledger": {
            "wallets": rec.wallets,
            "mismatched": len(rec.mismatched),
            "unbalanced": len(rec.unbalanced_transfers),
            "total": rec.ledger_total,
            "resolved_twice": len(rec.resolved_twice),
        },
        "balances_equal_grants_minus_settled": all(
            b["balance"] == b["granted"] - b["settled"] for b in balances
        ),
        "wallets_checked": len(balances),
        "same_answer_for_the_same_key": all(r.get("same_answer_twice") for r in reflections if r.get("key")),
    }


async def outboxes(db: Db) -> dict[str, int]:
    return {s: await db.val(f"SELECT count(*) FROM {s}.outbox WHERE published_at IS NULL") for s in SCHEMAS}


# -- the run -------------------------------------------------------------------------------------
async def run(
    settings: Settings, stack: ChaosStack, state_dir: Path, started_at: datetime, wall: float
) -> int:
    from chaos_poison import PoisonRun
    from chaos_report import write_report

    everyone: list[Workspace] = []
    try:
        db = Db(stack.database_url)

        # 1. minnows alone
        print("== phase 1: minnows without the whale", flush=True)
        without = await minnows(stack, settings, "alone", everyone)
        print(
            f"   p95 upload->session {p(without.upload_to_session, 95):.2f} s in {without.seconds:.0f} s",
            flush=True,
        )

        load = {"phase 1": os.getloadavg()[0]}

        # 2. steady import with faults, reflections and poison
        print("== phase 2: steady import under faults", flush=True)
        steady = [
            await new_workspace(stack.url("gateway"), f"steady-{i}") for i in range(settings.workspaces)
        ]
        everyone.extend(steady)
        per = [
            settings.images // settings.workspaces + (1 if i < settings.images % settings.workspaces else 0)
            for i in range(settings.workspaces)
        ]
        files = {}
        for w, n in zip(steady, per, strict=True):
            rng = random.Random(f"{settings.seed}-{w.name}")
            files[w.name] = list(generated_files(rng, n, w.name, utc_start(rng)))
        poison = PoisonRun(stack, settings.seed)
        poison_workspace = await new_workspace(stack.url("gateway"), "poison")
        steady_timings = Timings()
        faults_done = asyncio.Event()
        phase_began = time.monotonic()
        importing = asyncio.create_task(steady_import(steady, files, settings.rate, steady_timings))
        reflecting = asyncio.create_task(reflector(steady, settings.reflections, steady_timings, faults_done))
        faults = await fault_sequence(
            stack, db, settings, steady_timings, lambda: poison.inject(poison_workspace), importing
        )
        faults_done.set()
        load["phase 2"] = os.getloadavg()[0]
        await importing
        import_seconds = time.monotonic() - phase_began
        reflections = await reflecting
        print(
            f"   steady import sent {sum(len(w.sent) for w in steady)} images in {import_seconds:.0f} s",
            flush=True,
        )

        # 3. the whale and minnows
        print(f"== phase 3: a whale of {settings.whale} images and {settings.minnows} minnows", flush=True)
        whale = await new_workspace(stack.url("gateway"), "whale")
        everyone.append(whale)
        rng = random.Random(f"{settings.seed}-whale")
        whale_files = list(generated_files(rng, settings.whale, "whale", utc_start(rng)))
        whale_timings = Timings()
        base_progress = await db.progress()
        whale_began = time.monotonic()
        whale_task = asyncio.create_task(whale_upload(whale, whale_files, whale_timings))
        # the minnows come once the whale is well under way: its backlog is what they must not wait behind
        while len(whale.sent) < min(len(whale_files) // 10, 2000) and not whale_task.done():  # noqa: ASYNC110 (polls a count)
            await asyncio.sleep(0.5)
        with_whale = await minnows(stack, settings, "whale", everyone)
        whale_upload_seconds = await whale_task
        print(
            f"   whale uploaded in {whale_upload_seconds:.0f} s; minnows p95 upload->session "
            f"{p(with_whale.upload_to_session, 95):.2f} s",
            flush=True,
        )

        async def whale_imported() -> int:
            return int(
                await db.val(
                    "SELECT count(*) FROM clustering.members WHERE tenant_id = $1 AND session_id IS NOT NULL",
                    whale.tenant_id,
                )
            )

        seen, seen_change = -1, time.monotonic()
        while (now_imported := await whale_imported()) < len(whale.sent):
            if now_imported != seen:
                seen, seen_change = now_imported, time.monotonic()
            elif time.monotonic() - seen_change > STALL_SECONDS:
                break  # stopped moving: the checks below say what is missing
            await asyncio.sleep(1.0)
        whale_import_seconds = time.monotonic() - whale_began
        load["phase 3"] = os.getloadavg()[0]
        whale_progress = await db.progress()

        # drain and check
        print("== draining and checking", flush=True)
        drain_state, drain_seconds = await wait_drained(db, everyone, reflections, settings.drain_seconds)
        workspace_rows = await check_workspaces(db, everyone)
        credits = await check_credits(db, stack, reflections, [w.tenant_id for w in steady])
        pending_outbox = await outboxes(db)
        print("== the oversized event, on its own", flush=True)
        behind = await poison.inject_oversized_event(poison_workspace)
        oversized: dict[str, Any] = {"good_file_behind": behind, "imported_after": None}
        waited = time.monotonic()
        while behind.get("asset_id") and time.monotonic() - waited < 90:
            if await db.val(
                "SELECT count(*) FROM ingest.assets WHERE asset_id = $1", uuid.UUID(behind["asset_id"])
            ):
                oversized["imported_after"] = time.monotonic() - waited
                break
            await asyncio.sleep(1.0)
        oversized["ingest_ready"] = await asyncio.to_thread(stack.service_healthy, "ingest")
        ingest_log = (stack.log_dir / "ingest.log").read_text(errors="replace")
        oversized["dead_letter_failures"] = ingest_log.count("MessageSizeTooLargeError:")
        poison_rows = await poison.collect(db, poison_workspace)
        replay = await poison.replay_if_available()

        summary = {
            "settings": settings.__dict__,
            "started_at": started_at.isoformat(),
            "wall_seconds": time.monotonic() - wall,
            "state_dir": str(state_dir),
            "without": without,
            "with": with_whale,
            "faults": faults,
            "import_seconds": import_seconds,
            "steady_timings": steady_timings,
            "reflections": reflections,
            "whale": {
                "images": len(whale.sent),
                "upload_seconds": whale_upload_seconds,
                "import_seconds": whale_import_seconds,
                "retries": whale.retries,
                "refusals": dict(whale_timings.failures),
                "stored_during": whale_progress[0] - base_progress[0],
            },
            "drain": {**drain_state, "seconds": drain_seconds},
            "workspaces": workspace_rows,
            "credits": credits,
            "outbox_pending": pending_outbox,
            "poison": poison_rows,
            "oversized": oversized,
            "load": load,
            "replay": replay,
        }
        ok = write_report(summary, HERE)
        print(
            f"== done in {(time.monotonic() - wall) / 60:.1f} min: {'all checks passed' if ok else 'CHECKS FAILED'}"
        )
        print(f"   report: {HERE / 'chaos.md'}")
        return 0 if ok else 1
    finally:
        for w in everyone:
            await w.client.aclose()


def main() -> int:
    import logging

    logging.basicConfig(level=logging.WARNING)
    for name in ("aiokafka", "faststream"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    settings = Settings()
    started_at, wall = datetime.now(UTC), time.monotonic()
    state_dir = Path(tempfile.mkdtemp(prefix="atelier-chaos-"))
    print(f"== chaos: seed {settings.seed}, state in {state_dir}", flush=True)
    stack = ChaosStack(state_dir, {"ATELIER_MAX_UPLOAD_BYTES": str(4 * 1024 * 1024)})
    try:
        # from the main thread, so each child gets SIGTERM if this process dies (libs/stack/processes.py)
        stack.start()
        print(f"   stack up in {time.monotonic() - wall:.1f} s", flush=True)
        return asyncio.run(run(settings, stack, state_dir, started_at, wall))
    finally:
        stack.stop()
        if not settings.keep_state:
            shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
