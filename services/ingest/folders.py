"""The folder watcher: connected folders become `asset.uploaded` events, each file once.

Every ingest replica runs a `FolderWatcher`. A folder is watched by exactly one of them: the
watcher holds a session-level PostgreSQL advisory lock per folder on its own connection, so
replicas share the folders, and when a replica dies its connection (and locks) go with it and
another picks its folders up at its next refresh.

Watching one folder: start `watchfiles.awatch` (so nothing written from now on is missed), walk
the folder once, then follow the change events. A file is staged once it is completely written
(`SettleTracker`): read, hash, put the original in S3 as `<tenant>/<sha256>`, then one
transaction records it in `folder_files` and queues `asset.uploaded` in the ingest outbox. The
ingest workers do the CPU work like for any upload. Deleted files are ignored: their assets stay.
A folder that disappears is marked `error` with the reason and tried again later.

File names are bytes on Linux; one that is not UTF-8 comes out of `os.walk` with lone surrogates
(surrogateescape), which neither PostgreSQL nor an event's JSON accepts: such a file used to stop
its folder's watcher at every restart. The walked name is kept for the file system; the database
key is `stored_path` (lossless) and the event's text is cleaned (`folder_upload`). watchfiles
itself cannot report such a name (a directory so named stops it from starting): the folder is
then watched by walking it (`folder_changes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import stat
import time
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from prometheus_client import Counter, Gauge
from watchfiles import Change, awatch

from libs.common.assets import IMPORTABLE_FORMATS, asset_id_for, sniff_format
from libs.common.events import AssetUploaded, Event
from libs.common.outbox import add_to_outbox
from libs.common.runtime import ServiceRuntime
from libs.common.storage import ObjectStore, original_key
from libs.common.text import clean_json, clean_text
from libs.metadata.reader import load_sidecar
from services.ingest import folders_repository as repo
from services.ingest.folder_paths import is_candidate
from services.ingest.folder_settle import SettleTracker, Stat
from services.ingest.repository import SCHEMA
from services.ingest.settings import IngestSettings

log = logging.getLogger(__name__)

FOLDER_FILES = Counter(
    "atelier_ingest_folder_files_total",
    "Files from connected folders by outcome (staged, duplicate, unchanged, skipped)",
    ["outcome"],
)
FOLDERS_WATCHED = Gauge("atelier_ingest_folders_watched", "Connected folders this process watches")

# a sidecar travels inside the event, and events stay small
MAX_SIDECAR_BYTES = 64 * 1024


class FolderUnavailable(Exception):
    """The folder is missing or unreadable right now; the reason is shown to its tenant."""


class FolderDeleted(Exception):
    """The tenant disconnected the folder while we were staging from it."""


def folder_lock_key(folder_id: object) -> int:
    return int.from_bytes(
        hashlib.sha256(f"ingest-folder:{folder_id}".encode()).digest()[:8], "big", signed=True
    )


def stat_regular_file(path: Path) -> Stat | None:
    """Size and mtime of a regular file; None for anything else (gone, a directory, a symlink:
    a symlink could point outside the allowed roots)."""
    try:
        st = path.lstat()
    except OSError:
        return None
    return Stat(st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


def walk_candidates(root: Path) -> list[tuple[str, Stat]]:
    """Every candidate file under `root` (not following symlinks), as (relative path, stat)."""
    found: list[tuple[str, Stat]] = []
    for directory, subdirs, files in os.walk(root, followlinks=False):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        for name in files:
            path = Path(directory, name)
            relative = path.relative_to(root).as_posix()
            file_stat = stat_regular_file(path) if is_candidate(relative) else None
            if file_stat is not None:
                found.append((relative, file_stat))
    return found


def stored_path(relative: str) -> str:
    """A walked relative path as the text `folder_files` keys it by: itself when it is UTF-8 (every
    name that can be typed), else its bytes with each one that is not UTF-8 written as `\\xNN`,
    so that two such names stay two rows and a name keeps its row from one walk to the next."""
    try:
        relative.encode("utf-8")
        return relative
    except UnicodeEncodeError:
        return os.fsencode(relative).decode("utf-8", "backslashreplace")


def folder_upload(
    folder: repo.Folder,
    relative: str,
    digest: str,
    size: int,
    file_stat: Stat,
    sidecar: dict[str, Any] | None,
) -> AssetUploaded:
    """The `asset.uploaded` payload of a staged file, its text cleaned for the people who read it: a
    name that is not UTF-8 shows U+FFFD where its bad bytes were; a sidecar loses its NULs."""
    path = Path(relative)
    directory = path.parent.as_posix()
    return AssetUploaded(
        asset_id=asset_id_for(folder.tenant_id, digest), sha256=digest,
        object_key=original_key(folder.tenant_id, digest), filename=clean_text(path.name), size=size,
        source="folder", folder=None if directory == "." else clean_text(directory),
        file_mtime=datetime.fromtimestamp(file_stat.mtime_ns / 1e9, UTC), tenant_tz=folder.time_zone,
        sidecar=None if sidecar is None else clean_json(sidecar),
    )  # fmt: skip


def _undecodable_name(exc: BaseException) -> bool:
    """watchfiles' Rust side gave up on a path that is not UTF-8 ("Unable to decode path")."""
    if isinstance(exc, BaseExceptionGroup):  # awatch runs the watch in an anyio task group
        return any(_undecodable_name(inner) for inner in exc.exceptions)
    return type(exc).__name__ == "WatchfilesRustInternalError" and "decode path" in str(exc)


async def folder_changes(
    root: Path, settings: IngestSettings, stop: asyncio.Event, tick_ms: int
) -> AsyncGenerator[set[tuple[Change, str]] | None, None]:
    """What changed under `root`, at least every `tick_ms` (an empty set when nothing did); None
    asks for a walk of the whole folder.

    Changes come from watchfiles while it can report them. It cannot report a name that is not
    UTF-8: a directory so named stops it from starting, a file so named stops it when written.
    The folder is then walked every `folder_poll_delay_ms` instead, for as long as it is watched
    (watchfiles' own polling mode, for NAS mounts, walks the tree as often: the same cost).
    """
    s = settings
    try:
        # `yield_on_timeout` gives a tick every `tick_ms` even when nothing changes
        async for changes in awatch(
            root, watch_filter=None, debounce=tick_ms, step=50, stop_event=stop, rust_timeout=tick_ms,
            yield_on_timeout=True, force_polling=s.folder_force_polling, poll_delay_ms=s.folder_poll_delay_ms,
            recursive=True, ignore_permission_denied=True,
        ):  # fmt: skip
            yield changes
        return
    except Exception as exc:
        if not _undecodable_name(exc):
            raise
        log.warning(
            "a name in a connected folder is not UTF-8 and cannot be watched; walking the folder instead",
            extra={"folder": str(root), "reason": str(exc)},
        )
    walked_at = time.monotonic()
    yield None  # what was written since the last change reported is found by this walk
    while not stop.is_set():
        await asyncio.sleep(tick_ms / 1000)
        if time.monotonic() - walked_at >= s.folder_poll_delay_ms / 1000:
            walked_at = time.monotonic()
            yield None
        else:
            yield set()


def _check_readable_dir(root: Path) -> None:
    if not root.exists():
        raise FolderUnavailable(f"{root} no longer exists")
    if not root.is_dir():
        raise FolderUnavailable(f"{root} is no longer a directory")
    if not os.access(root, os.R_OK | os.X_OK):
        raise FolderUnavailable(f"{root} is not readable by the server")


class FolderWatcher:
    def __init__(self, settings: IngestSettings, runtime: ServiceRuntime) -> None:
        assert runtime.store is not None
        self.settings = settings
        self._runtime = runtime  # its pool exists only once the service started
        self.store: ObjectStore = runtime.store
        self._lock_conn: asyncpg.Connection | None = None
        self._watching: dict[Any, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        return self._runtime.pool

    @property
    def watched_folder_ids(self) -> set[Any]:
        return set(self._watching)

    async def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise(), name="folder-watcher")

    async def stop(self) -> None:
        if self._supervisor:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._drop_all()

    # -- which folders this process watches --------------------------------------------------
    async def _supervise(self) -> None:
        while True:
            try:
                await self._refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("folder watcher refresh failed; dropping its folders and reconnecting")
                await self._drop_all()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.folder_refresh_seconds)

    async def _refresh(self) -> None:
        if self._lock_conn is None or self._lock_conn.is_closed():
            await self._drop_all()  # locks held by a lost connection are gone already
            self._lock_conn = await asyncpg.connect(self.settings.database_url)
            await self._lock_conn.add_listener(repo.FOLDERS_CHANGED, lambda *_: self._wake.set())
        conn = self._lock_conn
        folders = {f.folder_id: f for f in await repo.all_folders(conn)}
        for folder_id, task in list(self._watching.items()):
            if folder_id not in folders or task.done():  # disconnected, or its task ended
                await self._release(folder_id)
        for folder_id, folder in folders.items():
            if folder_id not in self._watching and await conn.fetchval(
                "SELECT pg_try_advisory_lock($1)", folder_lock_key(folder_id)
            ):
                self._watching[folder_id] = asyncio.create_task(
                    self._watch(folder), name=f"folder-{folder_id}"
                )
        FOLDERS_WATCHED.set(len(self._watching))

    async def _release(self, folder_id: Any) -> None:
        task = self._watching.pop(folder_id)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        if self._lock_conn is not None and not self._lock_conn.is_closed():
            await self._lock_conn.execute("SELECT pg_advisory_unlock($1)", folder_lock_key(folder_id))

    async def _drop_all(self) -> None:
        for task in self._watching.values():
            task.cancel()
        for task in self._watching.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._watching.clear()
        FOLDERS_WATCHED.set(0)
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                await self._lock_conn.close()  # releases every advisory lock it held
            self._lock_conn = None

    # -- watching one folder -----------------------------------------------------------------
    async def _watch(self, folder: repo.Folder) -> None:
        while True:
            try:
                await self._watch_until_unavailable(folder)
            except FolderDeleted:
                return
            except FolderUnavailable as exc:
                log.warning("connected folder unavailable", extra={"folder_id": str(folder.folder_id),
                                                                    "reason": str(exc)})  # fmt: skip
                await repo.set_status(self.pool, folder.folder_id, "error", str(exc))
            await asyncio.sleep(self.settings.folder_retry_seconds)

    async def _watch_until_unavailable(self, folder: repo.Folder) -> None:
        root = Path(folder.path)
        _check_readable_dir(root)
        s = self.settings
        known = await repo.known_files(self.pool, folder.folder_id)
        tracker = SettleTracker(s.folder_settle_seconds)
        scan_pending: set[str] | None = None  # files of the initial walk not handled yet; None before it
        scan_recorded = False
        stop = asyncio.Event()
        tick_ms = max(50, int(s.folder_settle_seconds * 1000 / 4))

        def track(relative: str, file_stat: Stat | None, now: float) -> None:
            if file_stat is None:
                tracker.forget(relative)
            elif known.get(stored_path(relative)) != (file_stat.size, file_stat.mtime_ns):
                tracker.observe(relative, file_stat, now)

        try:
            # the watcher is live before the walk starts, so a file written during the walk is not missed
            async with contextlib.aclosing(folder_changes(root, s, stop, tick_ms)) as seen:
                async for changes in seen:
                    _check_readable_dir(root)
                    now = time.monotonic()
                    if scan_pending is None or changes is None:  # the first walk, or one asked for
                        walked = await asyncio.to_thread(walk_candidates, root)
                        for relative, file_stat in walked:
                            track(relative, file_stat, now)
                        if scan_pending is None:
                            scan_pending = {relative for relative, _ in walked if relative in tracker}
                    for change, raw_path in changes or ():
                        path = Path(raw_path)
                        if change == Change.deleted or path == root:
                            continue  # a deleted file's asset stays; nothing to do
                        if path.is_dir() and not path.is_symlink():  # a directory moved in whole
                            for inside, file_stat in await asyncio.to_thread(walk_candidates, path):
                                relative = (path.relative_to(root) / inside).as_posix()
                                if is_candidate(relative):
                                    track(relative, file_stat, now)
                            continue
                        relative = path.relative_to(root).as_posix()
                        if is_candidate(relative):
                            track(relative, stat_regular_file(path), now)
                    for relative in tracker.due(now):
                        current = stat_regular_file(root / relative)
                        if current is None:
                            tracker.forget(relative)
                        elif tracker.observe(relative, current, now):
                            tracker.forget(relative)
                            if await self._stage(folder, relative, current):
                                known[stored_path(relative)] = (current.size, current.mtime_ns)
                            else:  # it changed while we read it: wait for it to settle again
                                track(relative, stat_regular_file(root / relative), time.monotonic())
                    scan_pending = {relative for relative in scan_pending if relative in tracker}
                    if not scan_pending and not scan_recorded:
                        await repo.set_status(
                            self.pool, folder.folder_id, "watching", None, datetime.now(UTC)
                        )
                        scan_recorded = True
        finally:
            stop.set()

    async def _stage(self, folder: repo.Folder, relative: str, file_stat: Stat) -> bool:
        """Stage one complete file; False if it changed while being read (try again once it settles)."""
        path = Path(folder.path) / relative
        if file_stat.size > self.settings.folder_max_file_bytes or file_stat.size == 0:
            FOLDER_FILES.labels("skipped").inc()
            return True
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError:
            return False
        if len(data) != file_stat.size or stat_regular_file(path) != file_stat:
            return False
        if sniff_format(data[:64]) not in IMPORTABLE_FORMATS:
            FOLDER_FILES.labels("skipped").inc()
            return True
        digest = hashlib.sha256(data).hexdigest()
        asset_id = asset_id_for(folder.tenant_id, digest)
        key = stored_path(relative)
        async with self.pool.acquire() as conn:
            if await repo.staged_sha256(conn, folder.folder_id, key) == digest:
                outcome = "unchanged"  # touched, copied over with the same bytes: nothing new
            elif await repo.tenant_has_content(conn, folder.tenant_id, digest):
                outcome = "duplicate"
            else:
                outcome = "staged"
        events: list[Event] = []
        if outcome == "staged":
            # the original first: an event never names bytes that are not in S3
            await self.store.put(self.store.originals, original_key(folder.tenant_id, digest), data)
            sidecar = await asyncio.to_thread(load_sidecar, path, MAX_SIDECAR_BYTES)
            uploaded = folder_upload(folder, relative, digest, len(data), file_stat, sidecar)
            events.append(Event.of(uploaded, tenant_id=folder.tenant_id))
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await repo.record_file(conn, folder.folder_id, key, file_stat.size, file_stat.mtime_ns,
                                       digest, asset_id)  # fmt: skip
                await add_to_outbox(conn, SCHEMA, events)
        except asyncpg.ForeignKeyViolationError:
            raise FolderDeleted(str(folder.folder_id)) from None
        FOLDER_FILES.labels(outcome).inc()
        return True
