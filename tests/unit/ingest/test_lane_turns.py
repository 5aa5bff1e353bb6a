"""The bulk lane yields to the interactive lane on a replica (services/ingest/lanes.py), but never stops."""

from __future__ import annotations

import asyncio

from services.ingest.lanes import InteractiveFirst


async def _settle() -> None:
    for _ in range(20):  # let every ready task run as far as it can
        await asyncio.sleep(0)


async def test_a_bulk_file_waits_while_an_interactive_batch_is_in_hand() -> None:
    turns = InteractiveFirst(linger_seconds=0.0, max_wait_seconds=60.0)
    order: list[str] = []

    async def bulk_file() -> None:
        await turns.bulk_turn()
        order.append("bulk")

    async with turns.interactive_batch():
        bulk = asyncio.create_task(bulk_file())
        await _settle()
        assert not bulk.done() and turns.interactive_busy
        order.append("interactive")
    await asyncio.wait_for(bulk, 10.0)
    assert order == ["interactive", "bulk"]


async def test_a_bulk_file_goes_at_once_when_the_interactive_lane_is_idle() -> None:
    turns = InteractiveFirst(linger_seconds=30.0, max_wait_seconds=60.0)
    # never an interactive batch: no linger to wait out
    assert await asyncio.wait_for(turns.bulk_turn(), 5.0) < 5.0


async def test_the_bulk_lane_waits_out_the_linger_after_an_interactive_batch() -> None:
    """The next interactive batch usually follows within a poll: the bulk lane does not slip in between."""
    turns = InteractiveFirst(linger_seconds=0.3, max_wait_seconds=60.0)
    async with turns.interactive_batch():
        pass
    assert await turns.bulk_turn() >= 0.3 - 0.01


async def test_a_new_interactive_batch_within_the_linger_keeps_the_bulk_lane_waiting() -> None:
    turns = InteractiveFirst(linger_seconds=0.5, max_wait_seconds=60.0)
    order: list[str] = []
    async with turns.interactive_batch():
        pass

    async def bulk_file() -> None:
        await turns.bulk_turn()
        order.append("bulk")

    bulk = asyncio.create_task(bulk_file())
    await _settle()
    async with turns.interactive_batch():  # the next batch, well inside the linger
        await _settle()
        assert not bulk.done()
        order.append("interactive")
    await asyncio.wait_for(bulk, 10.0)
    assert order == ["interactive", "bulk"]


async def test_a_steady_interactive_stream_slows_the_bulk_lane_but_never_stops_it() -> None:
    turns = InteractiveFirst(linger_seconds=0.0, max_wait_seconds=0.2)
    async with turns.interactive_batch():  # held for longer than the bulk lane may wait
        waited = await asyncio.wait_for(turns.bulk_turn(), 10.0)
        assert turns.interactive_busy
    assert waited >= 0.2 - 0.01
