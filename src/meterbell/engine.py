"""What runs beside the API in `meterbell serve`, and alone in `meterbell worker`: the wake-up
relay between processes and, where this process runs them, the workers."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from meterbell.config import Settings
from meterbell.services import entities
from meterbell.store.db import Database
from meterbell.store.export_storage import ExportStorage
from meterbell.workers.runner import Workers


@asynccontextmanager
async def running(
    db: Database, settings: Settings, *, run_workers: bool, storage: ExportStorage | None = None
) -> AsyncIterator[None]:
    """The relay (listening when this process runs workers) and the workers, until the block
    ends; then the workers finish what they hold and hand the rest back."""
    workers = (
        Workers(db, settings, create_entity=entities.create_in, storage=storage)
        if run_workers
        else None
    )
    db.wakeups.start_relay(db.url, listen=run_workers)
    if workers is not None:
        await workers.start()
    try:
        yield
    finally:
        if workers is not None:
            await workers.stop()
        await db.wakeups.stop_relay()


async def until_signalled() -> None:
    """Wait for SIGTERM or SIGINT (a `meterbell worker` being stopped)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
