"""`cancelling.stop` ends a task even when the task swallows the first cancellation;
`cancelling.uninterrupted` lets its work end before a cancellation reaches the caller."""

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


async def test_uninterrupted_work_ends_before_the_cancellation_reaches_its_caller() -> None:
    started, finish = asyncio.Event(), asyncio.Event()
    ended: list[str] = []

    async def work() -> str:
        started.set()
        await finish.wait()
        ended.append("work")
        return "done"

    async def caller() -> str:
        return await cancelling.uninterrupted(work())

    task = asyncio.create_task(caller())
    await started.wait()
    task.cancel()
    for _ in range(20):
        await asyncio.sleep(0)  # let the cancellation reach the caller
    assert not task.done()
    assert ended == []
    finish.set()
    async with asyncio.timeout(5):
        try:
            await task
        except asyncio.CancelledError:
            ended.append("caller")
    assert ended == ["work", "caller"]


async def test_uninterrupted_work_returns_its_result_when_nothing_cancels() -> None:
    async def work() -> int:
        await asyncio.sleep(0)
        return 7

    assert await cancelling.uninterrupted(work()) == 7
