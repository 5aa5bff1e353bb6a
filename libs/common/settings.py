"""Settings every service reads from the environment (prefix `ATELIER_`).

One class, so a deployment sets the same variable names for every service; a
service that needs more subclasses it (see `services/<name>/settings.py`).
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATELIER_", extra="ignore")

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
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # serve /metrics on this port instead of http_port (production: no Service or Ingress exposes it)
    metrics_port: int | None = None
    # shared by our services for /internal/v1 calls (see libs/common/internal.py); unset on one machine
    internal_token: str | None = None
    log_level: str = "INFO"
    log_json: bool = False
