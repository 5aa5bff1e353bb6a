"""The local stack: real Kafka-protocol broker, S3 and PostgreSQL on this machine, no Docker.

`LocalInfra` starts them (tests, benchmarks, `make run`); `libs.stack.run` adds the five services.
"""

from libs.stack.infra import Infra, LocalInfra

__all__ = ["Infra", "LocalInfra"]
