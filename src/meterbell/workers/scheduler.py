"""The scheduler: emits `scheduled.<entity>.<name>` events when their due time comes.

Each step claims unfired targets that are due (`due_at <= now`) and not older than the
retention window, writes one event per target with the entity's current snapshot, and marks
the targets fired, in one transaction. A target fires once: claims are exclusive (SKIP LOCKED
on PostgreSQL, one writer at a time on SQLite) and a fired target is never claimed again, so
several schedulers, restarts and catching up after downtime all emit each event exactly once.
A batch that raises is fired again one target at a time (workers/isolation.py): a target that
keeps failing is set aside (marked fired, with a dead letter) and the others fire.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.catalog import entity_by_name
from meterbell.domain.clock import utcnow
from meterbell.domain.deadletters import Worker, WorkItem
from meterbell.domain.events import related_account_id
from meterbell.domain.scheduled import SCHEDULED_CATEGORY, scheduled_event_payload
from meterbell.store import events as event_store
from meterbell.store import scheduled as target_store
from meterbell.store.db import Database
from meterbell.store.events import EventRow
from meterbell.store.scheduled import DueTarget
from meterbell.workers.isolation import Isolation

BATCH_SIZE = 200
RETENTION_DAYS = 28  # as m3ter; the workers pass MB_EVENT_RETENTION_DAYS


def _scheduled_event(due: DueTarget, now: datetime) -> EventRow:
    target = due.target
    return EventRow(
        id=str(uuid.uuid4()),
        org_id=target.org_id,
        event_name=str(due.configuration["name"]),
        category=SCHEDULED_CATEGORY,
        event_time=now,
        m3ter_event=scheduled_event_payload(
            target.org_id, due.configuration, due.entity, target.due_at
        ),
        resource_id=target.entity_id,
        account_id=related_account_id(entity_by_name(target.entity_type), due.entity),
    )


class Scheduler:
    def __init__(
        self,
        db: Database,
        *,
        retention_days: int = RETENTION_DAYS,
        batch_size: int = BATCH_SIZE,
        now: Callable[[], datetime] = utcnow,
        isolation: Isolation | None = None,
    ) -> None:
        self.db = db
        self.retention = timedelta(days=retention_days)
        self.batch_size = batch_size
        self.now = now
        self.isolation = isolation or Isolation(db, now=now)

    async def step(self) -> bool:
        """Fire one batch of due targets; True when the batch was full (more may be due)."""
        return await self.isolation.step(self._fire_batch, self._fire_alone, _set_aside)

    async def _fire_batch(self, taken: list[WorkItem]) -> bool:
        return await self._fire(taken, limit=self.batch_size) == self.batch_size

    async def _fire_alone(self, item: WorkItem) -> None:
        await self._fire([], limit=1, seq=int(item.item_id))

    async def _fire(self, taken: list[WorkItem], *, limit: int, seq: int | None = None) -> int:
        """Fire the due targets (or the one at `seq`, if due); how many there were."""
        now = self.now()
        async with self.db.write() as conn:
            due = await target_store.claim_due(
                conn, now=now, not_before=now - self.retention, limit=limit, seq=seq
            )
            taken.extend(WorkItem(Worker.SCHEDULER, d.target.org_id, str(d.seq)) for d in due)
            if not due:
                return 0
            await event_store.insert_events(conn, [_scheduled_event(d, now) for d in due])
            await target_store.mark_fired(conn, [d.seq for d in due], now)
        return len(due)


async def _set_aside(
    conn: AsyncConnection, item: WorkItem, reason: str, now: datetime
) -> str | None:
    """A target that keeps failing is marked fired: no event is emitted for it until replayed."""
    await target_store.mark_fired(conn, [int(item.item_id)], now)
    return None
