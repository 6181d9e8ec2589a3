"""`cancelling.stop` ends a task even when the task swallows the first cancellation."""

from __future__ import annotations

import asyncio

from meterbell import cancelling


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again_until_it_ends() -> None:
    swallowed = 0
    started = asyncio.Event()

    async def stubborn() -> None:
        nonlocal swallowed
        started.set()
        while True:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1

    task = asyncio.create_task(stubborn())
    await started.wait()
    async with asyncio.timeout(5):
        await cancelling.stop(task)
    assert task.cancelled()
    assert swallowed == 1
