"""Settings every service reads from the environment (prefix `ATELIER_`).

One class, so a deployment sets the same variable names for every service; a
service that needs more subclasses it (see `services/<name>/settings.py`).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import FilePath, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class CommonSettings(BaseSettings):
    # hide_input_in_errors: a refused setting names the variable, never echoes the environment, which
    # holds the database URL, the S3 key and the Kafka password
    model_config = SettingsConfigDict(env_prefix="ATELIER_", extra="ignore", hide_input_in_errors=True)

    service_name: str = "atelier"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/atelier"
    database_pool_size: int = 10
    kafka_bootstrap: str = "127.0.0.1:9092"
    # partitions per topic: the unit of scale of every consumer group
    kafka_partitions: int = 8
    kafka_replication_factor: int = 1
    # a short session makes a consumer join its group in ~1 s instead of 5 s (Tansu holds a join
    # for session_timeout/2); production Kafka deployments raise it
    kafka_session_timeout_ms: int = 6000
    kafka_heartbeat_interval_ms: int = 1500
    # How clients reach the brokers (every producer, consumer and admin client: libs/common/kafka_security.py).
    # PLAINTEXT is the local stack (Tansu); a managed Kafka wants SASL_SSL. Checked at start-up (below).
    kafka_security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: KafkaSaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    # PEM files; without a CA file the system's trust store verifies the brokers (public CAs of managed
    # Kafka). The client certificate and key are for brokers that ask for mutual TLS.
    kafka_ssl_ca_file: FilePath | None = None
    kafka_ssl_cert_file: FilePath | None = None
    kafka_ssl_key_file: FilePath | None = None
    s3_endpoint: str = "127.0.0.1:8333"
    s3_access_key: str = "atelier"
    s3_secret_key: str = "atelier-secret"
    s3_region: str = "us-east-1"
    s3_secure: bool = False
    s3_bucket_originals: str = "atelier-originals"
    s3_bucket_thumbnails: str = "atelier-thumbnails"
    # a consumer failing (or inside one batch) this long without progress fails readiness
    consumer_stuck_seconds: float = 60.0
    # the first pause after a failed batch; it doubles per failure in a row, up to 30 s
    consumer_retry_pause_seconds: float = 0.5
    # on SIGTERM a consumer stops taking batches and gets this long to finish the one in hand; one still
    # running then is cancelled (its transaction rolls back, its offsets stay) and redelivered elsewhere.
    # Keep it under the pod's terminationGracePeriodSeconds, with room for the outbox to drain.
    shutdown_grace_seconds: float = 20.0
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # serve /metrics on this port instead of http_port (production: no Service or Ingress exposes it)
    metrics_port: int | None = None
    # shared by our services for /internal/v1 calls (see libs/common/internal.py); unset on one machine
    internal_token: str | None = None
    log_level: str = "INFO"
    log_json: bool = False

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator(
        "kafka_sasl_mechanism",
        "kafka_sasl_username",
        "kafka_sasl_password",
        "kafka_ssl_ca_file",
        "kafka_ssl_cert_file",
        "kafka_ssl_key_file",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # a ConfigMap or an overlay may carry the key with an empty value: the same as not set (so a blank
        # password reads as a missing one, and is refused below)
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _kafka_security_is_consistent(self) -> Self:
        """Refuse, at start-up, a Kafka setting the chosen protocol would silently ignore or cannot do without:
        credentials sent nowhere, or a CA file never loaded, are a misconfiguration found hours later."""
        protocol = self.kafka_security_protocol
        sasl = protocol.startswith("SASL_")
        tls = protocol.endswith("SSL")
        sasl_fields = {
            "ATELIER_KAFKA_SASL_MECHANISM": self.kafka_sasl_mechanism,
            "ATELIER_KAFKA_SASL_USERNAME": self.kafka_sasl_username,
            "ATELIER_KAFKA_SASL_PASSWORD": self.kafka_sasl_password,
        }
        tls_fields = {
            "ATELIER_KAFKA_SSL_CA_FILE": self.kafka_ssl_ca_file,
            "ATELIER_KAFKA_SSL_CERT_FILE": self.kafka_ssl_cert_file,
            "ATELIER_KAFKA_SSL_KEY_FILE": self.kafka_ssl_key_file,
        }
        if sasl:
            missing = [name for name, value in sasl_fields.items() if value is None]
            if missing:
                raise ValueError(f"ATELIER_KAFKA_SECURITY_PROTOCOL={protocol} needs {', '.join(missing)}")
        else:
            stray = [name for name, value in sasl_fields.items() if value is not None]
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} set, but ATELIER_KAFKA_SECURITY_PROTOCOL={protocol} sends no credentials:"
                    " use SASL_SSL (or SASL_PLAINTEXT) or unset them"
                )
        if not tls:
            stray = [name for name, value in tls_fields.items() if value is not None]
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} set, but ATELIER_KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS:"
                    " use SSL or SASL_SSL or unset them"
                )
        if self.kafka_ssl_key_file is not None and self.kafka_ssl_cert_file is None:
            raise ValueError(
                "ATELIER_KAFKA_SSL_KEY_FILE needs ATELIER_KAFKA_SSL_CERT_FILE (the client certificate)"
            )
        return self
