"""Starts and stops the workers: inside `meterbell serve` (embedded) or `meterbell worker`."""

from __future__ import annotations

import asyncio
import contextlib

from meterbell.config import Settings
from meterbell.store.db import Database
from meterbell.workers.dispatcher import Dispatcher
from meterbell.workers.loop import run_forever
from meterbell.workers.retention import Retention

DISPATCH_POLL_S = 1.0


class Workers:
    def __init__(self, db: Database, settings: Settings, events_written: asyncio.Event) -> None:
        self.db = db
        self.settings = settings
        self.events_written = events_written
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        dispatcher = Dispatcher(self.db)
        retention = Retention(self.db, retention_days=self.settings.event_retention_days)
        self._tasks = [
            asyncio.create_task(
                run_forever(
                    "dispatcher", dispatcher.step, wake=self.events_written, idle_s=DISPATCH_POLL_S
                )
            ),
            asyncio.create_task(
                run_forever(
                    "retention",
                    retention.step,
                    wake=None,
                    idle_s=self.settings.retention_interval_s,
                )
            ),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
