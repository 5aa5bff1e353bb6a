"""How every Kafka client of ours authenticates and encrypts, from the settings (ATELIER_KAFKA_SECURITY_PROTOCOL,
ATELIER_KAFKA_SASL_*, ATELIER_KAFKA_SSL_*; checked at start-up by CommonSettings).

Two shapes of the same thing, so no client is left on plaintext by accident:
- `kafka_client_options`: keyword arguments for aiokafka's producer, consumer and admin client;
- `kafka_security`: FastStream's security object for `KafkaBroker(security=...)`, which FastStream turns
  into the same aiokafka arguments (tests/unit/test_kafka_security.py checks they agree).
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from aiokafka.helpers import create_ssl_context

from libs.common.settings import CommonSettings

if TYPE_CHECKING:
    from faststream.security import BaseSecurity


def kafka_ssl_context(settings: CommonSettings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL (hostname checked, certificate verified), None otherwise.
    Without a CA file the system's trust store verifies the brokers."""
    if not settings.kafka_security_protocol.endswith("SSL"):
        return None
    return create_ssl_context(
        cafile=settings.kafka_ssl_ca_file,
        certfile=settings.kafka_ssl_cert_file,
        keyfile=settings.kafka_ssl_key_file,
    )


def kafka_client_options(settings: CommonSettings) -> dict[str, Any]:
    """Security keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    context = kafka_ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if protocol.startswith("SASL_"):
        assert settings.kafka_sasl_password is not None  # CommonSettings refuses SASL without one
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


def kafka_security(settings: CommonSettings) -> BaseSecurity | None:
    """FastStream's security object for KafkaBroker; None for PLAINTEXT."""
    # imported here: only services that consume pay for FastStream's import (libs/common/broker.py)
    from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = kafka_ssl_context(settings)
    use_ssl = context is not None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    assert settings.kafka_sasl_username is not None and settings.kafka_sasl_password is not None
    sasl_class = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}[
        settings.kafka_sasl_mechanism or ""
    ]
    return sasl_class(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password.get_secret_value(),
        ssl_context=context,
        use_ssl=use_ssl,
    )
