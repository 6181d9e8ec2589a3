"""Retention: events, finished integration runs (with their attempt logs), rule evaluation
errors, scheduled-event targets, failed measurements and finished export jobs older than the
retention period are
deleted, a batch at a time; so are measurement uids older than the 35-day duplicate window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from meterbell.domain.clock import utcnow
from meterbell.domain.measurements import UID_WINDOW
from meterbell.store import events as event_store
from meterbell.store import exports as export_store
from meterbell.store import ingest as ingest_store
from meterbell.store import runs as run_store
from meterbell.store import scheduled as target_store
from meterbell.store.db import Database

log = structlog.get_logger(__name__)
BATCH_SIZE = 1000
# Targets are kept a day longer than events. The scheduler never fires a target older than the
# retention period, so a fired target forgotten here (and added back by a later write of its
# entity) stays unfired, even when processes' clocks differ a little.
TARGET_GRACE = timedelta(days=1)


class Retention:
    def __init__(
        self,
        db: Database,
        *,
        retention_days: int,
        batch_size: int = BATCH_SIZE,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.retention = timedelta(days=retention_days)
        self.batch_size = batch_size
        self.now = now

    async def step(self) -> bool:
        cutoff = self.now() - self.retention
        async with self.db.write() as conn:
            events = await event_store.delete_events_before(conn, cutoff, self.batch_size)
            runs = await run_store.delete_runs_before(conn, cutoff, self.batch_size)
            errors = await event_store.delete_rule_errors_before(conn, cutoff, self.batch_size)
            targets = await target_store.delete_targets_due_before(
                conn, cutoff - TARGET_GRACE, self.batch_size
            )
            failures = await ingest_store.delete_failures_before(conn, cutoff, self.batch_size)
            uids = await ingest_store.delete_uids_before(
                conn, self.now() - UID_WINDOW, self.batch_size
            )
            jobs = await export_store.delete_jobs_before(conn, cutoff, self.batch_size)
        if events or runs or errors or targets or failures or uids or jobs:
            log.info(
                "expired records deleted",
                events=events,
                runs=runs,
                rule_errors=errors,
                scheduled_targets=targets,
                failed_measurements=failures,
                measurement_uids=uids,
                export_jobs=jobs,
            )
        return self.batch_size in (events, runs, errors, targets, failures, uids, jobs)
