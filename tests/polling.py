"""Waiting for the asynchronous pipeline in tests: poll a condition until a deadline, never sleep-and-hope."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(predicate: Callable[[], Awaitable[T]], within: float = 30.0, every: float = 0.1) -> T:
    """Poll `predicate` until it returns something truthy or `within` seconds pass; returns its last value."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await predicate()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(every)
