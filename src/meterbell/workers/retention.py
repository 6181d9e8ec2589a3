"""Retention: events, finished integration runs (with their attempt logs) and rule evaluation
errors older than the retention period are deleted, a batch at a time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from meterbell.domain.clock import utcnow
from meterbell.store import events as event_store
from meterbell.store import runs as run_store
from meterbell.store.db import Database

log = structlog.get_logger(__name__)
BATCH_SIZE = 1000


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
        if events or runs or errors:
            log.info("expired records deleted", events=events, runs=runs, rule_errors=errors)
        return self.batch_size in (events, runs, errors)
