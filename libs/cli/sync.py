"""`atelier sync DIR --server URL --token T [--watch]`: send a folder of images to Atelier.

Runs on the user's own machine. Each run:
1. walks DIR for image files (recognised by their first bytes, not their name; hidden
   directories and files are skipped, so are JSON sidecars);
2. hashes each file with SHA-256, reusing the hash kept in the state file while the file's
   size and modification time are unchanged;
3. asks the server (`POST /api/v1/assets/lookup`) which hashes it already has;
4. uploads only the missing files, in batches, with their modification time and their folder
   inside DIR (the time ladder reads a `2025-03-21/` folder as the generation day);
5. prints a summary: imported, queued (received by the server, not imported yet), duplicate,
   rejected (with the reasons).

The state file remembers, per file path, its size, mtime, hash and what the server said, and
is saved after every batch: a run stopped by Ctrl-C, a crash or `--limit` resumes without
re-hashing unchanged files or re-sending what arrived. It lives outside DIR, in
`$XDG_CACHE_HOME/atelier/sync/` (default `~/.cache/atelier/sync/`), one file per (server,
token, DIR) so syncing one folder to two accounts keeps two records; `--state FILE` overrides.
Deleting it is always safe: the next run re-hashes, and the lookup finds what arrived.

`--watch` keeps running and sends new or changed files once they are completely written
(size and mtime unchanged for a second).

Exit codes: 0 done, 1 the server or a file operation failed, 2 usage error, 3 the server
refused the token, 130 interrupted (state saved).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from libs.common.assets import sniff_format
from libs.metadata.reader import load_sidecar

STATE_VERSION = 1
HASH_CHUNK_BYTES = 1 << 20
HEADER_BYTES = 32  # enough for every signature sniff_format knows
LOOKUP_CHUNK = 1000  # the server's limit per lookup
DEFAULT_BATCH_FILES = 20
MAX_BATCH_BYTES = 64 * 1024 * 1024  # a batch stops growing here, so one request stays a sane size
SETTLE_SECONDS = 1.0  # --watch: a file is complete once its size and mtime hold this long
RETRY_ATTEMPTS = 6
MAX_SIDECAR_BYTES = 64 * 1024  # the server's limit: a sidecar rides inside the import event
HTTP_TIMEOUT = httpx.Timeout(10.0, read=120.0, write=120.0)  # an upload waits for the pipeline's verdict

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TOKEN_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


# --------------------------------------------------------------------------------- state file
@dataclass
class FileEntry:
    """What the state file knows about one file. `status` is None until the server has the bytes;
    then imported | queued (the server has them and is importing them) | duplicate | rejected | known
    (the server had them before this client asked)."""

    size: int
    mtime_ns: int
    sha256: str
    status: str | None = None
    reason: str | None = None

    @property
    def on_server(self) -> bool:
        return self.status is not None


@dataclass
class SyncState:
    """path inside DIR (forward slashes) -> FileEntry, saved as JSON."""

    files: dict[str, FileEntry] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> SyncState:
        """The saved state; an empty one when there is none or it cannot be read (it is only a cache)."""
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("version") != STATE_VERSION:
                return cls()
            return cls({rel: FileEntry(**entry) for rel, entry in doc["files"].items()})
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return cls()

    def save(self, path: Path) -> None:
        """Write atomically (temp file, then rename), so an interruption never leaves half a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"version": STATE_VERSION, "files": {rel: asdict(e) for rel, e in sorted(self.files.items())}}
        temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        temp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
        os.replace(temp, path)

    def record_hash(self, rel: str, size: int, mtime_ns: int, sha256: str) -> None:
        """A fresh hash; what the server said still holds when the bytes are the same."""
        old = self.files.get(rel)
        if old is not None and old.sha256 == sha256:
            old.size, old.mtime_ns = size, mtime_ns
        else:
            self.files[rel] = FileEntry(size, mtime_ns, sha256)

    def pending(self) -> list[str]:
        """Paths whose bytes the server does not have yet, in path order."""
        return sorted(rel for rel, entry in self.files.items() if not entry.on_server)


def default_state_path(server: str, token: str, root: Path) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    token_digest = hashlib.sha256(token.encode()).hexdigest()
    key = hashlib.sha256(f"{server.rstrip('/')}\n{token_digest}\n{root.resolve()}".encode()).hexdigest()
    return cache / "atelier" / "sync" / f"{key[:32]}.json"


def needs_hashing(entry: FileEntry | None, size: int, mtime_ns: int) -> bool:
    """A file is hashed again only when it is new or its size or modification time changed."""
    return entry is None or entry.size != size or entry.mtime_ns != mtime_ns


# -------------------------------------------------------------------------------- pure helpers
def plan_batches(
    files: list[tuple[str, int]], max_files: int, max_bytes: int = MAX_BATCH_BYTES
) -> list[list[str]]:
    """Group (path, size) into upload batches of at most `max_files` files and about `max_bytes`
    (a file larger than `max_bytes` goes alone); order is kept."""
    batches: list[list[str]] = []
    current: list[str] = []
    current_bytes = 0
    for rel, size in files:
        if current and (len(current) >= max_files or current_bytes + size > max_bytes):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(rel)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


def chunked(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def backoff_delays(attempts: int = RETRY_ATTEMPTS, first: float = 0.5, cap: float = 30.0) -> list[float]:
    """Seconds to wait before each retry: doubling from `first`, at most `cap`."""
    return [min(first * 2**n, cap) for n in range(attempts - 1)]


def sidecar_text(image: Path) -> str:
    """The JSON sidecar next to an image (`name.png.json` or `name.json`), re-serialised, or ""."""
    loaded = load_sidecar(image, MAX_SIDECAR_BYTES)
    return json.dumps(loaded) if loaded else ""


def folder_of(rel: str) -> str:
    """The directory part of a path inside DIR ('' at the top)."""
    return rel.rpartition("/")[0]


def is_hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/"))


class StabilityTracker:
    """--watch: which changed files have stopped changing. A file is ready once the same (size,
    mtime_ns) was seen `settle` seconds apart; a writer still appending keeps resetting the clock."""

    def __init__(self, settle: float = SETTLE_SECONDS) -> None:
        self.settle = settle
        self._seen: dict[str, tuple[tuple[int, int], float]] = {}

    def observe(self, rel: str, signature: tuple[int, int], now: float) -> None:
        last = self._seen.get(rel)
        if last is None or last[0] != signature:
            self._seen[rel] = (signature, now)

    def forget(self, rel: str) -> None:
        self._seen.pop(rel, None)

    def watching(self) -> list[str]:
        return sorted(self._seen)

    def pop_ready(self, now: float) -> list[str]:
        ready = sorted(rel for rel, (_, since) in self._seen.items() if now - since >= self.settle)
        for rel in ready:
            del self._seen[rel]
        return ready


# ----------------------------------------------------------------------------------- report
@dataclass
class SyncReport:
    """What one run (or one --watch round) did; `uploaded` counts files sent in this run."""

    found: int = 0
    hashed: int = 0
    unchanged: int = 0  # already on the server according to the state file
    known: int = 0  # the lookup said the server already had them
    uploaded: int = 0
    imported: int = 0  # the server confirmed the import
    # the server has the bytes and queued them for import, but had not finished when the upload answered
    queued: int = 0
    duplicate: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)
    unreadable: list[dict[str, str]] = field(default_factory=list)
    stopped_early: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        lines = [
            f"{self.found} image files; uploaded {self.uploaded} (imported {self.imported}, "
            f"queued {self.queued}, duplicate {self.duplicate}, rejected {len(self.rejected)}); "
            f"{self.known + self.unchanged} already on the server"
        ]
        if self.queued:
            lines.append(f"{self.queued} received but still being imported by the server")
        for item in self.rejected:
            lines.append(f"rejected {item['path']}: {item['reason']}")
        for item in self.unreadable:
            lines.append(f"could not read {item['path']}: {item['reason']}")
        if self.stopped_early:
            lines.append("stopped before the end (--limit or interrupt); run again to resume")
        return "\n".join(lines)


# --------------------------------------------------------------------------------- progress
class Progress:
    """One progress line on stderr: redrawn in place on a terminal, plain lines (at most one a second)
    otherwise, so logs stay readable."""

    def __init__(self, label: str, total_files: int, total_bytes: int, stream: IO[str] | None = None) -> None:
        self.label, self.total_files, self.total_bytes = label, total_files, total_bytes
        self.files = self.bytes = 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last_draw = 0.0

    def advance(self, files: int, size: int) -> None:
        self.files += files
        self.bytes += size
        now = time.monotonic()
        if now - self._last_draw >= (0.1 if self.tty else 1.0) or self.files >= self.total_files:
            self._last_draw = now
            self._draw()

    def line(self) -> str:
        fraction = self.bytes / self.total_bytes if self.total_bytes else 1.0
        bar = "#" * int(fraction * 24)
        return (
            f"{self.label:<9} [{bar:<24}] {self.files}/{self.total_files} files "
            f"{_mb(self.bytes)}/{_mb(self.total_bytes)} MB"
        )

    def _draw(self) -> None:
        if self.tty:
            self.stream.write("\r" + self.line() + "\x1b[K")
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.total_files:
            self.stream.write("\n")
            self.stream.flush()


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f}"


# ----------------------------------------------------------------------------------- files
@dataclass(frozen=True)
class LocalFile:
    rel: str  # path inside DIR, forward slashes
    path: Path
    size: int
    mtime_ns: int


def scan(root: Path, state: SyncState) -> Iterator[LocalFile]:
    """Image files under root, in path order; hidden directories and files are skipped."""
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            found = examine(root, Path(directory) / name, state)
            if found:
                yield found


def examine(root: Path, path: Path, state: SyncState) -> LocalFile | None:
    """The file as a sync candidate, or None when it is gone, not a regular file or not an image."""
    try:
        stat = path.stat()
        if not path.is_file():
            return None
        rel = path.relative_to(root).as_posix()
        entry = state.files.get(rel)
        # a file the state already knows, unchanged, is an image: no need to open it again
        if needs_hashing(entry, stat.st_size, stat.st_mtime_ns):
            with path.open("rb") as handle:
                if sniff_format(handle.read(HEADER_BYTES)) is None:
                    return None
        return LocalFile(rel, path, stat.st_size, stat.st_mtime_ns)
    except (OSError, ValueError):
        return None


class FileChanged(Exception):
    """The file changed while it was read: it is still being written."""


def hash_file(path: Path) -> tuple[str, int, int]:
    """(sha256, size, mtime_ns), read in chunks; raises FileChanged if it changed meanwhile."""
    before = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    after = path.stat()
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise FileChanged(str(path))
    return digest.hexdigest(), after.st_size, after.st_mtime_ns


def read_unchanged(path: Path, entry: FileEntry) -> bytes:
    """The file's bytes, provided it still is what was hashed."""
    data = path.read_bytes()
    stat = path.stat()
    if (len(data), stat.st_mtime_ns) != (entry.size, entry.mtime_ns):
        raise FileChanged(str(path))
    return data


# ---------------------------------------------------------------------------------- server
# 429s waited out per request (each after the server's Retry-After, at most a minute): a sync of a whole
# library may be paced for a long while, and that is no failure
MAX_THROTTLED_WAITS = 120


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "5")), 0.0), 60.0)
    except ValueError:
        return 5.0


class TokenRefused(Exception):
    pass


class ServerError(Exception):
    pass


class AtelierServer:
    """The three calls sync makes, with retries: a network error or a 5xx answer is retried with
    backoff (the server is idempotent by content hash, so a repeated upload names the same asset)."""

    def __init__(self, base_url: str, token: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = httpx.Client(base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {token}"},
                                   timeout=HTTP_TIMEOUT)  # fmt: skip
        self.sleep = sleep

    def close(self) -> None:
        self.client.close()

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        delays = backoff_delays()
        throttled = 0
        attempt = 0
        while True:
            try:
                response = self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 429 and throttled < MAX_THROTTLED_WAITS:
                    # over the workspace's upload limits: nothing was read; come back when the server says
                    throttled += 1
                    wait = _retry_after(response)
                    print(
                        f"atelier sync: {_detail(response)}; waiting {wait:g} s", file=sys.stderr, flush=True
                    )
                    self.sleep(wait)
                    continue
                if response.status_code in (401, 403):
                    raise TokenRefused(f"HTTP {response.status_code}: {_detail(response)}")
                if response.status_code < 500:
                    if response.is_error:
                        raise ServerError(f"{method} {url}: HTTP {response.status_code}: {_detail(response)}")
                    return response
                problem = f"HTTP {response.status_code}"
            if attempt == len(delays):
                raise ServerError(f"{method} {url} failed after {attempt + 1} attempts ({problem})")
            print(f"atelier sync: {problem}; retrying in {delays[attempt]:g} s", file=sys.stderr, flush=True)
            self.sleep(delays[attempt])
            attempt += 1

    def whoami(self) -> str:
        return str(self._request("GET", "/api/v1/me").json()["tenant"])

    def known(self, sha256s: list[str]) -> set[str]:
        response = self._request("POST", "/api/v1/assets/lookup", json={"sha256": sha256s})
        return set(response.json()["known"])

    def upload(self, files: list[tuple[str, bytes, int, str, str]]) -> list[dict[str, Any]]:
        """files: (filename, bytes, mtime in ms, folder, sidecar JSON text or ""). One result per file, in order."""
        response = self._request(
            "POST", "/api/v1/assets", params={"source": "sync", "wait": "true"},
            files=[("files", (name, data, "application/octet-stream")) for name, data, *_ in files],
            data={"last_modified": [str(f[2]) for f in files], "folder": [f[3] for f in files],
                  "sidecar": [f[4] for f in files]},
        )  # fmt: skip
        return list(response.json())


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except (ValueError, AttributeError):
        return response.text[:200]


# ------------------------------------------------------------------------------------ sync
@dataclass
class SyncJob:
    root: Path
    server: AtelierServer
    state: SyncState
    state_path: Path
    batch_files: int = DEFAULT_BATCH_FILES
    limit: int | None = None  # stop after uploading this many files (the rest waits for the next run)
    uploaded_total: int = 0

    @property
    def limit_reached(self) -> bool:
        return self.limit is not None and self.uploaded_total >= self.limit

    def run(self, candidates: Iterable[LocalFile], *, prune: bool) -> SyncReport:
        """Hash, ask, upload. With `prune`, candidates are the whole folder and state entries
        for files that are gone are dropped."""
        report = SyncReport()
        files = list(candidates)
        report.found = len(files)
        if prune:
            present = {f.rel for f in files}
            for rel in [rel for rel in self.state.files if rel not in present]:
                del self.state.files[rel]
        self._hash(files, report)
        self.state.save(self.state_path)
        self._ask_server(report)
        self.state.save(self.state_path)
        self._upload(report)
        return report

    def _hash(self, files: list[LocalFile], report: SyncReport) -> None:
        stale = [f for f in files if needs_hashing(self.state.files.get(f.rel), f.size, f.mtime_ns)]
        stale_paths = {f.rel for f in stale}
        report.unchanged = sum(
            1 for f in files if f.rel not in stale_paths and self.state.files[f.rel].on_server
        )
        progress = Progress("hashing", len(stale), sum(f.size for f in stale))
        last_save = time.monotonic()
        for local in stale:
            try:
                sha256, size, mtime_ns = hash_file(local.path)
            except (OSError, FileChanged) as exc:
                report.unreadable.append({"path": local.rel, "reason": _why(exc)})
                self.state.files.pop(local.rel, None)
            else:
                self.state.record_hash(local.rel, size, mtime_ns, sha256)
                report.hashed += 1
            progress.advance(1, local.size)
            if time.monotonic() - last_save > 5:  # an interrupted first run keeps most of its hashing
                self.state.save(self.state_path)
                last_save = time.monotonic()
        progress.close()

    def _ask_server(self, report: SyncReport) -> None:
        pending = self.state.pending()
        hashes = sorted({self.state.files[rel].sha256 for rel in pending})
        known: set[str] = set()
        for chunk in chunked(hashes, LOOKUP_CHUNK):
            known |= self.server.known(chunk)
        for rel in pending:
            if self.state.files[rel].sha256 in known:
                self.state.files[rel].status = "known"
                report.known += 1

    def _upload(self, report: SyncReport) -> None:
        # one upload per distinct content: a second copy in another folder is a duplicate of the first
        first_path: dict[str, str] = {}
        for rel in self.state.pending():
            first_path.setdefault(self.state.files[rel].sha256, rel)
        to_send = sorted(first_path.values())
        if self.limit is not None:
            to_send = to_send[: max(self.limit - self.uploaded_total, 0)]
            report.stopped_early = len(to_send) < len(first_path)
        progress = Progress("uploading", len(to_send), sum(self.state.files[r].size for r in to_send))
        try:
            batches = plan_batches([(rel, self.state.files[rel].size) for rel in to_send], self.batch_files)
            for batch in batches:
                self._upload_batch(batch, report, progress)
                self.state.save(self.state_path)
        finally:
            progress.close()
        # the other copies of content that is now on the server
        for rel in self.state.pending():
            entry = self.state.files[rel]
            first = self.state.files.get(first_path.get(entry.sha256, ""))
            if first is not None and first.on_server and first_path[entry.sha256] != rel:
                entry.status = "duplicate"
                report.duplicate += 1
        self.state.save(self.state_path)

    def _upload_batch(self, batch: list[str], report: SyncReport, progress: Progress) -> None:
        sending: list[tuple[str, bytes]] = []
        for rel in batch:
            try:
                sending.append((rel, read_unchanged(self.root / rel, self.state.files[rel])))
            except (OSError, FileChanged) as exc:
                # changed since hashing: the next run (or --watch round) hashes it again
                report.unreadable.append({"path": rel, "reason": _why(exc)})
                self.state.files.pop(rel, None)
        if not sending:
            return
        results = self.server.upload([
            (rel.rpartition("/")[2], data, self.state.files[rel].mtime_ns // 1_000_000, folder_of(rel),
             sidecar_text(self.root / rel))
            for rel, data in sending
        ])  # fmt: skip
        for (rel, data), result in zip(sending, results, strict=True):
            entry = self.state.files[rel]
            entry.status, entry.reason = result["status"], result.get("reason")
            report.uploaded += 1
            self.uploaded_total += 1
            if entry.status == "rejected":
                report.rejected.append({"path": rel, "reason": entry.reason or "rejected"})
            elif entry.status == "duplicate":
                report.duplicate += 1
            elif entry.status == "imported":
                report.imported += 1
            else:  # queued (or a status this client does not know): on the server, not confirmed imported
                report.queued += 1
            progress.advance(1, len(data))


def _why(exc: Exception) -> str:
    if isinstance(exc, FileChanged):
        return "changed while being read (still being written?)"
    return getattr(exc, "strerror", None) or str(exc)


# ----------------------------------------------------------------------------------- watch
def watch(job: SyncJob, emit: Callable[[SyncReport], None], stop: threading.Event | None = None) -> None:
    """Send files as they appear or change, once they have stopped changing."""
    import watchfiles

    root = job.root.resolve()
    tracker = StabilityTracker()

    def visible(_: watchfiles.Change, path: str) -> bool:
        try:
            return not is_hidden(Path(path).resolve().relative_to(root).as_posix())
        except ValueError:
            return False

    for changes in watchfiles.watch(root, watch_filter=visible, yield_on_timeout=True, rust_timeout=300,
                                    stop_event=stop, raise_interrupt=True):  # fmt: skip
        now = time.monotonic()
        touched = {Path(path).resolve().relative_to(root).as_posix() for _, path in changes}
        for rel in sorted(touched | set(tracker.watching())):
            try:
                stat = (root / rel).stat()
            except OSError:  # deleted (or moved away): forget it
                tracker.forget(rel)
                job.state.files.pop(rel, None)
                continue
            if (root / rel).is_file():
                tracker.observe(rel, (stat.st_size, stat.st_mtime_ns), now)
        ready = [f for rel in tracker.pop_ready(now) if (f := examine(root, root / rel, job.state))]
        if ready:
            emit(job.run(ready, prune=False))


# ------------------------------------------------------------------------------------- CLI
def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sync", help="upload a folder's images to an Atelier server (only what it lacks)",
        description="Hash the images in DIR, ask the server which it has, upload the rest with their "
                    "modification times and folders. Re-runs resume; --watch keeps sending new files.",
    )  # fmt: skip
    parser.add_argument("dir", metavar="DIR", type=Path, help="the folder to sync (walked recursively)")
    parser.add_argument(
        "--server", required=True, help="the Atelier server, e.g. https://atelier.example.com"
    )
    parser.add_argument("--token", default=os.environ.get("ATELIER_TOKEN"),
                        help="API token (default: $ATELIER_TOKEN)")  # fmt: skip
    parser.add_argument("--watch", action="store_true", help="keep running and send new or changed files")
    parser.add_argument("--batch", type=_positive, default=DEFAULT_BATCH_FILES, metavar="N",
                        help=f"files per upload request (default {DEFAULT_BATCH_FILES})")  # fmt: skip
    parser.add_argument("--limit", type=_positive, default=None, metavar="N",
                        help="upload at most N files, then stop; the next run resumes")  # fmt: skip
    parser.add_argument("--state", type=Path, default=None, metavar="FILE",
                        help="the state file (default: under ~/.cache/atelier/sync/, one per server, token and DIR)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object per line")
    parser.set_defaults(func=run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    root: Path = args.dir
    if not root.is_dir():
        print(f"atelier sync: not a directory: {root}", file=sys.stderr)
        return EXIT_USAGE
    if not args.token:
        print("atelier sync: no API token (give --token or set ATELIER_TOKEN)", file=sys.stderr)
        return EXIT_USAGE
    state_path = args.state or default_state_path(args.server, args.token, root)
    server = AtelierServer(args.server, args.token)
    job = SyncJob(
        root, server, SyncState.load(state_path), state_path, batch_files=args.batch, limit=args.limit
    )

    def emit(report: SyncReport) -> None:
        print(json.dumps(report.to_json()) if args.json else report.describe(), flush=True)

    try:
        tenant = server.whoami()  # a refused token fails here, before any hashing
        print(f"atelier sync: {root} -> {args.server} (account {tenant}); state in {state_path}",
              file=sys.stderr, flush=True)  # fmt: skip
        emit(job.run(scan(root, job.state), prune=True))
        if args.watch and not job.limit_reached:
            print("atelier sync: watching for new files (Ctrl-C to stop)", file=sys.stderr, flush=True)
            watch(job, emit)
        return EXIT_OK
    except TokenRefused as exc:
        print(f"atelier sync: the server refused the token ({exc})", file=sys.stderr)
        return EXIT_TOKEN_REFUSED
    except ServerError as exc:
        print(f"atelier sync: {exc}; progress is saved, run again to resume", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"\natelier sync: interrupted after uploading {job.uploaded_total} files; state saved, "
              "run again to resume", file=sys.stderr)  # fmt: skip
        return EXIT_INTERRUPTED
    finally:
        job.state.save(state_path)
        server.close()
