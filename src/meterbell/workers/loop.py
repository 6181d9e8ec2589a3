"""The shape every worker shares: do a step of work, then wait for a wake-up or a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog

from meterbell.cancelling import being_cancelled

log = structlog.get_logger(__name__)

Step = Callable[[], Awaitable[bool]]
ERROR_PAUSE_S = 1.0


async def run_forever(name: str, step: Step, *, wake: asyncio.Event | None, idle_s: float) -> None:
    """Call `step` until cancelled. A step returns True when more work may be waiting.

    Between idle steps the loop sleeps `idle_s` or until `wake` is set, whichever is first.
    A failing step is logged and retried after a pause; it never ends the loop. Steps handle
    their own items' failures (workers/isolation.py), so what reaches here is the store's
    trouble, not an item's: no item waits on this pause.
    """
    while True:
        try:
            busy = await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if being_cancelled():  # the cancellation became another error on its way out
                raise asyncio.CancelledError from exc
            log.exception("worker step failed", worker=name)
            await asyncio.sleep(ERROR_PAUSE_S)
            continue
        if busy:
            continue
        await _idle(wake, idle_s)


class Paced:
    """Times background work that must leave the event loop and the store to live work: after
    each piece, `rest()` sleeps `factor` times as long as the piece took (so the work takes at
    most 1 / (1 + factor) of the time), and at least `at_least_s`."""

    def __init__(self, factor: float, at_least_s: float = 0.0) -> None:
        self.factor = factor
        self.at_least_s = at_least_s
        self._started = time.perf_counter()

    def start(self) -> None:
        self._started = time.perf_counter()

    async def rest(self) -> None:
        took = time.perf_counter() - self._started
        await asyncio.sleep(max(self.at_least_s, took * self.factor))


async def _idle(wake: asyncio.Event | None, idle_s: float) -> None:
    if wake is None:
        await asyncio.sleep(idle_s)
        return
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation that arrives
    # as the wake-up does, and the loop would never stop.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(idle_s):
            await wake.wait()
    wake.clear()
