"""A worker loop stops when cancelled, even when its wake-up arrives at the same moment
(Python 3.11's `asyncio.wait_for` returns the finished wait and drops that cancellation,
which left `Workers.stop` waiting forever on a loop that went on)."""

from __future__ import annotations

import asyncio

from meterbell.workers.loop import run_forever


async def test_a_wake_up_at_the_moment_of_cancelling_still_stops_the_loop() -> None:
    wake = asyncio.Event()
    steps = 0

    async def step() -> bool:
        nonlocal steps
        steps += 1
        return False

    task = asyncio.create_task(run_forever("test", step, wake=wake, idle_s=60))
    for _ in range(100):
        if steps:
            break
        await asyncio.sleep(0)
    assert steps == 1
    wake.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done
    assert task.cancelled()
