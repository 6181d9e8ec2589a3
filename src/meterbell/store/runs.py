"""Queries on integration runs, their attempt logs, and integration health counters.

A run is claimable when `next_attempt_at <= now`: a waiting run is due, or a started run's
lease has expired (its worker died). Claiming sets status STARTED and pushes
`next_attempt_at` to the lease expiry, in one statement per batch. Runs of ordered or
rate-limited destinations follow their lane's rules as well (store/lanes.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.clock import as_utc
from meterbell.domain.integrations import NOTIFICATION_ENTITY, RunStatus
from meterbell.store import lanes as lane_store
from meterbell.store.db import wake_after_commit
from meterbell.store.tables import events, integration_health, integration_runs, run_attempts
from meterbell.store.upsert import insert_or_merge
from meterbell.store.wakeups import Wakeup


@dataclass
class RunRow:
    id: str
    org_id: str
    config_id: str
    entity_type: str
    entity_id: str
    destination: str
    destination_id: str
    event_id: str
    status: RunStatus
    body: str
    dt_created: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_owner: str | None = None
    parent_run_id: str | None = None
    url: str | None = None
    error: str | None = None
    dt_started: datetime | None = None
    dt_completed: datetime | None = None
    backfill: bool | None = None  # a backfill's run (services/backfill.py); NULL otherwise
    external_id: str | None = None  # a Bill run's invoice in the accounts-receivable system
    lane: str | None = None  # an ordered destination's id (store/lanes.py)
    event_seq: int | None = None  # the seq of the event the run carries
    start_slot: datetime | None = None  # its start under the destination's rate limit
    seq: int = field(default=0, compare=False)
    # When the run's event was written: not a column of its own, known where runs are made
    # and claimed, for meterbell_delivery_seconds.
    event_time: datetime | None = field(default=None, compare=False)

    def log_ids(self) -> dict[str, Any]:
        """The ids every log line about the run, and the attempt it is at, carries."""
        entity = "ruleId" if self.entity_type == NOTIFICATION_ENTITY else "entityId"
        return {
            "orgId": self.org_id,
            "eventId": self.event_id,
            entity: self.entity_id,
            "runId": self.id,
            "attempt": self.attempts + 1,
        }


RUN_COLUMNS = tuple(f.name for f in fields(RunRow) if f.name not in ("seq", "event_time"))
_EVENT_TIME = (
    select(events.c.event_time)
    .where(events.c.id == integration_runs.c.event_id)
    .scalar_subquery()
    .label("event_time")
)


def _from_row(row: Any, event_time: datetime | None = None) -> RunRow:
    run = RunRow(**{name: getattr(row, name) for name in (*RUN_COLUMNS, "seq")})
    run.status = RunStatus(run.status)
    run.event_time = event_time
    return run


async def insert_runs(conn: AsyncConnection, runs: Sequence[RunRow]) -> None:
    if runs:
        rows = [{name: getattr(run, name) for name in RUN_COLUMNS} for run in runs]
        await conn.execute(insert(integration_runs), rows)
    if any(run.status == RunStatus.WAITING for run in runs):
        wake_after_commit(conn, Wakeup.RUNS_DUE)


@dataclass(frozen=True)
class Claimed:
    """What a claim took: the runs to send now, and when the runs it found due but had to
    hold back for their destination's rate limit may go."""

    runs: list[RunRow]
    held_until: list[datetime]


async def claim_due(
    conn: AsyncConnection,
    *,
    now: datetime,
    lease_until: datetime,
    owner: str,
    limit: int,
    skip_destinations: Collection[str] = (),
) -> Claimed:
    """Take up to `limit` due runs for this worker: the heads of ordered lanes (at most one
    a lane, so a backlog elsewhere never starves them), then runs of no lane, oldest due
    first."""
    runs = integration_runs.c
    seqs = await lane_store.due_heads(conn, now, limit, skip_destinations)
    due = (
        select(runs.seq)
        .where((runs.next_attempt_at <= now) & runs.lane.is_(None))
        .order_by(runs.next_attempt_at)
        .limit(limit - len(seqs))
    )
    if skip_destinations:
        due = due.where(runs.destination_id.not_in(list(skip_destinations)))
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    if len(seqs) < limit:
        seqs += [row.seq for row in await conn.execute(due)]
    if not seqs:
        return Claimed([], [])
    rows = await conn.execute(
        update(integration_runs)
        .where(runs.seq.in_(seqs))
        .values(status=RunStatus.STARTED, next_attempt_at=lease_until, lease_owner=owner)
        .returning(*integration_runs.c, _EVENT_TIME)
    )
    claimed = sorted((_from_row(row, row.event_time) for row in rows), key=lambda r: r.seq)
    return await _within_rate_limits(conn, claimed, now)


_HOLD_FOR_RATE_LIMIT = (
    update(integration_runs)
    .where(integration_runs.c.seq == bindparam("run_seq"))
    .values(
        status=RunStatus.RATE_LIMIT_RETRY,
        next_attempt_at=bindparam("slot"),
        start_slot=bindparam("slot"),
        lease_owner=None,
    )
)


async def _within_rate_limits(
    conn: AsyncConnection, claimed: list[RunRow], now: datetime
) -> Claimed:
    """Keep the claimed runs whose destinations' rate limits let them start now; hand the
    others back, each due at (and holding) the next free slot of its destination."""
    limits = await lane_store.rate_limits(conn, {run.destination_id for run in claimed})
    if not limits:
        return Claimed(claimed, [])
    go: list[RunRow] = []
    held: list[tuple[RunRow, datetime]] = []
    for run in claimed:
        limit = limits.get(run.destination_id)
        holds_its_slot = run.start_slot is not None and as_utc(run.start_slot) <= now
        slot = now if limit is None or holds_its_slot else limit.take_slot(now)
        if slot <= now:
            go.append(run)
        else:
            held.append((run, slot))
    await lane_store.save_next_starts(conn, limits)
    if held:
        await conn.execute(
            _HOLD_FOR_RATE_LIMIT, [{"run_seq": run.seq, "slot": slot} for run, slot in held]
        )
    return Claimed(go, [slot for _, slot in held])


@dataclass(frozen=True)
class FinishedAttempt:
    """One attempt of a run, and where the run goes next; for a Bill run that made an
    invoice, its id and URL in the accounts-receivable system (the run's `url` then)."""

    run: RunRow
    status: RunStatus
    next_attempt_at: datetime | None
    error: str | None
    log: dict[str, Any]
    external_id: str | None = None
    external_url: str | None = None


# Built once: the deliverer records every attempt through these two statements.
_FINISH_RUN = (
    update(integration_runs)
    .where(
        (integration_runs.c.id == bindparam("run_id"))
        & (integration_runs.c.lease_owner == bindparam("owner"))
    )
    .values(
        status=bindparam("new_status"),
        attempts=integration_runs.c.attempts + 1,
        next_attempt_at=bindparam("due"),
        lease_owner=None,
        error=bindparam("new_error"),
        url=bindparam("new_url"),
        external_id=bindparam("new_external_id"),
        dt_started=bindparam("started"),
        dt_completed=bindparam("completed"),
        start_slot=None,
    )
)


async def finish_attempts(
    conn: AsyncConnection, attempts: Sequence[FinishedAttempt], at: datetime
) -> None:
    """Record attempts and move their runs on, unless another worker has taken a run over
    (its lease expired): then only the attempt's log is kept."""
    if not attempts:
        return
    await conn.execute(
        insert(run_attempts),
        [{"run_id": a.run.id, "attempt": a.run.attempts + 1, "log": a.log} for a in attempts],
    )
    await conn.execute(
        _FINISH_RUN,
        [
            {
                "run_id": a.run.id,
                "owner": a.run.lease_owner,
                "new_status": a.status,
                "due": a.next_attempt_at,
                "new_error": a.error,
                "new_url": a.external_url if a.external_id else a.log.get("url"),
                "new_external_id": a.external_id,
                "started": a.run.dt_started or at,
                "completed": at if a.next_attempt_at is None else None,
            }
            for a in attempts
        ],
    )
    if any(a.run.lane is not None and a.next_attempt_at is None for a in attempts):
        wake_after_commit(conn, Wakeup.RUNS_DUE)  # the next run of an ordered lane may go


async def settle_without_attempt(
    conn: AsyncConnection, run: RunRow, *, status: RunStatus, error: str, at: datetime
) -> None:
    """Close a run without recording an attempt (its integration or destination is gone or
    off, or its attempt could not be recorded), unless another worker has taken it over."""
    await conn.execute(
        update(integration_runs)
        .where(
            (integration_runs.c.id == run.id) & (integration_runs.c.lease_owner == run.lease_owner)
        )
        .values(status=status, next_attempt_at=None, lease_owner=None, error=error, dt_completed=at)
    )
    if run.lane is not None:
        wake_after_commit(conn, Wakeup.RUNS_DUE)


async def send_again(conn: AsyncConnection, org_id: str, run_id: str, now: datetime) -> None:
    """Put a set-aside run back: due at once, its attempts counted from zero again."""
    await conn.execute(
        update(integration_runs)
        .where(
            (integration_runs.c.org_id == org_id)
            & (integration_runs.c.id == run_id)
            & integration_runs.c.next_attempt_at.is_(None)
        )
        .values(
            status=RunStatus.WAITING,
            attempts=0,
            next_attempt_at=now,
            lease_owner=None,
            error=None,
            dt_completed=None,
        )
    )
    wake_after_commit(conn, Wakeup.RUNS_DUE)


async def unfinished_by_status(conn: AsyncConnection) -> dict[RunStatus, int]:
    """How many runs of every organization are not finished, by status."""
    counts: dict[RunStatus, int] = {}
    runs = integration_runs.c
    # Laned runs and the others apart: each half has its own partial index.
    for unfinished in (runs.lane.is_(None), runs.lane.is_not(None)):
        rows = await conn.execute(
            select(runs.status, func.count())
            .where(runs.next_attempt_at.is_not(None) & unfinished)
            .group_by(runs.status)
        )
        for status, count in rows:
            counts[RunStatus(status)] = counts.get(RunStatus(status), 0) + int(count)
    return counts


async def get_run(conn: AsyncConnection, org_id: str, run_id: str) -> RunRow | None:
    row = (
        await conn.execute(
            select(integration_runs).where(
                (integration_runs.c.org_id == org_id) & (integration_runs.c.id == run_id)
            )
        )
    ).first()
    return _from_row(row) if row else None


@dataclass(frozen=True)
class RunQuery:
    entity_type: str | None = None
    entity_ids: tuple[str, ...] | None = None
    destination_id: str | None = None
    status: RunStatus | None = None
    start: datetime | None = None
    end: datetime | None = None
    oldest_first: bool = False


def _run_conditions(org_id: str, query: RunQuery) -> list[ColumnElement[bool]]:
    runs = integration_runs.c
    conditions = [runs.org_id == org_id]
    for column, value in (
        (runs.entity_type, query.entity_type),
        (runs.destination_id, query.destination_id),
        (runs.status, query.status),
    ):
        if value is not None:
            conditions.append(column == value)
    if query.entity_ids is not None:
        conditions.append(runs.entity_id.in_(query.entity_ids))
    if query.start is not None:
        conditions.append(runs.dt_created >= query.start)
    if query.end is not None:
        conditions.append(runs.dt_created < query.end)
    return conditions


async def list_runs(
    conn: AsyncConnection, org_id: str, query: RunQuery, *, after_seq: int | None, limit: int
) -> list[RunRow]:
    """Runs in creation order (newest first unless `query.oldest_first`), continuing after
    the run at `after_seq` in that order."""
    seq = integration_runs.c.seq
    statement = select(integration_runs).where(*_run_conditions(org_id, query))
    if after_seq is not None:
        statement = statement.where(seq > after_seq if query.oldest_first else seq < after_seq)
    order = seq.asc() if query.oldest_first else seq.desc()
    rows = await conn.execute(statement.order_by(order).limit(limit))
    return [_from_row(row) for row in rows]


async def unrecovered_runs(
    conn: AsyncConnection,
    org_id: str,
    destination_id: str,
    statuses: Collection[RunStatus],
    ended: tuple[datetime, datetime],
    limit: int,
) -> list[RunRow]:
    """Up to `limit` runs to the destination that ended in one of `statuses` within `ended`
    (from, until), oldest first, and were never sent again (no run points back at them)."""
    runs, again = integration_runs.c, integration_runs.alias("again").c
    rows = await conn.execute(
        select(integration_runs)
        .where(
            runs.org_id == org_id,
            runs.destination_id == destination_id,
            runs.status.in_(statuses),
            runs.dt_completed >= ended[0],
            runs.dt_completed < ended[1],
            ~exists().where(again.parent_run_id == runs.id),
        )
        .order_by(runs.seq)
        .limit(limit)
    )
    return [_from_row(row) for row in rows]


async def attempt_logs(conn: AsyncConnection, run_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(run_attempts.c.log)
        .where(run_attempts.c.run_id == run_id)
        .order_by(run_attempts.c.attempt, run_attempts.c.seq)
    )
    return [dict(row.log) for row in rows]


@dataclass(frozen=True)
class AttemptFact:
    """When an attempt was made, how long it took, and whether it succeeded."""

    at: str
    duration_ms: float
    succeeded: bool


async def attempts_of_runs_open_since(
    conn: AsyncConnection, org_id: str, since: datetime
) -> list[AttemptFact]:
    """The attempts of the organization's runs still open at `since` (not completed, or
    completed since): a superset of the attempts made since then, read through the
    organization's index on runs; only three fields of each attempt's log."""
    log = run_attempts.c.log
    rows = await conn.execute(
        select(
            log["at"].as_string().label("at"),
            log["durationMs"].as_float().label("duration_ms"),
            log["error"].as_string().label("error"),
        )
        .join_from(run_attempts, integration_runs, integration_runs.c.id == run_attempts.c.run_id)
        .where(
            (integration_runs.c.org_id == org_id)
            & or_(
                integration_runs.c.dt_completed.is_(None),
                integration_runs.c.dt_completed >= since,
            )
        )
    )
    return [AttemptFact(row.at, row.duration_ms or 0.0, row.error is None) for row in rows]


async def count_failure(conn: AsyncConnection, org_id: str, config_id: str) -> int:
    """One more consecutive failed run for this integration; returns the new count."""
    statement = (
        insert_or_merge(conn, integration_health)
        .values(config_id=config_id, org_id=org_id, consecutive_failures=1)
        .on_conflict_do_update(
            index_elements=[integration_health.c.config_id],
            set_={"consecutive_failures": integration_health.c.consecutive_failures + 1},
        )
        .returning(integration_health.c.consecutive_failures)
    )
    return int((await conn.execute(statement)).scalar_one())


# Run after every batch of deliveries: built once (building it cost more than running it).
_RESET_FAILURES = (
    update(integration_health)
    .where(
        integration_health.c.config_id.in_(bindparam("config_ids", expanding=True))
        & (integration_health.c.consecutive_failures > 0)
    )
    .values(consecutive_failures=0)
    .returning(integration_health.c.org_id, integration_health.c.config_id)
)


async def reset_failures(
    conn: AsyncConnection, config_ids: Collection[str]
) -> list[tuple[str, str]]:
    """Forget the consecutive failures of these integrations; (org id, config id) of those
    that had any."""
    if not config_ids:
        return []
    rows = await conn.execute(_RESET_FAILURES, {"config_ids": list(config_ids)})
    return [(row.org_id, row.config_id) for row in rows]


async def configs_with_runs(
    conn: AsyncConnection, org_id: str, entity_type: str, entity_id: str
) -> set[str]:
    """The integration configurations that have a run for this entity already."""
    runs = integration_runs.c
    rows = await conn.execute(
        select(runs.config_id)
        .where(
            (runs.org_id == org_id)
            & (runs.entity_type == entity_type)
            & (runs.entity_id == entity_id)
        )
        .distinct()
    )
    return {row.config_id for row in rows}


def _held_by(owner: str, run_ids: Collection[str]) -> ColumnElement[bool]:
    return integration_runs.c.id.in_(list(run_ids)) & (integration_runs.c.lease_owner == owner)


async def renew_leases(
    conn: AsyncConnection, owner: str, run_ids: Collection[str], lease_until: datetime
) -> None:
    """Extend this worker's leases on runs it still holds (by id: `lease_owner` has no index)."""
    if run_ids:
        await conn.execute(
            update(integration_runs)
            .where(_held_by(owner, run_ids))
            .values(next_attempt_at=lease_until)
        )


async def release_leases(
    conn: AsyncConnection, owner: str, run_ids: Collection[str], now: datetime
) -> None:
    """A worker shutting down hands the runs it still holds back, due at once."""
    if run_ids:
        await conn.execute(
            update(integration_runs)
            .where(_held_by(owner, run_ids))
            .values(status=RunStatus.WAITING, next_attempt_at=now, lease_owner=None)
        )
        wake_after_commit(conn, Wakeup.RUNS_DUE)


async def delete_runs_before(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` finished runs created before `cutoff`, with their attempt logs."""
    doomed = [
        row.id
        for row in await conn.execute(
            select(integration_runs.c.id)
            .where(
                (integration_runs.c.dt_created < cutoff)
                & integration_runs.c.next_attempt_at.is_(None)
            )
            .limit(limit)
        )
    ]
    if doomed:
        await conn.execute(delete(run_attempts).where(run_attempts.c.run_id.in_(doomed)))
        await conn.execute(delete(integration_runs).where(integration_runs.c.id.in_(doomed)))
    return len(doomed)
