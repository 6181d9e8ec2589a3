"""The dispatcher drains the event outbox: it takes undispatched events oldest first and
marks them actioned, in one transaction per batch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from meterbell.domain.clock import utcnow
from meterbell.store import events as event_store
from meterbell.store.db import Database

BATCH_SIZE = 200


class Dispatcher:
    def __init__(
        self, db: Database, *, batch_size: int = BATCH_SIZE, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.db = db
        self.batch_size = batch_size
        self.now = now

    async def step(self) -> bool:
        """Dispatch one batch; True when the batch was full (more may be waiting)."""
        async with self.db.write() as conn:
            batch = await event_store.undispatched_events(conn, self.batch_size)
            if batch:
                await event_store.mark_actioned(conn, [event.seq for event in batch], self.now())
        return len(batch) == self.batch_size
