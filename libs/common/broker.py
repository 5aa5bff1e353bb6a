"""The Kafka side: a FastStream broker for subscribers, an aiokafka producer for the outbox,
and topic creation with enough partitions to scale consumer groups."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from libs.common.events import Topics
from libs.common.kafka_security import kafka_client_options, kafka_security
from libs.common.settings import CommonSettings

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

log = logging.getLogger(__name__)


def make_broker(settings: CommonSettings) -> KafkaBroker:
    from faststream.kafka import KafkaBroker  # only services that consume pay for FastStream's import

    # FastStream logs "Received" and "Processed" for every batch at its log_level: at INFO that is
    # two lines per batch on a busy consumer. DEBUG keeps them for whoever asks; failures still
    # log at ERROR, and our consumer logs what it did with each batch.
    return KafkaBroker(
        settings.kafka_bootstrap,
        client_id=settings.service_name,
        security=kafka_security(settings),
        log_level=logging.DEBUG,
        # stop() waits this long for the batch in hand (see CommonSettings.shutdown_grace_seconds)
        graceful_timeout=settings.shutdown_grace_seconds,
    )


def make_producer(settings: CommonSettings) -> AIOKafkaProducer:
    # acks=all: an event the outbox marks as sent is on the broker. No idempotent producer:
    # Tansu does not grant one to aiokafka, and the inbox makes duplicates harmless anyway.
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        linger_ms=2,
        client_id=f"{settings.service_name}-outbox",
        **kafka_client_options(settings),
    )


async def ensure_topics(settings: CommonSettings, topics: tuple[str, ...] = Topics.ALL) -> None:
    """Create the catalogue's topics and their dead-letter topics if missing."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **kafka_client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for topic in topics for t in (topic, Topics.dead_letter(topic)) if t not in existing]
        for name in wanted:
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            name,
                            num_partitions=settings.kafka_partitions if not name.endswith(".dlq") else 1,
                            replication_factor=settings.kafka_replication_factor,
                        )
                    ]
                )
            except TopicAlreadyExistsError:
                pass  # another service created it meanwhile
    finally:
        await admin.close()
