"""Whether an upload can be carried out now: the object store and the broker, asked at most once a second.

An upload puts originals in S3 and queues `asset.uploaded` for the broker. If either is unreachable
the gateway cannot do what the upload asks, so it says so (503, Retry-After) before reading the body,
instead of answering as if the files were on their way. The answer comes from the service's own
dependency checks (`ServiceRuntime.check_dependencies`: a bucket lookup, a metadata request, `SELECT
1`), run at most once per `dependency_check_seconds` however many uploads arrive, and shared by the
uploads waiting for it. A put that fails mid-request marks the store unreachable at once (`report`),
so the uploads right behind it do not each wait for their own put to fail.
"""

from __future__ import annotations

import asyncio
import math

from libs.common.metrics import DEPENDENCY_UP
from libs.common.runtime import ServiceRuntime

# what each dependency is called in an answer; the database is not here: without it nothing answers
# (authentication reads it), and its failures answer 503 through the runtime's handler
WHAT = {"object_store": "the object store", "broker": "the event broker"}
RETRY_AFTER_SECONDS = 5


class UploadReadiness:
    def __init__(self, runtime: ServiceRuntime, max_age: float) -> None:
        self.runtime, self.max_age = runtime, max_age
        self._checked_at = -math.inf
        self._problems: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def problem(self) -> str | None:
        """Why an upload cannot be carried out now (a sentence for the client), or None."""
        async with self._lock:
            now = asyncio.get_running_loop().time()
            if now - self._checked_at >= self.max_age:
                checks = await self.runtime.check_dependencies()
                self._problems = {name: result for name, result in checks.items()
                                  if name in WHAT and result != "ok"}  # fmt: skip
                self._checked_at = asyncio.get_running_loop().time()
                for name, result in checks.items():
                    DEPENDENCY_UP.labels(self.runtime.settings.service_name, name).set(result == "ok")
        if not self._problems:
            return None
        names = " and ".join(WHAT[name] for name in sorted(self._problems))
        verb = "are" if len(self._problems) > 1 else "is"
        why = "; ".join(f"{name}: {result}" for name, result in sorted(self._problems.items()))
        return f"{names} {verb} unreachable; nothing was imported, retry later ({why})"

    def report(self, name: str, problem: str) -> None:
        """A dependency failed while handling a request: hold that answer until the next check is due."""
        self._problems[name] = problem
        self._checked_at = asyncio.get_running_loop().time()
        DEPENDENCY_UP.labels(self.runtime.settings.service_name, name).set(0)
