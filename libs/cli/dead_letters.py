"""`atelier admin replay-dlq TOPIC [--limit N] [--dry-run]`: re-drive dead letters once the fault is fixed.

A consumer sends to `TOPIC.dlq` what it could not handle, with the reason in a `reason` header
(libs/common/consumer.py): a record it could not parse (malformed, an unknown version, oversized) or
an event whose handler failed the same way on every attempt. Once a release fixes the cause, this
reads `TOPIC.dlq` from where the last run stopped (the consumer group `atelier-replay-dlq` keeps the
place) and publishes each dead letter's original value back to TOPIC with its key and a
`replayed-from: TOPIC.dlq:PARTITION:OFFSET` header. The consumer claims a replay in its inbox under an
id of its own (the set-aside event's id is already there), so it is handled once; a dead letter that
still does not parse as an event is skipped and reported with the reason. The place is committed after
each record, so a second run (or a run after a crash) never replays the same dead letter twice.
`--dry-run` reads and reports without publishing or moving the place.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from libs.common.broker import make_producer
from libs.common.consumer import REPLAYED_FROM
from libs.common.events import InvalidEvent, Topics, parse_event
from libs.common.kafka_security import kafka_client_options
from libs.common.settings import CommonSettings

GROUP = "atelier-replay-dlq"


@dataclass
class ReplaySummary:
    topic: str
    dry_run: bool
    replayed: int = 0
    # (where the dead letter is, why it still cannot be an event)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # the reasons the replayed dead letters were dead-lettered for, and how many of each
    reasons: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        verb = "would replay" if self.dry_run else "replayed"
        out = [
            f"{self.topic}: {verb} {self.replayed}, skipped {len(self.skipped)} as still invalid"
            + (" (dry run: nothing published, nothing committed)" if self.dry_run else "")
        ]
        out += [f"  {verb} {n} dead-lettered for: {reason}" for reason, n in sorted(self.reasons.items())]
        out += [f"  skipped {where}: {reason}" for where, reason in self.skipped]
        return out


async def replay_dead_letters(
    settings: CommonSettings, topic: str, *, limit: int | None = None, dry_run: bool = False
) -> ReplaySummary:
    """Replay up to `limit` dead letters of `topic` that no earlier run replayed (see the module docstring).
    Reads up to the end the dead-letter topic had when the run began."""
    dlq = Topics.dead_letter(topic)
    summary = ReplaySummary(topic, dry_run)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=GROUP,
        client_id=f"{GROUP}-{topic}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **kafka_client_options(settings),
    )
    producer = make_producer(settings)
    await consumer.start()
    await producer.start()
    try:
        # assigned, not subscribed: no group join to wait for; the group only keeps the place
        if dlq not in await consumer.topics():  # also loads the partitions of every topic
            raise SystemExit(f"no dead-letter topic {dlq}")
        partitions = [TopicPartition(dlq, p) for p in sorted(consumer.partitions_for_topic(dlq) or ())]
        if not partitions:
            raise SystemExit(f"no dead-letter topic {dlq}")
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        left = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        handled = 0
        while left and (limit is None or handled < limit):
            batches = await consumer.getmany(*left, timeout_ms=1000, max_records=100)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= ends[tp] or (limit is not None and handled >= limit):
                        break
                    handled += 1
                    where = f"{dlq}:{tp.partition}:{record.offset}"
                    headers = dict(record.headers or ())
                    value = record.value or b""
                    try:
                        parse_event(value)
                    except InvalidEvent as exc:
                        summary.skipped.append((where, str(exc)))
                    else:
                        summary.replayed += 1
                        why = headers.get("reason", b"").decode(errors="replace") or "(no reason recorded)"
                        summary.reasons[why] = summary.reasons.get(why, 0) + 1
                        if not dry_run:
                            await producer.send_and_wait(
                                topic, value=value, key=record.key, headers=[(REPLAYED_FROM, where.encode())]
                            )
                    if not dry_run:  # as it goes: a second run starts after what this one did
                        await consumer.commit({tp: OffsetAndMetadata(record.offset + 1, "")})
            left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
    finally:
        await producer.stop()
        await consumer.stop()
    return summary


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="atelier admin replay-dlq",
        description="Publish TOPIC.dlq's dead letters back to TOPIC (after a fix), each once.",
    )
    parser.add_argument("topic", help="the topic whose dead letters to replay, e.g. asset.uploaded")
    parser.add_argument("--limit", type=int, default=None, help="replay at most this many dead letters")
    parser.add_argument(
        "--dry-run", action="store_true", help="report what would be replayed; change nothing"
    )
    args = parser.parse_args(list(argv))
    if args.topic.endswith(".dlq"):
        parser.error(f"name the topic, not its dead-letter topic: {args.topic.removesuffix('.dlq')}")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    summary = asyncio.run(
        replay_dead_letters(CommonSettings(), args.topic, limit=args.limit, dry_run=args.dry_run)
    )
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
