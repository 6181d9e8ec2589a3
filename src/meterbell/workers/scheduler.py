"""The scheduler: emits `scheduled.<entity>.<name>` events when their due time comes.

Each step claims unfired targets that are due (`due_at <= now`) and not older than the
retention window, writes one event per target with the entity's current snapshot, and marks
the targets fired, in one transaction. A target fires once: claims are exclusive (SKIP LOCKED
on PostgreSQL, one writer at a time on SQLite) and a fired target is never claimed again, so
several schedulers, restarts and catching up after downtime all emit each event exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from meterbell.domain.catalog import entity_by_name
from meterbell.domain.clock import utcnow
from meterbell.domain.events import related_account_id
from meterbell.domain.scheduled import SCHEDULED_CATEGORY, scheduled_event_payload
from meterbell.store import events as event_store
from meterbell.store import scheduled as target_store
from meterbell.store.db import Database
from meterbell.store.events import EventRow
from meterbell.store.scheduled import DueTarget

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
    ) -> None:
        self.db = db
        self.retention = timedelta(days=retention_days)
        self.batch_size = batch_size
        self.now = now

    async def step(self) -> bool:
        """Fire one batch of due targets; True when the batch was full (more may be due)."""
        now = self.now()
        async with self.db.write() as conn:
            due = await target_store.claim_due(
                conn, now=now, not_before=now - self.retention, limit=self.batch_size
            )
            if not due:
                return False
            await event_store.insert_events(conn, [_scheduled_event(d, now) for d in due])
            await target_store.mark_fired(conn, [d.seq for d in due], now)
        return len(due) == self.batch_size
