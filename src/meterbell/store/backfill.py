"""Queries of backfills: their jobs, the events they read, and the firings they made."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.backfill import BackfillStatus
from meterbell.store.events import EventRow, event_from_row
from meterbell.store.tables import backfill_jobs, backfilled, events
from meterbell.store.upsert import insert_or_merge


@dataclass
class BackfillJob:
    id: str
    org_id: str
    rule_id: str
    rule_version: int
    since: datetime
    until: datetime
    dry_run: bool
    status: BackfillStatus
    dt_created: datetime
    evaluated: int = 0
    matched: int = 0
    created: int = 0
    already_backfilled: int = 0
    failed: int = 0
    event_ids: list[str] = field(default_factory=list)
    cursor_time: datetime | None = None
    cursor_seq: int | None = None
    next_attempt_at: datetime | None = None
    lease_owner: str | None = None
    error: str | None = None
    dt_completed: datetime | None = None
    seq: int = field(default=0, compare=False)


JOB_COLUMNS = tuple(f.name for f in fields(BackfillJob) if f.name != "seq")


def _job(row: Any) -> BackfillJob:
    job = BackfillJob(**{name: getattr(row, name) for name in (*JOB_COLUMNS, "seq")})
    job.event_ids = list(job.event_ids)
    job.status = BackfillStatus(job.status)
    return job


async def insert_job(conn: AsyncConnection, job: BackfillJob) -> None:
    await conn.execute(insert(backfill_jobs), {n: getattr(job, n) for n in JOB_COLUMNS})


async def save_progress(conn: AsyncConnection, job: BackfillJob) -> None:
    """Write the job's counts, cursor, status and lease as they are now."""
    progress = {n: getattr(job, n) for n in JOB_COLUMNS if n not in ("id", "org_id")}
    await conn.execute(update(backfill_jobs).where(backfill_jobs.c.id == job.id).values(progress))


async def get_job(conn: AsyncConnection, org_id: str, job_id: str) -> BackfillJob | None:
    row = (
        await conn.execute(
            select(backfill_jobs).where(
                (backfill_jobs.c.org_id == org_id) & (backfill_jobs.c.id == job_id)
            )
        )
    ).first()
    return _job(row) if row else None


async def list_jobs(
    conn: AsyncConnection, org_id: str, rule_id: str, *, before_seq: int | None, limit: int
) -> list[BackfillJob]:
    """A rule's backfills, newest first, continuing below `before_seq`."""
    statement = select(backfill_jobs).where(
        (backfill_jobs.c.org_id == org_id) & (backfill_jobs.c.rule_id == rule_id)
    )
    if before_seq is not None:
        statement = statement.where(backfill_jobs.c.seq < before_seq)
    rows = await conn.execute(statement.order_by(backfill_jobs.c.seq.desc()).limit(limit))
    return [_job(row) for row in rows]


async def due_job_ids(conn: AsyncConnection, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(org id, job id) of jobs whose next chunk is due, longest waiting first."""
    rows = await conn.execute(
        select(backfill_jobs.c.org_id, backfill_jobs.c.id)
        .where(backfill_jobs.c.next_attempt_at <= now)
        .order_by(backfill_jobs.c.next_attempt_at)
        .limit(limit)
    )
    return [(row.org_id, row.id) for row in rows]


async def take_job(
    conn: AsyncConnection, org_id: str, job_id: str, owner: str, now: datetime
) -> BackfillJob | None:
    """The job, locked for this transaction, if `owner` may work its next chunk: its lease is
    `owner`'s, or it is due. None when it ended, is not due, or another worker holds it now
    (SKIP LOCKED on PostgreSQL: two workers never work the same chunk)."""
    c = backfill_jobs.c
    statement = select(backfill_jobs).where(
        c.org_id == org_id,
        c.id == job_id,
        c.next_attempt_at.is_not(None),
        or_(c.lease_owner == owner, c.next_attempt_at <= now),
    )
    if conn.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    row = (await conn.execute(statement)).first()
    return _job(row) if row else None


def _window_events(job: BackfillJob, event_name: str) -> Any:
    c = events.c
    statement = select(events).where(
        c.event_time >= job.since,
        c.event_time < job.until,
        c.org_id == job.org_id,
        c.event_name == event_name,
        c.dispatched_at.is_not(None),  # events not dispatched yet are live dispatch's
        c.notification_id.is_(None),  # a Notification event carries its trigger's name
    )
    if job.cursor_time is not None and job.cursor_seq is not None:
        statement = statement.where(
            or_(
                c.event_time > job.cursor_time,
                and_(c.event_time == job.cursor_time, c.seq > job.cursor_seq),
            )
        )
    return statement


async def next_events(
    conn: AsyncConnection, job: BackfillJob, event_name: str, limit: int
) -> list[EventRow]:
    """The next `limit` events of the job's window after its cursor, oldest first: dispatched
    events of the rule's type that are not themselves Notification events (which are never
    dispatched, so live rules never see them either)."""
    statement = _window_events(job, event_name).order_by(events.c.event_time, events.c.seq)
    return [event_from_row(row) for row in await conn.execute(statement.limit(limit))]


async def count_events(conn: AsyncConnection, job: BackfillJob, event_name: str, limit: int) -> int:
    """How many events the job's window holds, counting to `limit` at most."""
    capped = _window_events(job, event_name).with_only_columns(events.c.seq).limit(limit)
    return int(
        (await conn.execute(select(func.count()).select_from(capped.subquery()))).scalar_one()
    )


async def mark_backfilled(
    conn: AsyncConnection,
    job: BackfillJob,
    event_ids: Collection[str],
    now: datetime,
) -> set[str]:
    """Record that the job's rule version fired on these events, unless it already did;
    the ids recorded now (the others were backfilled before)."""
    if not event_ids:
        return set()
    rows = [
        {
            "rule_id": job.rule_id,
            "rule_version": job.rule_version,
            "event_id": event_id,
            "org_id": job.org_id,
            "job_id": job.id,
            "dt_created": now,
        }
        for event_id in event_ids
    ]
    statement = (
        insert_or_merge(conn, backfilled)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(backfilled.c.event_id)
    )
    return {row.event_id for row in await conn.execute(statement)}


async def hand_over(
    conn: AsyncConnection, org_id: str, job_id: str, owner: str, now: datetime
) -> None:
    """Give a job `owner` holds to the backfill worker: due at once."""
    await conn.execute(
        update(backfill_jobs)
        .where(
            (backfill_jobs.c.org_id == org_id)
            & (backfill_jobs.c.id == job_id)
            & (backfill_jobs.c.lease_owner == owner)
            & backfill_jobs.c.next_attempt_at.is_not(None)
        )
        .values(next_attempt_at=now, lease_owner=None)
    )


async def set_aside(
    conn: AsyncConnection, org_id: str, job_id: str, error: str, now: datetime
) -> None:
    """A job whose chunk kept failing ends FAILED with the reason."""
    await conn.execute(
        update(backfill_jobs)
        .where((backfill_jobs.c.org_id == org_id) & (backfill_jobs.c.id == job_id))
        .values(
            status=BackfillStatus.FAILED,
            error=error,
            next_attempt_at=None,
            lease_owner=None,
            dt_completed=now,
        )
    )


async def requeue(conn: AsyncConnection, org_id: str, job_id: str, now: datetime) -> None:
    """A set-aside job goes on from its cursor (a dead letter's replay)."""
    await conn.execute(
        update(backfill_jobs)
        .where((backfill_jobs.c.org_id == org_id) & (backfill_jobs.c.id == job_id))
        .values(
            status=BackfillStatus.RUNNING,
            error=None,
            next_attempt_at=now,
            lease_owner=None,
            dt_completed=None,
        )
    )
