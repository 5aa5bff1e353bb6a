"""A dead letter always fits the consumer's own producer: `make chaos` found that a 2 MiB record (the
broker took it from another producer) could not be dead-lettered whole, so its batch failed on every
delivery and held up its partition for good."""

from __future__ import annotations

import inspect
from typing import Any

from aiokafka import AIOKafkaProducer

from libs.common.consumer import DEAD_LETTER_MAX_BYTES, TRUNCATED_FROM, EventConsumer, RawRecord


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_and_wait(self, topic: str, *, value: bytes, key: bytes | None, headers: list[Any]) -> None:
        self.sent.append({"topic": topic, "value": value, "key": key, "headers": dict(headers)})


def _consumer(producer: RecordingProducer) -> EventConsumer:
    # only what _dead_letter reads: no broker, no database
    consumer = EventConsumer.__new__(EventConsumer)
    consumer.topic, consumer.group_id, consumer.producer = "asset.uploaded", "ingest", producer  # type: ignore[assignment]
    return consumer


async def test_a_record_too_big_for_the_producer_is_dead_lettered_cut_with_its_size() -> None:
    producer = RecordingProducer()
    await _consumer(producer)._dead_letter(RawRecord(b"x" * 2_097_152, b"key"), "oversized event")
    (letter,) = producer.sent
    assert letter["topic"] == "asset.uploaded.dlq" and letter["key"] == b"key"
    assert len(letter["value"]) == DEAD_LETTER_MAX_BYTES
    assert letter["headers"][TRUNCATED_FROM] == b"2097152"
    assert letter["headers"]["reason"] == b"oversized event"


async def test_a_record_the_producer_can_send_is_dead_lettered_whole() -> None:
    producer = RecordingProducer()
    value = b"y" * (700 * 1024)  # oversized for an event (512 KiB), fine for the producer
    await _consumer(producer)._dead_letter(RawRecord(value, b"key"), "oversized event")
    (letter,) = producer.sent
    assert letter["value"] == value and TRUNCATED_FROM not in letter["headers"]


def test_the_cut_fits_the_default_producer_limit_with_room_for_key_and_headers() -> None:
    limit = inspect.signature(AIOKafkaProducer.__init__).parameters["max_request_size"].default
    # a reason is cut to 500 characters; a key, the other headers and the record's framing are small
    assert DEAD_LETTER_MAX_BYTES + 32 * 1024 <= limit
