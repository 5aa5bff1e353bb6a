"""The gateway's memory while it takes a 1 GiB upload: peak RSS against its own idle RSS.

Set-up: `LocalInfra` (free ports, in-memory Tansu, a fresh database); the gateway runs as a real
process (`python -m services.gateway`, a free ATELIER_HTTP_PORT, ATELIER_DEMO_TOKEN), as in production;
no ingest worker runs (the upload answers with `wait=false`: what is measured is the gateway's part,
receiving, spooling, hashing, putting originals in S3 and queueing events).

Two uploads of about 1 GiB each, streamed to it over HTTP from generators (never built in memory here):

1. `upload.1gib_6_files.peak_rss_mb`: one request with six PNG-headed files of 179 MB each (under the
   200 MiB per-file limit), with a Content-Length;
2. `upload.1gib_zip_of_256_entries.peak_rss_mb`: one request with one zip (stored, so 1 GiB of entries
   whatever their content) of 256 PNG-headed entries of 4 MiB each: the gateway expands it entry by
   entry, each spooled and staged in batches.

The file bytes are pseudo-random (a 1 MiB random block, shifted per file), so every file is distinct and
nothing compresses. While each upload runs, a thread reads the gateway's `VmRSS` from /proc/<pid>/status
every 10 ms; the figure is the largest value seen. The baseline is the same process's RSS when idle, read
in the same run after start-up and one small warm-up upload; ratio = peak / idle. Target (issue 9): a
peak under 100 MB of RSS in all (before issue 9 the gateway held whole request bodies: 3.15 GB of RSS for a 1.5 GB
upload). `VmHWM` (the kernel's high-water mark, which includes start-up) is printed too.

`BENCH_UPLOAD_REPO=/path/to/another/checkout` runs that tree's gateway instead (to measure an older one).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixtures import REPO, free_port, stop_process

TOKEN = "bench-upload-token"
BOUNDARY = "atelier-bench-boundary"
PNG = b"\x89PNG\r\n\x1a\n"
MIB = 1024 * 1024
FILES = 6
FILE_BYTES = 179_000_000
ZIP_ENTRIES = 256
ENTRY_BYTES = 4 * MIB
CHUNK = 256 * 1024
TARGET_PEAK_MB = 100


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


class RssSampler:
    """The largest VmRSS of a process while running, read every `interval` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "VmRSS"))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


# ----------------------------------------------------------------------------- request bodies
def _part_head(name: str, filename: str) -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()  # fmt: skip


def _file_chunks(seed: int, size: int, block: bytes) -> Iterator[bytes]:
    """`size` bytes: the PNG signature, the seed, then `block` rotated by the seed, repeated."""
    rotated = block[seed % len(block) :] + block[: seed % len(block)]
    first = PNG + seed.to_bytes(8, "big")
    yield first
    left = size - len(first)
    while left > 0:
        piece = rotated[: min(CHUNK, left)]
        yield piece
        left -= len(piece)


class Body:
    """A request body: its length and its chunks (bench/run.py loads modules outside sys.modules, where
    dataclasses cannot resolve their annotations)."""

    def __init__(self, length: int, chunks: Iterator[bytes]) -> None:
        self.length, self.chunks = length, chunks


def files_body(block: bytes) -> Body:
    heads = [_part_head("files", f"render-{i}.png") for i in range(FILES)]
    tail = f"--{BOUNDARY}--\r\n".encode()
    length = sum(len(h) + FILE_BYTES + 2 for h in heads) + len(tail)

    def chunks() -> Iterator[bytes]:
        for i, head in enumerate(heads):
            yield head
            yield from _file_chunks(i + 1, FILE_BYTES, block)
            yield b"\r\n"
        yield tail

    return Body(length, chunks())


def write_zip(path: Path, block: bytes) -> None:
    """ZIP_ENTRIES stored entries of ENTRY_BYTES, written to disk entry by entry."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for i in range(ZIP_ENTRIES):
            info = zipfile.ZipInfo(f"renders/{i:04d}.png", date_time=(2025, 3, 21, 12, 0, 0))
            with archive.open(info, "w", force_zip64=False) as entry:
                for chunk in _file_chunks(1000 + i, ENTRY_BYTES, block):
                    entry.write(chunk)


def zip_body(path: Path) -> Body:
    head = _part_head("files", "renders.zip")
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        with path.open("rb") as archive:
            while chunk := archive.read(CHUNK):
                yield chunk
        yield tail

    return Body(len(head) + path.stat().st_size + len(tail), chunks())


async def _stream(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


# ------------------------------------------------------------------------------------ the run
async def _upload(base_url: str, body: Body) -> tuple[list[dict], float]:
    import httpx

    began = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(600.0)) as client:
        response = await client.post(
            "/api/v1/assets",
            params={"wait": "false"},
            headers={
                "Authorization": f"Bearer {TOKEN}",
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Content-Length": str(body.length),
            },
            content=_stream(body.chunks),
        )
    elapsed = time.perf_counter() - began
    response.raise_for_status()
    return response.json(), elapsed


def _start_gateway(repo: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "services.gateway"], cwd=repo, env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


async def _wait_ready(base_url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 90
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the gateway exited ({proc.returncode}); see {log}")
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"the gateway did not become ready; see {log}")


async def _run() -> list[dict]:
    from libs.stack.infra import LocalInfra

    repo = Path(os.environ.get("BENCH_UPLOAD_REPO", REPO))
    block = hashlib.shake_256(b"atelier bench upload").digest(MIB)
    rows: list[dict] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp,
        LocalInfra(Path(tmp) / "infra") as infra,
    ):
        archive = Path(tmp) / "renders.zip"
        write_zip(archive, block)
        port = free_port()
        log = Path(tmp) / "gateway.log"
        env = {**os.environ, **infra.env(), "ATELIER_HTTP_PORT": str(port), "ATELIER_DEMO_TOKEN": TOKEN,
               "ATELIER_LOG_LEVEL": "WARNING", "ATELIER_UPLOAD_SPOOL_DIR": tmp}  # fmt: skip
        proc = _start_gateway(repo, env, log)
        base_url = f"http://127.0.0.1:{port}"
        try:
            await _wait_ready(base_url, proc, log)
            # warm-up: one small upload, so the code paths an upload takes are loaded before "idle"
            small = [_part_head("files", "warm.png"), PNG + b"warm-up", f"\r\n--{BOUNDARY}--\r\n".encode()]
            warm = Body(sum(map(len, small)), iter(small))
            await _upload(base_url, warm)
            await asyncio.sleep(1.0)
            idle_mb = _status_kb(proc.pid, "VmRSS") / 1024
            print(f"   gateway idle RSS {idle_mb:.0f} MB (pid {proc.pid})", flush=True)

            for name, body, expected in (
                (f"upload.1gib_{FILES}_files.peak_rss_mb", files_body(block), FILES),
                (f"upload.1gib_zip_of_{ZIP_ENTRIES}_entries.peak_rss_mb", zip_body(archive), ZIP_ENTRIES),
            ):
                with RssSampler(proc.pid) as sampler:
                    results, elapsed = await _upload(base_url, body)
                statuses = {r["status"] for r in results}
                accepted = sum(1 for r in results if r["status"] != "rejected")
                if accepted != expected:
                    raise RuntimeError(f"{name}: {accepted} of {expected} files accepted: {results[:3]}")
                peak_mb = sampler.peak_kb / 1024
                print(
                    f"   {name}: {body.length / MIB:,.0f} MiB in {elapsed:.1f} s "
                    f"({body.length / MIB / elapsed:,.0f} MiB/s), {len(results)} results {sorted(statuses)}; "
                    f"peak RSS {peak_mb:.0f} MB = idle + {peak_mb - idle_mb:.0f} MB "
                    f"(target: under {TARGET_PEAK_MB} MB)",
                    flush=True,
                )
                rows.append({"name": name, "value": round(peak_mb, 1), "unit": "MB",
                             "baseline": "same gateway, idle RSS", "baseline_value": round(idle_mb, 1),
                             "ratio": round(peak_mb / idle_mb, 2)})  # fmt: skip
            print(f"   VmHWM (since start-up) {_status_kb(proc.pid, 'VmHWM') / 1024:.0f} MB", flush=True)
        finally:
            stop_process(proc)
    return rows


def run() -> list[dict]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for row in run():
        print(row)
