"""Retention: events, finished integration runs (with their attempt logs), rule evaluation
errors, scheduled-event targets, failed measurements, finished export jobs and dead letters that
stopped mattering, older than the retention period, are deleted, a batch at a time; so are
measurement uids older than the 35-day duplicate window, and console sessions once expired.

Each kind of record is purged in its own transaction (workers/isolation.py): a purge that
raises holds back no other, and one that keeps failing is set aside (skipped) until replayed.

While it catches up (a million expired events after a restart, say), it pauses after each round
of batches for PAUSE_FACTOR times as long as the round held the store's writer, and each
round purges only the kinds still behind: live writes get the (SQLite) writer most of the
time. Each kind's batch size adapts so that one batch holds the writer about BATCH_TARGET_S:
a live write waits at most that long behind it. Embedded, a batch's statements run off the
event loop's thread (`Database.write(off_loop=True)`), which serves reads, requests and
deliveries meanwhile."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.cancelling import uninterrupted
from meterbell.domain.clock import utcnow
from meterbell.domain.deadletters import Worker, WorkItem
from meterbell.domain.measurements import UID_WINDOW
from meterbell.store import console_users as console_user_store
from meterbell.store import deadletters as dead_letter_store
from meterbell.store import events as event_store
from meterbell.store import exports as export_store
from meterbell.store import ingest as ingest_store
from meterbell.store import runs as run_store
from meterbell.store import scheduled as target_store
from meterbell.store.db import Database
from meterbell.workers.isolation import Isolation
from meterbell.workers.loop import Paced

log = structlog.get_logger(__name__)
BATCH_SIZE = 100
MAX_BATCH_SIZE = 2000
BATCH_TARGET_S = 0.003
PAUSE_FACTOR = 4.0
# Targets are kept a day longer than events. The scheduler never fires a target older than the
# retention period, so a fired target forgotten here (and added back by a later write of its
# entity) stays unfired, even when processes' clocks differ a little.
TARGET_GRACE = timedelta(days=1)

# Deletes up to `limit` records older than the cutoff; how many went.
Purge = Callable[[AsyncConnection, datetime, int], Awaitable[int]]
PURGES: dict[str, Purge] = {
    "events": event_store.delete_events_before,
    "runs": run_store.delete_runs_before,
    "rule_errors": event_store.delete_rule_errors_before,
    "failed_measurements": ingest_store.delete_failures_before,
    "export_jobs": export_store.delete_jobs_before,
    "dead_letters": dead_letter_store.delete_dead_letters_before,
    "scheduled_targets": target_store.delete_targets_due_before,
    "measurement_uids": ingest_store.delete_uids_before,
    "console_sessions": console_user_store.delete_sessions_expired_before,
}


@dataclass
class BatchSize:
    """How many records one purge deletes: halved when a batch took longer than
    BATCH_TARGET_S, doubled (up to MAX_BATCH_SIZE) when a full one took under half of it."""

    size: int

    def adjust(self, took_s: float, full: bool) -> None:
        if took_s > BATCH_TARGET_S:
            self.size = max(1, self.size // 2)
        elif full and took_s < BATCH_TARGET_S / 2:
            self.size = min(MAX_BATCH_SIZE, self.size * 2)


class Retention:
    def __init__(
        self,
        db: Database,
        *,
        retention_days: int,
        batch_size: int = BATCH_SIZE,
        now: Callable[[], datetime] = utcnow,
        isolation: Isolation | None = None,
        purges: dict[str, Purge] = PURGES,
    ) -> None:
        self.db = db
        self.retention = timedelta(days=retention_days)
        self.batch_sizes = {name: BatchSize(batch_size) for name in purges}
        self._behind: set[str] = set()  # kinds whose last batch was full
        self.now = now
        self.isolation = isolation or Isolation(db, now=now)
        self.purges = purges
        self.paced = Paced(PAUSE_FACTOR)

    def _cutoff(self, name: str) -> datetime:
        now = self.now()
        if name == "measurement_uids":
            return now - UID_WINDOW
        if name == "console_sessions":
            return now
        if name == "scheduled_targets":
            return now - self.retention - TARGET_GRACE
        return now - self.retention

    async def step(self) -> bool:
        async with self.db.read() as conn:
            skipped = await dead_letter_store.set_aside_items(conn, Worker.RETENTION)
        deleted: dict[str, int] = {}
        behind: set[str] = set()
        self.paced.start()
        for name in [name for name in self._behind or self.purges if name not in skipped]:
            item = WorkItem(Worker.RETENTION, None, name)
            await self.isolation.attempt(item, self._purge_into(deleted, behind), _set_aside)
        if any(deleted.values()):
            log.info("expired records deleted", **deleted)
        self._behind = behind
        if behind:
            await self.paced.rest()
        return bool(behind)

    def _purge_into(
        self, deleted: dict[str, int], behind: set[str]
    ) -> Callable[[WorkItem], Awaitable[None]]:
        async def purge(item: WorkItem) -> None:
            name = item.item_id
            batch = self.batch_sizes[name]
            limit = batch.size
            started = time.perf_counter()
            # Its statements run on a thread: a cancellation mid-way would leave the
            # transaction to SQLAlchemy's pending rollback. It is let finish instead.
            deleted[name] = await uninterrupted(self._purge_batch(name, limit))
            batch.adjust(time.perf_counter() - started, full=deleted[name] == limit)
            if deleted[name] == limit:
                behind.add(name)

        return purge

    async def _purge_batch(self, name: str, limit: int) -> int:
        async with self.db.write(off_loop=True) as conn:
            return await self.purges[name](conn, self._cutoff(name), limit)


async def _set_aside(
    conn: AsyncConnection, item: WorkItem, reason: str, now: datetime
) -> str | None:
    """A purge that keeps failing is skipped while its dead letter is not replayed."""
    return None
