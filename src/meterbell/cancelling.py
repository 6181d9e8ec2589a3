"""Stopping tasks for sure. A cancelled task can lose its cancellation: a clean-up that raises
another error (a store connection closed under it) turns it into an error a retry loop catches.
`stop` cancels again until the task has ended; `being_cancelled` lets a retry loop tell;
`uninterrupted` lets a piece of work end before the cancellation reaches its caller."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")

RECANCEL_S = 1.0


def being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def stop(*tasks: asyncio.Task[None]) -> None:
    """Cancel the tasks and wait until every one has ended, cancelling again every RECANCEL_S."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _done, pending = await asyncio.wait(pending, timeout=RECANCEL_S)


async def uninterrupted(work: Awaitable[T]) -> T:
    """Await `work`; if the caller is cancelled meanwhile, `work` still runs to its end (a
    statement on a worker thread, a whole transaction), and only then does the cancellation
    reach the caller."""
    running = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        await asyncio.wait({running})
        raise
