"""The pure parts of `atelier sync`: state file, change detection, batching, settling, retries."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from libs.cli.sync import (
    RETRY_ATTEMPTS,
    AtelierServer,
    FileEntry,
    Progress,
    ServerError,
    StabilityTracker,
    SyncJob,
    SyncReport,
    SyncState,
    TokenRefused,
    backoff_delays,
    default_state_path,
    folder_of,
    hash_file,
    is_hidden,
    needs_hashing,
    plan_batches,
    scan,
)

PNG_HEADER = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
SHA_A, SHA_B = "a" * 64, "b" * 64


# ------------------------------------------------------------------------------ state file
def test_state_round_trips_through_its_file(tmp_path: Path) -> None:
    state = SyncState({"x/a.png": FileEntry(10, 123, SHA_A, "imported"), "b.png": FileEntry(5, 7, SHA_B)})
    path = tmp_path / "deep" / "state.json"
    state.save(path)
    assert SyncState.load(path) == state
    assert [p.name for p in path.parent.iterdir()] == ["state.json"], "no temp file is left behind"


@pytest.mark.parametrize(
    "content", [None, "{not json", '{"version": 99, "files": {}}', '{"version": 1}', "[]"]
)
def test_a_missing_or_unreadable_state_starts_empty(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "state.json"
    if content is not None:
        path.write_text(content)
    assert SyncState.load(path) == SyncState()


def test_new_bytes_forget_what_the_server_said_but_a_touch_does_not() -> None:
    state = SyncState({"a.png": FileEntry(10, 1, SHA_A, "imported")})
    state.record_hash("a.png", 10, 2, SHA_A)  # touched: same bytes
    assert state.files["a.png"] == FileEntry(10, 2, SHA_A, "imported")
    state.record_hash("a.png", 11, 3, SHA_B)  # edited
    assert state.files["a.png"] == FileEntry(11, 3, SHA_B, None)
    assert state.pending() == ["a.png"]


def test_only_new_or_changed_files_are_hashed() -> None:
    entry = FileEntry(size=10, mtime_ns=100, sha256=SHA_A)
    assert needs_hashing(None, 10, 100)
    assert not needs_hashing(entry, 10, 100)
    assert needs_hashing(entry, 11, 100)
    assert needs_hashing(entry, 10, 101)


def test_pending_lists_files_the_server_lacks_in_path_order() -> None:
    state = SyncState({
        "z.png": FileEntry(1, 1, SHA_A), "a.png": FileEntry(1, 1, SHA_B),
        "m.png": FileEntry(1, 1, SHA_A, "known"), "r.png": FileEntry(1, 1, SHA_A, "rejected", "too large"),
    })  # fmt: skip
    assert state.pending() == ["a.png", "z.png"]


def test_state_path_is_one_per_server_token_and_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    base = default_state_path("http://s", "t", tmp_path / "pics")
    assert base.parent == tmp_path / "atelier" / "sync"
    assert default_state_path("http://s/", "t", tmp_path / "pics") == base
    others = {
        default_state_path("http://other", "t", tmp_path / "pics"),
        default_state_path("http://s", "t2", tmp_path / "pics"),
        default_state_path("http://s", "t", tmp_path / "other"),
    }
    assert base not in others and len(others) == 3
    assert "secret" not in str(default_state_path("http://s", "secret-token", tmp_path)), "no token on disk"


# ------------------------------------------------------------------------------- batching
def test_batches_respect_file_count_and_bytes_and_keep_order() -> None:
    files = [("a", 10), ("b", 10), ("c", 10), ("d", 10), ("e", 10)]
    assert plan_batches(files, max_files=2) == [["a", "b"], ["c", "d"], ["e"]]
    assert plan_batches(files, max_files=10, max_bytes=25) == [["a", "b"], ["c", "d"], ["e"]]
    assert plan_batches([("small", 1), ("huge", 100), ("tiny", 1)], max_files=10, max_bytes=50) == [
        ["small"], ["huge"], ["tiny"],
    ]  # fmt: skip
    assert plan_batches([], max_files=3) == []


def test_backoff_doubles_up_to_a_cap() -> None:
    assert backoff_delays(6, first=0.5, cap=4) == [0.5, 1, 2, 4, 4]
    assert backoff_delays(1) == []


def test_paths_inside_the_folder() -> None:
    assert folder_of("2025-03-21/a.png") == "2025-03-21"
    assert folder_of("a/b/c.png") == "a/b"
    assert folder_of("a.png") == ""
    assert is_hidden(".trash/a.png") and is_hidden("a/.b.png") and not is_hidden("a/b.png")


# ----------------------------------------------------------------------------- files
def test_scan_finds_images_by_content_and_skips_hidden_and_sidecars(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "sub" / "real.dat").write_bytes(PNG_HEADER)  # an image whatever its name
    (tmp_path / "fake.png").write_bytes(b"hello, not an image")
    (tmp_path / "real.png.json").write_text(json.dumps({"enqueue_time": "2024-01-01"}))
    (tmp_path / ".dot.png").write_bytes(PNG_HEADER)
    (tmp_path / ".hidden" / "x.png").write_bytes(PNG_HEADER)
    (tmp_path / "b.png").write_bytes(PNG_HEADER)
    assert [f.rel for f in scan(tmp_path, SyncState())] == ["b.png", "sub/real.dat"]


def test_hash_file_reads_in_chunks_to_the_same_digest(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    path.write_bytes(data)
    digest, size, mtime_ns = hash_file(path)
    assert digest == hashlib.sha256(data).hexdigest()
    assert (size, mtime_ns) == (len(data), path.stat().st_mtime_ns)


# ------------------------------------------------------------------------------- --watch
def test_a_file_is_ready_once_it_stops_changing_for_the_settle_time() -> None:
    tracker = StabilityTracker(settle=1.0)
    tracker.observe("a.png", (10, 1), now=0.0)
    assert tracker.pop_ready(0.5) == []
    tracker.observe("a.png", (20, 2), now=0.8)  # still being written: the clock restarts
    assert tracker.pop_ready(1.5) == []
    tracker.observe("a.png", (20, 2), now=1.6)  # unchanged: the clock keeps running
    assert tracker.pop_ready(1.8) == ["a.png"]
    assert tracker.watching() == []


def test_a_forgotten_file_is_never_ready() -> None:
    tracker = StabilityTracker(settle=1.0)
    tracker.observe("gone.png", (1, 1), now=0.0)
    tracker.forget("gone.png")
    assert tracker.pop_ready(5.0) == []


# ------------------------------------------------------------------------------- output
def test_progress_writes_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress("uploading", total_files=2, total_bytes=2_000_000, stream=stream)
    progress.advance(1, 1_000_000)
    progress.advance(1, 1_000_000)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[-1].startswith("uploading") and "2/2 files" in lines[-1] and "2.0/2.0 MB" in lines[-1]


def test_summary_names_each_rejected_file_and_why() -> None:
    report = SyncReport(found=3, uploaded=2, imported=1, unchanged=1,
                        rejected=[{"path": "x/bad.png", "reason": "not an image"}])  # fmt: skip
    text = report.describe()
    assert "uploaded 2 (imported 1, queued 0, duplicate 0, rejected 1)" in text
    assert "rejected x/bad.png: not an image" in text


def test_summary_tells_queued_files_apart_from_imported_ones() -> None:
    """`queued`: the server has the bytes but had not imported them when it answered; never counted as
    imported."""
    report = SyncReport(found=3, uploaded=3, imported=1, queued=2)
    text = report.describe()
    assert "uploaded 3 (imported 1, queued 2, duplicate 0, rejected 0)" in text
    assert "2 received but still being imported by the server" in text


class _AnsweringServer:
    """Stands in for AtelierServer: knows nothing, answers each upload with the next status."""

    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses

    def known(self, sha256s: list[str]) -> set[str]:
        return set()

    def upload(self, files: list[tuple[str, bytes, int, str, str]]) -> list[dict[str, str]]:
        return [{"status": self.statuses.pop(0), "reason": "broken"} for _ in files]


def test_each_upload_status_is_counted_as_what_it_says(tmp_path: Path) -> None:
    root = tmp_path / "pictures"
    root.mkdir()
    for i in range(4):
        (root / f"{i}.png").write_bytes(PNG_HEADER + bytes([i]))
    server = _AnsweringServer(["imported", "queued", "duplicate", "rejected"])
    job = SyncJob(root, server, SyncState(), tmp_path / "state.json")  # type: ignore[arg-type]
    report = job.run(scan(root, job.state), prune=True)
    assert (report.uploaded, report.imported, report.queued, report.duplicate) == (4, 1, 1, 1)
    assert report.rejected == [{"path": "3.png", "reason": "broken"}]
    # a queued file is on the server: the next run does not send it again
    assert job.state.files["1.png"].status == "queued" and job.state.files["1.png"].on_server


# ------------------------------------------------------------------------------- retries
@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A local HTTP server answering with `handler`, on a free port, for the `with` block: its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def flaky_server() -> Iterator[tuple[str, list[int]]]:
    """A real HTTP server answering /api/v1/me with 503 twice, then 200; /api/v1/lookup always 401."""
    answers = [503, 503, 200]
    served: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = answers[min(len(served), len(answers) - 1)]
            served.append(status)
            body = json.dumps({"tenant": "t"} if status == 200 else {"detail": "busy"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = b'{"detail": "invalid API token"}'
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    with _serving(Handler) as url:
        yield url, served


def test_5xx_answers_are_retried_with_backoff(flaky_server: tuple[str, list[int]]) -> None:
    url, served = flaky_server
    waited: list[float] = []
    client = AtelierServer(url, "t", sleep=waited.append)
    assert client.whoami() == "t"
    assert served == [503, 503, 200]
    assert waited == backoff_delays()[:2]


def test_429_waits_for_retry_after_and_is_no_failure() -> None:
    """Over the workspace's upload limits: the server's Retry-After is waited out, as often as it asks
    (more often than the backoff's attempts), and the request then goes through."""
    served: list[int] = []
    answers = [429] * (RETRY_ATTEMPTS + 2) + [200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = answers[min(len(served), len(answers) - 1)]
            served.append(status)
            body = json.dumps({"tenant": "t"} if status == 200 else {"detail": "too many files"}).encode()
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "7")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    with _serving(Handler) as url:
        waited: list[float] = []
        client = AtelierServer(url, "t", sleep=waited.append)
        assert client.whoami() == "t"
        assert waited == [7.0] * (RETRY_ATTEMPTS + 2)


def test_a_refused_token_is_not_retried(flaky_server: tuple[str, list[int]]) -> None:
    url, _ = flaky_server
    waited: list[float] = []
    with pytest.raises(TokenRefused, match="invalid API token"):
        AtelierServer(url, "t", sleep=waited.append).known([SHA_A])
    assert waited == []


def test_an_unreachable_server_fails_after_every_retry() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]  # nothing listens once the socket closes
    waited: list[float] = []
    with pytest.raises(ServerError, match="failed after 6 attempts"):
        AtelierServer(f"http://127.0.0.1:{closed_port}", "t", sleep=waited.append).whoami()
    assert waited == backoff_delays()
