"""Queries on export jobs and on when each export schedule is next due.

Claims follow the integration runs' pattern: a job is claimable when `next_attempt_at <= now`
(a pending job is due, or a running job's lease expired because its worker died); claiming
sets RUNNING and pushes `next_attempt_at` to the lease expiry in the same transaction, with
SKIP LOCKED on PostgreSQL so concurrent workers never take the same job. A due schedule is
claimed the same way, and its job is created in the transaction that moves it to its next run.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.exports.jobs import JobStatus
from meterbell.metrics import EXPORT_JOBS
from meterbell.store.db import after_commit, wake_after_commit
from meterbell.store.tables import export_jobs, export_schedule_runs
from meterbell.store.upsert import insert_or_merge
from meterbell.store.wakeups import Wakeup


@dataclass
class JobRow:
    id: str
    org_id: str
    schedule_id: str | None
    source_type: str
    status: JobStatus
    spec: dict[str, Any]
    dt_created: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_owner: str | None = None
    files: list[dict[str, Any]] | None = None
    row_count: int | None = None
    error: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    seq: int = field(default=0, compare=False)


JOB_COLUMNS = tuple(f.name for f in fields(JobRow) if f.name != "seq")


def _job(row: Any) -> JobRow:
    job = JobRow(**{name: getattr(row, name) for name in (*JOB_COLUMNS, "seq")})
    job.status = JobStatus(job.status)
    return job


async def insert_job(conn: AsyncConnection, job: JobRow) -> None:
    await conn.execute(insert(export_jobs), {name: getattr(job, name) for name in JOB_COLUMNS})


async def queue_job(
    conn: AsyncConnection,
    *,
    org_id: str,
    schedule_id: str | None,
    source_type: str,
    spec: dict[str, Any],
    at: datetime,
) -> str:
    """A new PENDING job, due at once; its id."""
    job_id = str(uuid.uuid4())
    await insert_job(
        conn,
        JobRow(
            id=job_id,
            org_id=org_id,
            schedule_id=schedule_id,
            source_type=source_type,
            status=JobStatus.PENDING,
            spec=spec,
            dt_created=at,
            next_attempt_at=at,
        ),
    )
    wake_after_commit(conn, Wakeup.EXPORTS_QUEUED)
    return job_id


async def claim_job(
    conn: AsyncConnection, *, now: datetime, lease_until: datetime, owner: str
) -> JobRow | None:
    """Take the job that has been due longest, for this worker, until `lease_until`."""
    due = (
        select(export_jobs.c.seq)
        .where(export_jobs.c.next_attempt_at <= now)
        .order_by(export_jobs.c.next_attempt_at)
        .limit(1)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    seq = (await conn.execute(due)).scalar()
    if seq is None:
        return None
    row = (
        await conn.execute(
            update(export_jobs)
            .where(export_jobs.c.seq == seq)
            .values(
                status=JobStatus.RUNNING,
                attempts=export_jobs.c.attempts + 1,
                next_attempt_at=lease_until,
                lease_owner=owner,
                started_at=now,
            )
            .returning(*export_jobs.c)
        )
    ).one()
    return _job(row)


async def renew_lease(
    conn: AsyncConnection, job_id: str, owner: str, lease_until: datetime
) -> bool:
    """Keep a running job ours a while longer; False if another worker has taken it over."""
    result = await conn.execute(
        update(export_jobs)
        .where((export_jobs.c.id == job_id) & (export_jobs.c.lease_owner == owner))
        .values(next_attempt_at=lease_until)
    )
    return bool(result.rowcount)


async def finish_job(
    conn: AsyncConnection,
    job: JobRow,
    *,
    status: JobStatus,
    at: datetime,
    files: list[dict[str, Any]] | None = None,
    row_count: int | None = None,
    error: str | None = None,
) -> bool:
    """Record how the job ended, unless its lease went to another worker (then False)."""
    result = await conn.execute(
        update(export_jobs)
        .where((export_jobs.c.id == job.id) & (export_jobs.c.lease_owner == job.lease_owner))
        .values(
            status=status,
            next_attempt_at=None,
            lease_owner=None,
            files=files,
            row_count=row_count,
            error=error,
            completed_at=at,
        )
    )
    if not result.rowcount:
        return False
    after_commit(conn, EXPORT_JOBS.labels(status=status).inc)
    return True


async def requeue_job(
    conn: AsyncConnection, org_id: str, job_id: str, now: datetime, owner: str | None = None
) -> None:
    """Make a job due at once: one whose handling failed (still held by `owner`), or a
    set-aside one replayed (`owner` None: its attempts start again)."""
    held = export_jobs.c.lease_owner == owner
    values: dict[str, Any] = {
        "status": JobStatus.PENDING,
        "next_attempt_at": now,
        "lease_owner": None,
    }
    if owner is None:
        held = export_jobs.c.status == JobStatus.FAILED
        values |= {"attempts": 0, "error": None, "completed_at": None}
    await conn.execute(
        update(export_jobs)
        .where((export_jobs.c.org_id == org_id) & (export_jobs.c.id == job_id) & held)
        .values(values)
    )
    wake_after_commit(conn, Wakeup.EXPORTS_QUEUED)


async def set_job_aside(
    conn: AsyncConnection, org_id: str, job_id: str, error: str, now: datetime
) -> None:
    """End a job that kept failing FAILED, whoever holds it."""
    await conn.execute(
        update(export_jobs)
        .where((export_jobs.c.org_id == org_id) & (export_jobs.c.id == job_id))
        .values(
            status=JobStatus.FAILED,
            next_attempt_at=None,
            lease_owner=None,
            error=error,
            completed_at=now,
        )
    )


async def release_jobs(conn: AsyncConnection, owner: str, now: datetime) -> None:
    """A worker shutting down hands its running jobs back, due at once."""
    await conn.execute(
        update(export_jobs)
        .where((export_jobs.c.lease_owner == owner) & (export_jobs.c.status == JobStatus.RUNNING))
        .values(
            status=JobStatus.PENDING,
            next_attempt_at=now,
            lease_owner=None,
            attempts=export_jobs.c.attempts - 1,
        )
    )
    wake_after_commit(conn, Wakeup.EXPORTS_QUEUED)


async def get_job(conn: AsyncConnection, org_id: str, job_id: str) -> JobRow | None:
    row = (
        await conn.execute(
            select(export_jobs).where(
                (export_jobs.c.org_id == org_id) & (export_jobs.c.id == job_id)
            )
        )
    ).first()
    return _job(row) if row else None


@dataclass(frozen=True)
class JobQuery:
    """Filters of `GET dataexports/jobs`; None means "not filtered on"."""

    ids: tuple[str, ...] = ()
    schedule_id: str | None = None
    status: JobStatus | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None


def _job_conditions(org_id: str, query: JobQuery) -> list[ColumnElement[bool]]:
    jobs = export_jobs.c
    conditions = [jobs.org_id == org_id]
    if query.ids:
        conditions.append(jobs.id.in_(query.ids))
    if query.schedule_id is not None:
        conditions.append(jobs.schedule_id == query.schedule_id)
    if query.status is not None:
        conditions.append(jobs.status == query.status)
    if query.created_from is not None:
        conditions.append(jobs.dt_created >= query.created_from)
    if query.created_before is not None:
        conditions.append(jobs.dt_created < query.created_before)
    return conditions


async def list_jobs(
    conn: AsyncConnection, org_id: str, query: JobQuery, *, before_seq: int | None, limit: int
) -> list[JobRow]:
    statement = select(export_jobs).where(*_job_conditions(org_id, query))
    if before_seq is not None:
        statement = statement.where(export_jobs.c.seq < before_seq)
    rows = await conn.execute(statement.order_by(export_jobs.c.seq.desc()).limit(limit))
    return [_job(row) for row in rows]


async def delete_jobs_before(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` finished jobs created before `cutoff`."""
    doomed = select(export_jobs.c.seq).where(
        (export_jobs.c.dt_created < cutoff) & export_jobs.c.next_attempt_at.is_(None)
    )
    result = await conn.execute(
        delete(export_jobs).where(export_jobs.c.seq.in_(doomed.limit(limit).scalar_subquery()))
    )
    return int(result.rowcount)


# Schedules


async def set_next_run(
    conn: AsyncConnection, org_id: str, schedule_id: str, next_run_at: datetime
) -> None:
    await conn.execute(
        insert_or_merge(conn, export_schedule_runs)
        .values(schedule_id=schedule_id, org_id=org_id, next_run_at=next_run_at)
        .on_conflict_do_update(
            index_elements=[export_schedule_runs.c.schedule_id],
            set_={"next_run_at": next_run_at},
        )
    )


async def forget_schedule(conn: AsyncConnection, schedule_id: str) -> None:
    await conn.execute(
        delete(export_schedule_runs).where(export_schedule_runs.c.schedule_id == schedule_id)
    )


@dataclass(frozen=True)
class DueSchedule:
    org_id: str
    schedule_id: str
    due_at: datetime


async def claim_due_schedules(
    conn: AsyncConnection, now: datetime, limit: int, schedule_id: str | None = None
) -> list[DueSchedule]:
    """Schedules due by `now` (or the one with `schedule_id`, if due), locked until the
    caller's transaction moves them on."""
    statement = (
        select(export_schedule_runs)
        .where(export_schedule_runs.c.next_run_at <= now)
        .order_by(export_schedule_runs.c.next_run_at)
        .limit(limit)
    )
    if schedule_id is not None:
        statement = statement.where(export_schedule_runs.c.schedule_id == schedule_id)
    if conn.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return [
        DueSchedule(row.org_id, row.schedule_id, row.next_run_at)
        for row in await conn.execute(statement)
    ]


async def next_runs(conn: AsyncConnection, schedule_ids: Sequence[str]) -> dict[str, datetime]:
    rows = await conn.execute(
        select(export_schedule_runs.c.schedule_id, export_schedule_runs.c.next_run_at).where(
            export_schedule_runs.c.schedule_id.in_(list(schedule_ids))
        )
    )
    return {row.schedule_id: row.next_run_at for row in rows}
