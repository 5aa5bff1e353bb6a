"""The reflection-outcome consumers, started once the HTTP API is up rather than before it.

`ServiceRuntime.consume` starts subscribers before the service answers, and each group join is held
by the broker for half a session timeout (3 s by default, libs/common/settings.py): two consumers made
the credits API wait ~6 s at start-up while callers (the gateway, a person waiting for a reservation)
need it at once, and the API does not depend on the consumers. So the subscribers are the same
`EventConsumer`s (inbox, dead letters, readiness through `runtime.consumers`), on a broker of their
own started in the background; a failed start is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from libs.common.broker import make_broker
from libs.common.consumer import EventConsumer, Handler
from libs.common.runtime import ServiceRuntime

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0


class LateConsumers:
    def __init__(self, runtime: ServiceRuntime, specs: list[tuple[str, str, Handler]]) -> None:
        self.runtime = runtime
        self.specs = specs
        self.broker: KafkaBroker | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="credits-consumers")

    async def _run(self) -> None:
        s = self.runtime.settings
        while True:
            broker = make_broker(s)
            consumers = [
                EventConsumer(
                    broker=broker,
                    pool=self.runtime.pool,
                    producer=self.runtime.producer,
                    schema=self.runtime.schema,
                    topic=topic,
                    group_id=group_id,
                    handler=handler,
                    session_timeout_ms=s.kafka_session_timeout_ms,
                    heartbeat_interval_ms=s.kafka_heartbeat_interval_ms,
                    stuck_after_seconds=s.consumer_stuck_seconds,
                    retry_pause_seconds=s.consumer_retry_pause_seconds,
                )
                for topic, group_id, handler in self.specs
            ]
            try:
                await broker.start()
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await broker.stop()
                raise
            except Exception:
                log.exception("credits consumers could not start; retrying")
                with contextlib.suppress(Exception):
                    await broker.stop()
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self.broker = broker
            self.runtime.consumers.extend(consumers)
            return

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.broker is not None:
            with contextlib.suppress(Exception):
                await self.broker.stop()
            self.broker = None
