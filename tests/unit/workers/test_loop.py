"""A worker loop stops when cancelled, even when its wake-up arrives at the same moment
(Python 3.11's `asyncio.wait_for` returns the finished wait and drops that cancellation,
which left `Workers.stop` waiting forever on a loop that went on), and even when the step's
clean-up turns the cancellation into another error (a store connection closed under it)."""

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


async def test_a_cancellation_that_a_step_turns_into_another_error_still_stops_the_loop() -> None:
    started = asyncio.Event()

    async def step() -> bool:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise RuntimeError("the connection was closed") from None
        return False

    task = asyncio.create_task(run_forever("test", step, wake=None, idle_s=60))
    await started.wait()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done
    assert task.cancelled()
