"""Poison for `make chaos`: every kind of bad input, injected while the faults go on, and where each
one ended (a dead-letter topic with its reason, the quarantine with its reason, or a refusal at the
gateway).

Events are published straight to the topics, as a buggy or hostile producer would; files go through
the public upload API. Every poison carries a marker (`chaos-poison-<kind>`) in its bytes or file
name, so the dead letters and quarantine rows found at the end are matched to what was sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaos_client import Workspace, upload_raw
from chaos_stack import REPO, ChaosStack

from libs.common.events import AssetImported, AssetUploaded, Event, Topics


@dataclass
class Poison:
    kind: str  # malformed, unknown version, oversized, valid but failing
    what: str
    marker: str
    topic: str | None = None  # None: sent as an upload through the API
    ended: list[str] = field(default_factory=list)


def _png(seed: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 32), (seed % 256, 40, 90)).save(out, "PNG")
    return out.getvalue()


class PoisonRun:
    def __init__(self, stack: ChaosStack, seed: int) -> None:
        self.stack = stack
        self.seed = seed
        self.poisons: list[Poison] = []
        self.task: asyncio.Task[None] | None = None
        self.upload_answers: dict[str, dict[str, Any]] = {}

    async def inject(self, workspace: Workspace) -> None:
        """Start injecting in the background (the faults go on meanwhile)."""
        self.task = asyncio.create_task(self._inject(workspace))

    async def _inject(self, workspace: Workspace) -> None:
        tenant = workspace.tenant_id
        events: list[tuple[Poison, bytes]] = []

        def add(kind: str, what: str, topic: str, body: bytes, marker: str) -> None:
            poison = Poison(kind, what, marker, topic)
            self.poisons.append(poison)
            events.append((poison, body))

        def uploaded(marker: str, **extra: Any) -> Event:
            digest = hashlib.sha256(marker.encode()).hexdigest()
            fields: dict[str, Any] = {
                "asset_id": uuid.uuid5(tenant, digest),
                "sha256": digest,
                "size": 1,
                "object_key": f"{tenant}/{digest}",
                "filename": f"{marker}.png",
            }
            return Event.of(AssetUploaded(**(fields | extra)), tenant_id=tenant)

        m = "chaos-poison-malformed-json"
        add("malformed", "not JSON, on asset.uploaded", Topics.ASSET_UPLOADED, f'{{"{m}": '.encode(), m)
        m = "chaos-poison-malformed-envelope"
        add(
            "malformed",
            "JSON without an envelope, on asset.imported",
            Topics.ASSET_IMPORTED,
            json.dumps({"note": m}).encode(),
            m,
        )
        m = "chaos-poison-malformed-payload"
        bad_payload = json.loads(uploaded(m).to_bytes())
        bad_payload["payload"]["sha256"] = "not a digest " + m
        add(
            "malformed",
            "an asset.uploaded whose payload breaks its schema",
            Topics.ASSET_UPLOADED,
            json.dumps(bad_payload).encode(),
            m,
        )
        m = "chaos-poison-unknown-version"
        future = json.loads(uploaded(m).to_bytes())
        future["version"] = 99
        add("unknown version", "asset.uploaded v99", Topics.ASSET_UPLOADED, json.dumps(future).encode(), m)
        m = "chaos-poison-unknown-type"
        alien = json.loads(uploaded(m).to_bytes())
        alien["type"] = "asset.teleported"
        add(
            "unknown version",
            "an unknown event type on reflection.requested",
            Topics.REFLECTION_REQUESTED,
            json.dumps(alien).encode(),
            m,
        )
        m = "chaos-poison-valid-missing-original"
        add(
            "valid but failing",
            "asset.uploaded naming an original that was never stored",
            Topics.ASSET_UPLOADED,
            uploaded(m).to_bytes(),
            m,
        )
        m = "chaos-poison-valid-nul-prompt"
        digest = hashlib.sha256(m.encode()).hexdigest()
        nul = Event.of(
            AssetImported(
                asset_id=uuid.uuid5(tenant, digest),
                sha256=digest,
                filename=f"{m}.png",
                prompt="a prompt with a NUL \x00 inside",
                generated_at=datetime.now(UTC),
                timestamp_precision="second",
            ),
            tenant_id=tenant,
        )
        add(
            "valid but failing",
            "asset.imported whose prompt holds a NUL (PostgreSQL refuses it)",
            Topics.ASSET_IMPORTED,
            nul.to_bytes(),
            m,
        )

        await self._publish(tenant, events)

        # files through the API
        good = _png(self.seed)
        files = {
            "chaos-poison-truncated.png": ("malformed", "a PNG cut in half", good[: len(good) // 2]),
            "chaos-poison-not-an-image.png": (
                "malformed",
                "text named .png",
                b"chaos-poison: not an image\n" * 50,
            ),
            "chaos-poison-oversized-file.png": (
                "oversized",
                "a 5 MiB file (the limit is 4 MiB)",
                good + os.urandom(5 * 1024 * 1024),
            ),
        }
        for name, (kind, what, data) in files.items():
            poison = Poison(kind, f"upload: {what}", name.removesuffix(".png"))
            self.poisons.append(poison)
            answer = await upload_raw(workspace, name, data)
            self.upload_answers[name] = answer
            if answer.get("status") == "rejected":
                poison.ended.append(f"refused by the gateway: {answer.get('reason')}")

    async def inject_oversized_event(self, workspace: Workspace) -> dict[str, Any]:
        """A 2 MiB asset.uploaded (a padded sidecar) straight onto the topic, then one good file uploaded
        behind it by the same workspace: the poison must be set aside and the good file imported.
        Injected after the import's checks, on its own: the first development runs found that it stalls
        ingest (see bench/chaos.md)."""
        tenant = workspace.tenant_id
        m = "chaos-poison-oversized-event"
        digest = hashlib.sha256(m.encode()).hexdigest()
        payload = AssetUploaded(
            asset_id=uuid.uuid5(tenant, digest),
            sha256=digest,
            size=1,
            filename=f"{m}.png",
            object_key=f"{tenant}/{digest}",
            sidecar={"padding": "x" * (2 * 1024 * 1024)},
        )
        poison = Poison("oversized", "a 2 MiB asset.uploaded (sidecar padding)", m, Topics.ASSET_UPLOADED)
        self.poisons.append(poison)
        await self._publish(tenant, [(poison, Event.of(payload, tenant_id=tenant).to_bytes())])
        return await upload_raw(workspace, "chaos-after-the-oversized-event.png", _png(self.seed + 1))

    async def _publish(self, tenant: uuid.UUID, events: list[tuple[Poison, bytes]]) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            bootstrap_servers=self.stack.kafka_bootstrap, acks="all", max_request_size=8 * 1024 * 1024
        )
        for _ in range(60):
            try:
                await producer.start()
                break
            except Exception:
                await asyncio.sleep(1.0)
        try:
            for poison, body in events:
                for attempt in range(30):
                    try:
                        await producer.send_and_wait(poison.topic or "", body, key=str(tenant).encode())
                        break
                    except Exception as exc:
                        if attempt == 29:
                            poison.ended.append(f"refused by the broker: {type(exc).__name__}: {exc}"[:200])
                        await asyncio.sleep(1.0)
        finally:
            await producer.stop()

    async def collect(self, db: Any, workspace: Workspace) -> list[dict[str, Any]]:
        """Match every poison to the dead letters and quarantine rows carrying its marker."""
        if self.task is not None:
            await self.task
        letters = await self._dead_letters()
        quarantine = await db.run(
            "SELECT filename, reason FROM ingest.quarantine WHERE tenant_id = $1", workspace.tenant_id
        )
        stored = await db.run("SELECT filename FROM ingest.assets WHERE tenant_id = $1", workspace.tenant_id)
        for poison in self.poisons:
            for topic, value, reason in letters:
                if poison.marker.encode() in value:
                    poison.ended.append(f"{topic}: {reason}")
            for row in quarantine:
                if poison.marker in row["filename"]:
                    poison.ended.append(f"quarantine: {row['reason']}")
            for row in stored:
                if poison.marker in row["filename"]:
                    poison.ended.append("IMPORTED as an asset")
        return [
            {
                "kind": p.kind,
                "what": p.what,
                "topic": p.topic or "upload API",
                "ended": p.ended or ["nowhere found"],
            }
            for p in self.poisons
        ]

    async def _dead_letters(self) -> list[tuple[str, bytes, str]]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.stack.kafka_bootstrap,
            enable_auto_commit=False,
            fetch_max_bytes=16 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
        )
        await consumer.start()
        found: list[tuple[str, bytes, str]] = []
        try:
            topics = [t for t in await consumer.topics() if t.endswith(".dlq")]
            parts = []
            for topic in topics:
                for partition in consumer.partitions_for_topic(topic) or set():
                    parts.append(TopicPartition(topic, partition))
            if not parts:
                return found
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            ends = await consumer.end_offsets(parts)
            remaining = {tp for tp in parts if ends[tp] > 0}
            deadline = asyncio.get_running_loop().time() + 60
            while remaining and asyncio.get_running_loop().time() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    for record in records:
                        reason = dict(record.headers or []).get("reason", b"").decode(errors="replace")
                        found.append((tp.topic, record.value or b"", reason))
                        if record.offset + 1 >= ends[tp]:
                            remaining.discard(tp)
        finally:
            await consumer.stop()
        return found

    async def replay_if_available(self) -> dict[str, Any]:
        """`atelier admin replay-dlq asset.imported`, when it exists, once the dead letters are counted.

        No release can be deployed inside the run, so this shows what a re-drive does with what is
        there: the malformed records are skipped as still invalid, the NUL-prompt event goes back to
        clustering, fails again and is set aside again, and nothing is handled twice."""
        if not (REPO / "libs" / "cli" / "dead_letters.py").exists():
            return {"available": False}
        before = [t for t in await self._dead_letters() if t[0] == Topics.dead_letter(Topics.ASSET_IMPORTED)]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")},
            **self.stack.service_env("gateway"),
        }
        command = [sys.executable, "-m", "libs.cli.main", "admin", "replay-dlq", Topics.ASSET_IMPORTED]
        done = await asyncio.to_thread(
            subprocess.run, command, cwd=REPO, env=env, capture_output=True, text=True, timeout=180
        )
        # the replayed event's second trip through clustering's retries
        after: list[tuple[str, bytes, str]] = []
        for _ in range(60):
            await asyncio.sleep(1.0)
            after = [
                t for t in await self._dead_letters() if t[0] == Topics.dead_letter(Topics.ASSET_IMPORTED)
            ]
            if len(after) > len(before):
                break
        return {
            "available": True,
            "command": "atelier " + " ".join(command[3:]),
            "exit": done.returncode,
            "output": (done.stdout + done.stderr)[-1500:],
            "dead_letters_before": len(before),
            "dead_letters_after": len(after),
            "new_reasons": [reason for _, _, reason in after[len(before) :]],
        }


_ = Path
