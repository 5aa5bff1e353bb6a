"""`atelier admin restore-workspace TENANT --from EXPORT.zip`: bring a workspace back from its export.

Run on the server side (`python -m services.gateway.export.restore`, started by libs/cli/admin.py as
the account commands are), with the gateway's settings (`ATELIER_DATABASE_URL`, S3, `ATELIER_CLUSTERING_URL`,
`ATELIER_INTERNAL_TOKEN`), while the services run. It goes through the normal pipeline rather than around it:

1. the workspace's time zone and session gap first (so the import is segmented under them);
2. every original the workspace lacks (by SHA-256) is put in the object store and `asset.uploaded` is
   queued through the gateway's outbox, exactly as an upload is: ingest reads the metadata and makes
   the thumbnails, clustering makes the sessions, lineage and stacks. Asset ids come from (workspace,
   sha256), so restoring into the same workspace gives the same ids; another workspace gets its own,
   and everything below is mapped through the SHA-256;
3. once ingest and clustering have them all: the person's word again, through clustering's internal API
   as the gateway forwards it: cuts and joins until every session holds the same images as in the
   export, picks and rejects, stacks made or split by hand;
4. completed reflections as records: written into the reflection service's table with their texts and
   what they cost then, with no quote, reservation or charge (the credits were spent once, and the
   ledger keeps that). This is the one write into another service's schema, as an operator's restore
   of rows, with the owner's columns and `ON CONFLICT DO NOTHING`.

Each step first looks at what is there and does only what differs, so a second run changes nothing
(it reports `changes: 0`), and a run cut short can simply be run again."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

import asyncpg
from fastapi import HTTPException

from libs.common.assets import asset_id_for
from libs.common.db import create_pool
from libs.common.events import AssetUploaded, Event, ImportSource, Topics
from libs.common.internal import call_internal
from libs.common.outbox import add_to_outbox
from libs.common.storage import ObjectStore, original_key
from services.gateway import repository as gateway_repository
from services.gateway.auth import AuthSubject
from services.gateway.export import repository, schemas
from services.gateway.settings import GatewaySettings

SOURCES: tuple[ImportSource, ...] = ("upload", "zip", "folder", "sync")
UPLOAD_BATCH = 32
# rounds of session edits (one read, then every cut, or every join, it shows) before the restore stops and
# says so: cuts settle in one round and joins in the next, a refusal can cost one more
SESSION_EDIT_ROUNDS = 10
HASH_CHUNK = 1024 * 1024


class RestoreRefused(Exception):
    """The export cannot be restored here (not an export, a format this code does not know, no such
    workspace, a file whose bytes are not its SHA-256)."""


@dataclass
class RestoreReport:
    uploaded: int = 0
    already_there: int = 0
    quarantined: int = 0
    time_zone: int = 0
    gap: int = 0
    cuts: int = 0
    joins: int = 0
    flags: int = 0
    stack_edits: int = 0
    reflections: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return (self.uploaded + self.time_zone + self.gap + self.cuts + self.joins + self.flags
                + self.stack_edits + self.reflections)  # fmt: skip

    def lines(self) -> list[str]:
        return [
            f"originals: {self.uploaded} imported, {self.already_there} already there, "
            f"{self.quarantined} quarantined",
            f"settings: time zone {'set' if self.time_zone else 'unchanged'}, "
            f"session gap {'set' if self.gap else 'unchanged'}",
            f"sessions: {self.cuts} cuts, {self.joins} joins",
            f"flags: {self.flags} set; stacks: {self.stack_edits} edits; reflections: {self.reflections} restored",
            *(f"warning: {w}" for w in self.warnings),
            f"changes: {self.changes}",
        ]


@dataclass(frozen=True)
class Original:
    """What the restore keeps of a metadata.jsonl line (not the whole record: a large library's
    metadata need not sit in memory)."""

    old_id: uuid.UUID
    sha256: str
    file: str
    filename: str
    source: ImportSource
    file_mtime: Any
    sidecar: dict[str, Any] | None
    in_session: bool


def _original(line: schemas.ExportedAsset) -> Original:
    """Hand the pipeline what made the asset's time the first time, when it came from outside the
    file's bytes: a file time as `file_mtime`, a sidecar's key as that sidecar. Times read from the
    metadata or the file name come back by themselves (the name is kept)."""
    src = line.timestamp_source or ""
    at = line.generated_at
    mtime = at if at is not None and src == "file_mtime" else None
    sidecar = (
        {src.removeprefix("sidecar:"): at.isoformat()}
        if at is not None and src.startswith("sidecar:")
        else None
    )
    source = cast(ImportSource, line.source) if line.source in SOURCES else "upload"
    return Original(line.asset_id, line.sha256, line.file, line.filename, source, mtime, sidecar,
                    line.session_id is not None)  # fmt: skip


@dataclass
class Export:
    workspace: schemas.ExportedWorkspace
    originals: list[Original]
    sessions: list[schemas.ExportedSession]
    reflections: list[schemas.ExportedReflection]
    flags: list[schemas.ExportedFlag]
    stacks: list[schemas.ExportedStack]
    missing: list[str] = field(default_factory=list)  # originals listed but not in the zip


def read_export(archive: zipfile.ZipFile) -> Export:
    names = set(archive.namelist())
    for needed in (schemas.WORKSPACE_FILE, schemas.METADATA_FILE, schemas.SESSIONS_FILE):
        if needed not in names:
            raise RestoreRefused(f"not an Atelier export: {needed} is missing")
    workspace = schemas.ExportedWorkspace.model_validate_json(archive.read(schemas.WORKSPACE_FILE))
    if workspace.format != schemas.FORMAT:
        raise RestoreRefused(f"export format {workspace.format!r}; this server reads {schemas.FORMAT!r}")

    def lines(name: str) -> list[bytes]:
        if name not in names:
            return []
        with archive.open(name) as f:
            return [line for line in f if line.strip()]

    def array(name: str) -> list[Any]:
        return json.loads(archive.read(name)) if name in names else []

    listed = [
        _original(schemas.ExportedAsset.model_validate_json(line)) for line in lines(schemas.METADATA_FILE)
    ]
    return Export(
        workspace=workspace,
        # an original the store had lost when the export was made is a `.missing.txt` in the zip: the rest
        # is restored, and the report names what could not be
        originals=[o for o in listed if o.file in names],
        missing=[o.file for o in listed if o.file not in names],
        sessions=[schemas.ExportedSession.model_validate(s) for s in array(schemas.SESSIONS_FILE)],
        reflections=[schemas.ExportedReflection.model_validate(r) for r in array(schemas.REFLECTIONS_FILE)],
        flags=[schemas.ExportedFlag.model_validate_json(line) for line in lines(schemas.FLAGS_FILE)],
        stacks=[schemas.ExportedStack.model_validate_json(line) for line in lines(schemas.STACKS_FILE)],
    )


Sessions = list[tuple[uuid.UUID, list[uuid.UUID]]]
Cuts = tuple[Literal["cut"], list[tuple[uuid.UUID, list[uuid.UUID]]]]
Joins = tuple[Literal["join"], list[list[uuid.UUID]]]


def plan_session_edits(
    sessions: Sessions, label: dict[uuid.UUID, int], refused: set[uuid.UUID]
) -> Cuts | Joins | None:
    """The edits that bring `sessions` (live sessions in time order, members in generation order) to the
    export's, read from one look at them: `label` says which exported session each asset was in.

    First the cuts: for each session holding images of two or more exported sessions, the images to cut
    before (where the exported session changes), in order. Only when there are none, the joins: runs of
    neighbouring sessions holding images of one exported session. None when they match. Images the
    export does not know are left where they are; `refused` (an asset a cut before was refused, a session
    a join into was refused) is not proposed again."""
    cuts = []
    for session_id, members in sessions:
        before: list[uuid.UUID] = []
        previous: int | None = None
        for asset in members:
            here = label.get(asset)
            if here is None:
                continue
            if previous is not None and here != previous and asset not in refused:
                before.append(asset)
            previous = here
        if before:
            cuts.append((session_id, before))
    if cuts:
        return ("cut", cuts)
    runs: list[list[uuid.UUID]] = []
    run: list[uuid.UUID] = []
    run_label: int | None = None
    for session_id, members in sessions:
        here = next((label[m] for m in members if m in label), None)
        if here is None:
            continue
        if run and here == run_label and session_id not in refused:
            run.append(session_id)
            continue
        if len(run) > 1:
            runs.append(run)
        run, run_label = [session_id], here
    if len(run) > 1:
        runs.append(run)
    return ("join", runs) if runs else None


def remap_ids(value: Any, ids: dict[str, str]) -> Any:
    """`value` (JSON) with every string that is an old asset id replaced by the new one."""
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, list):
        return [remap_ids(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: remap_ids(v, ids) for k, v in value.items()}
    return value


class Restorer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        store: ObjectStore,
        settings: GatewaySettings,
        subject: AuthSubject,
        archive: zipfile.ZipFile,
        say: Callable[[str], None] = print,
    ) -> None:
        self.pool, self.store, self.settings, self.subject = pool, store, settings, subject
        self.archive, self.say = archive, say
        self.report = RestoreReport()

    def new_id(self, sha256: str) -> uuid.UUID:
        return asset_id_for(self.subject.tenant_id, sha256)

    async def _clustering(self, method: str, path: str, body: Any = None) -> Any:
        response = await call_internal(
            self.settings, "clustering", self.settings.clustering_url, method,
            f"/internal/v1/tenants/{self.subject.tenant_id}{path}", **({"json": body} if body is not None else {}),
        )  # fmt: skip
        return response.json()

    # --- 1. settings ------------------------------------------------------------------------------

    async def settings_first(self, workspace: schemas.ExportedWorkspace) -> None:
        if self.subject.time_zone != workspace.time_zone:
            await gateway_repository.set_time_zone(self.pool, self.subject, workspace.time_zone)
            self.subject = AuthSubject(self.subject.tenant_id, self.subject.tenant_name, workspace.time_zone)
            self.report.time_zone = 1
        if await gateway_repository.session_gap_minutes(self.pool, self.subject) != workspace.gap_minutes:
            await self._clustering("PUT", "/rules", {"gap_minutes": workspace.gap_minutes})
            self.report.gap = 1

    # --- 2. originals through the pipeline --------------------------------------------------------

    def _verified(self, item: Original) -> int:
        """The entry's size once its bytes are checked against its SHA-256 (a thread's work)."""
        digest, size = hashlib.sha256(), 0
        with self.archive.open(item.file) as f:
            while chunk := f.read(HASH_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        if digest.hexdigest() != item.sha256:
            raise RestoreRefused(f"{item.file} is not the file metadata.jsonl names (its SHA-256 differs)")
        return size

    async def _stage(self, batch: list[Original]) -> None:
        known = await gateway_repository.known_sha256s(self.pool, self.subject, [o.sha256 for o in batch])
        fresh = [o for o in batch if o.sha256 not in known]
        self.report.already_there += len(batch) - len(fresh)
        sizes = {}
        for item in fresh:  # one at a time: each is read from the zip twice (check, then put)
            sizes[item.sha256] = size = await asyncio.to_thread(self._verified, item)
            with self.archive.open(item.file) as body:
                await self.store.put_file(
                    self.store.originals,
                    original_key(self.subject.tenant_id, item.sha256),
                    cast(BinaryIO, body),
                    size,
                )
        async with self.pool.acquire() as conn, conn.transaction():
            events = []
            for item in fresh:
                asset_id = self.new_id(item.sha256)
                if not await gateway_repository.record_upload(
                    conn, self.subject, asset_id, item.sha256, item.filename
                ):
                    self.report.already_there += 1
                    continue
                events.append(Event.of(AssetUploaded(
                    asset_id=asset_id, sha256=item.sha256, object_key=original_key(self.subject.tenant_id, item.sha256),
                    filename=item.filename, size=sizes[item.sha256], source=item.source, file_mtime=item.file_mtime,
                    tenant_tz=self.subject.time_zone, sidecar=item.sidecar,
                ), tenant_id=self.subject.tenant_id, topic=Topics.ASSET_UPLOADED_BULK))  # fmt: skip
            # a restore is a whole library at once: the bulk lane, so people's own uploads never queue behind it
            await add_to_outbox(conn, "gateway", events)
            self.report.uploaded += len(events)

    async def originals(self, originals: list[Original]) -> None:
        for start in range(0, len(originals), UPLOAD_BATCH):
            await self._stage(originals[start : start + UPLOAD_BATCH])
        self.say(f"originals staged: {self.report.uploaded} new, {self.report.already_there} already there")

    async def _until(self, what: str, check: Callable[[], Any], timeout: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not await check():
            if asyncio.get_running_loop().time() >= deadline:
                raise RestoreRefused(
                    f"gave up waiting for {what} after {timeout:.0f} s (run the restore again later)"
                )
            await asyncio.sleep(0.5)

    async def pipeline_done(self, originals: list[Original], timeout: float) -> None:
        """Wait until ingest has a verdict on every original, and clustering has placed every imported one
        that was in a session."""
        ids = [self.new_id(o.sha256) for o in originals]
        statuses: dict[uuid.UUID, Any] = {}

        async def ingested() -> bool:
            for start in range(0, len(ids), 1000):
                statuses.update(
                    await gateway_repository.statuses(self.pool, self.subject, ids[start : start + 1000])
                )
            return len(statuses) == len(ids)

        await self._until("ingest", ingested, timeout)
        bad = {a for a, row in statuses.items() if row["status"] == "quarantined"}
        self.report.quarantined = len(bad)
        placed = [
            self.new_id(o.sha256) for o in originals if o.in_session and self.new_id(o.sha256) not in bad
        ]

        async def clustered() -> bool:
            q = gateway_repository.readable_session_assets(self.subject)
            q.where(f"m.asset_id = ANY({q.bind(placed)}::uuid[])")
            return int(await self.pool.fetchval(*q.select("count(*)"))) == len(placed)

        await self._until("clustering", clustered, timeout)

    # --- 3. the person's word ---------------------------------------------------------------------

    async def live_sessions(self) -> list[tuple[uuid.UUID, list[uuid.UUID]]]:
        found: list[tuple[uuid.UUID, list[uuid.UUID]]] = []
        async for page in repository.sessions(self.pool, self.subject):
            members = await repository.session_members(
                self.pool, self.subject, [r["session_id"] for r in page]
            )
            found += [(r["session_id"], members[r["session_id"]]) for r in page]
        return found

    async def sessions(
        self, exported: list[schemas.ExportedSession], ids: dict[uuid.UUID, uuid.UUID]
    ) -> None:
        """Cut and join until every session holds the images it held in the export: each round reads the
        sessions once and makes every edit that read shows (a session's cuts from its last one back, so
        each next cut is in the earlier part the previous split answered with; a run of joins into the
        survivor each merge answered with)."""
        label = {ids[a]: n for n, s in enumerate(exported) for a in s.asset_ids if a in ids}
        refused: set[uuid.UUID] = set()
        for _ in range(SESSION_EDIT_ROUNDS):
            plan = plan_session_edits(await self.live_sessions(), label, refused)
            if plan is None:
                return
            if plan[0] == "cut":
                for session_id, assets in plan[1]:
                    current = session_id
                    for asset in reversed(assets):
                        try:
                            answer = await self._clustering(
                                "POST", f"/sessions/{current}/split", {"asset_id": str(asset)}
                            )
                        except HTTPException as refusal:
                            refused.add(asset)
                            self.report.warnings.append(
                                f"session cut refused by clustering: {refusal.detail}"
                            )
                            continue
                        self.report.cuts += 1
                        current = uuid.UUID(answer["session_ids"][0])
            else:
                for run in plan[1]:
                    survivor = run[0]
                    for later in run[1:]:
                        body = {"session_ids": [str(survivor), str(later)]}
                        try:
                            answer = await self._clustering("POST", "/sessions/merge", body)
                        except HTTPException as refusal:
                            refused.add(later)
                            self.report.warnings.append(
                                f"session join refused by clustering: {refusal.detail}"
                            )
                            break
                        self.report.joins += 1
                        survivor = uuid.UUID(answer["session_ids"][0])
        self.report.warnings.append(
            f"sessions still differ after {SESSION_EDIT_ROUNDS} rounds of cuts and joins"
        )

    async def _current_flags(self) -> dict[uuid.UUID, str]:
        return {
            r["asset_id"]: r["flag"] async for page in repository.flags(self.pool, self.subject) for r in page
        }

    async def flags(self, exported: list[schemas.ExportedFlag], ids: dict[uuid.UUID, uuid.UUID]) -> None:
        current = await self._current_flags()
        for f in exported:
            asset = ids.get(f.asset_id)
            if asset is not None and current.get(asset) != f.flag:
                await self._clustering("PUT", f"/assets/{asset}/flag", {"flag": f.flag})
                self.report.flags += 1

    async def _current_stacks(self) -> dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID, set[uuid.UUID]]]:
        """asset -> (its session, its stack, the stack's assets)."""
        found = {}
        async for page in repository.stacks(self.pool, self.subject):
            for r in page:
                for a in r["asset_ids"]:
                    found[a] = (r["session_id"], r["stack_id"], set(r["asset_ids"]))
        return found

    async def stacks(self, exported: list[schemas.ExportedStack], ids: dict[uuid.UUID, uuid.UUID]) -> None:
        """The stacks the person made or split by hand (`manual`); the others are clustering's own
        reading of the lineage, which the import made again."""
        for stack in (s for s in exported if s.manual):
            wanted = [ids[a] for a in stack.asset_ids if a in ids]
            if not wanted:
                continue
            current = await self._current_stacks()
            if wanted[0] not in current:
                continue
            session, stack_id, members = current[wanted[0]]
            try:
                if len(wanted) >= 2 and members != set(wanted):
                    await self._clustering(
                        "POST", f"/sessions/{session}/stacks", {"asset_ids": [str(a) for a in wanted]}
                    )
                    self.report.stack_edits += 1
                elif len(wanted) == 1 and len(members) > 1:
                    await self._clustering(
                        "DELETE", f"/sessions/{session}/stacks/{stack_id}/assets/{wanted[0]}"
                    )
                    self.report.stack_edits += 1
            except HTTPException as refusal:
                self.report.warnings.append(f"stack edit refused by clustering: {refusal.detail}")

    # --- 4. reflections as records ----------------------------------------------------------------

    async def reflections(
        self, export: Export, ids: dict[uuid.UUID, uuid.UUID], same_workspace: bool
    ) -> None:
        if not export.reflections:
            return
        if not await repository.view_exists(self.pool, "reflection.reflections"):
            self.report.warnings.append(
                "the reflection service has no schema here yet: reflections not restored"
            )
            return
        first_asset = {
            s.session_id: next((ids[a] for a in s.asset_ids if a in ids), None) for s in export.sessions
        }
        where = {a: s for s, members in await self.live_sessions() for a in members}
        text_ids = {str(old): str(new) for old, new in ids.items()}
        for r in export.reflections:
            asset = first_asset.get(r.session_id)
            session = where.get(asset) if asset is not None else None
            if session is None:
                self.report.warnings.append(
                    f"reflection {r.reflection_id}: its session's images are not here"
                )
                continue
            reflection_id = (
                r.reflection_id
                if same_workspace
                else uuid.uuid5(r.reflection_id, str(self.subject.tenant_id))
            )
            sections = remap_ids({"summary": r.summary_statements, "style_patterns": r.style_patterns,
                                  "evolution_notes": r.evolution_notes}, text_ids)  # fmt: skip
            made = await self.pool.fetchval(
                "INSERT INTO reflection.reflections (reflection_id, tenant_id, session_id, status, summary, model, "
                "curator, sections, facts, credits_reserved, credits_charged, prompt_tokens, completion_tokens, "
                "created_at, started_at, completed_at, updated_at) "
                "VALUES ($1, $2, $3, 'completed', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, now()) "
                "ON CONFLICT (reflection_id) DO NOTHING RETURNING 1",
                reflection_id, self.subject.tenant_id, session, r.summary, r.model, r.curator, sections,
                remap_ids(r.facts or [], text_ids), r.credits_reserved, r.credits_charged, r.prompt_tokens or 0,
                r.completion_tokens or 0, r.created_at, r.completed_at,
            )  # fmt: skip
            self.report.reflections += made is not None

    async def run(self, export: Export, timeout: float) -> RestoreReport:
        if export.missing:
            self.report.warnings.append(
                f"{len(export.missing)} originals listed in metadata.jsonl are not in the zip (not restored), "
                f"e.g. {export.missing[0]}"
            )
        await self.settings_first(export.workspace)
        await self.originals(export.originals)
        await self.pipeline_done(export.originals, timeout)
        ids = {o.old_id: self.new_id(o.sha256) for o in export.originals}
        await self.sessions(export.sessions, ids)
        await self.flags(export.flags, ids)
        await self.stacks(export.stacks, ids)
        await self.reflections(export, ids, export.workspace.tenant_id == self.subject.tenant_id)
        return self.report


async def workspace_subject(pool: asyncpg.Pool, tenant: str) -> AuthSubject:
    """The workspace named by id or by name."""
    try:
        row = await pool.fetchrow(
            "SELECT tenant_id, name, time_zone FROM gateway.tenants WHERE tenant_id = $1", uuid.UUID(tenant)
        )
    except ValueError:
        row = await pool.fetchrow(
            "SELECT tenant_id, name, time_zone FROM gateway.tenants WHERE name = $1", tenant
        )
    if row is None:
        raise RestoreRefused(
            f"no workspace {tenant!r} (create its account first: atelier admin create-account)"
        )
    return AuthSubject(row["tenant_id"], row["name"], row["time_zone"])


async def restore_workspace(
    pool: asyncpg.Pool,
    store: ObjectStore,
    settings: GatewaySettings,
    tenant: str,
    path: Path,
    *,
    timeout: float = 600.0,
    say: Callable[[str], None] = print,
) -> RestoreReport:
    subject = await workspace_subject(pool, tenant)
    with zipfile.ZipFile(path) as archive:
        export = read_export(archive)
        say(f"restoring {len(export.originals)} images, {len(export.sessions)} sessions and "
            f"{len(export.reflections)} reflections of {export.workspace.workspace!r} into {subject.tenant_name!r}")  # fmt: skip
        return await Restorer(pool, store, settings, subject, archive, say).run(export, timeout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atelier admin restore-workspace",
        description="Bring a workspace back from its export (GET /api/v1/export): images re-imported through "
        "the pipeline, then session cuts and joins, the gap, flags, stacks and reflections applied again. "
        "Idempotent: a second run changes nothing.",
    )
    parser.add_argument("tenant", metavar="TENANT", help="the workspace to restore into: its id or name")
    parser.add_argument("--from", dest="source", required=True, type=Path, metavar="EXPORT.zip")
    parser.add_argument(
        "--wait", type=float, default=600.0, help="seconds to wait for the pipeline (default 600)"
    )
    return parser


async def _main(args: argparse.Namespace) -> int:
    settings = GatewaySettings()
    pool = await create_pool(settings.database_url, max_size=4)
    try:
        store = ObjectStore(settings)
        report = await restore_workspace(pool, store, settings, args.tenant, args.source, timeout=args.wait)
    except (RestoreRefused, zipfile.BadZipFile) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except HTTPException as exc:
        print(f"a service refused or failed: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    for line in report.lines():
        print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(_main(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
