"""The backfill worker: works background backfill jobs (services/backfill.py) a chunk at a
time, one transaction per chunk, round robin between jobs, pausing after each chunk for
PAUSE_FACTOR times as long as it took (workers/loop.py `Paced`), so that live dispatch and
delivery keep the event loop and the store most of the time.

A chunk that raises is counted (workers/isolation.py) and tried again at the next step; after
repeated failures its job is set aside: it ends FAILED with the reason, with a dead letter
whose replay lets it go on from where it stopped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.clock import utcnow
from meterbell.domain.deadletters import Worker, WorkItem
from meterbell.services.backfill import CHUNK, Backfiller
from meterbell.store import backfill as backfill_store
from meterbell.store.db import Database
from meterbell.workers.isolation import Isolation
from meterbell.workers.loop import Paced

PAUSE_S = 0.01  # between two chunks: what live work gets of the store at least
PAUSE_FACTOR = 4.0


class BackfillWorker:
    def __init__(
        self,
        db: Database,
        *,
        chunk: int = CHUNK,
        pause_s: float = PAUSE_S,
        now: Callable[[], datetime] = utcnow,
        isolation: Isolation | None = None,
    ) -> None:
        self.db = db
        self.paced = Paced(PAUSE_FACTOR, pause_s) if pause_s else None
        self.now = now
        self.isolation = isolation or Isolation(db, now=now)
        self.backfiller = Backfiller(db, chunk=chunk, now=now)
        self.owner = f"backfill-{uuid.uuid4()}"

    async def step(self) -> bool:
        """Work one chunk of the job due longest; True if there was one."""
        async with self.db.read() as conn:
            due = await backfill_store.due_job_ids(conn, self.now(), 1)
        if not due:
            return False
        org_id, job_id = due[0]
        item = WorkItem(Worker.BACKFILL, org_id, job_id)
        if self.paced:
            self.paced.start()
        await self.isolation.attempt(item, lambda _: self._chunk(org_id, job_id), _set_aside)
        if self.paced:
            await self.paced.rest()
        return True

    async def _chunk(self, org_id: str, job_id: str) -> None:
        await self.backfiller.work_chunk(org_id, job_id, self.owner, hold=False)


async def _set_aside(
    conn: AsyncConnection, item: WorkItem, reason: str, now: datetime
) -> str | None:
    assert item.org_id is not None
    first_line = reason.splitlines()[0] if reason else "failed"
    await backfill_store.set_aside(
        conn, item.org_id, item.item_id, f"Set aside after repeated failures: {first_line}", now
    )
    return None
