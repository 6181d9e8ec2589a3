"""Queries on the events table: the outbox the dispatcher drains and the log users list."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.clock import isoformat
from meterbell.metrics import EVENTS
from meterbell.store.db import after_commit, wake_after_commit
from meterbell.store.tables import events, rule_errors
from meterbell.store.wakeups import Wakeup


@dataclass(frozen=True)
class EventRow:
    id: str
    org_id: str
    event_name: str
    category: str
    event_time: datetime
    m3ter_event: dict[str, Any]
    resource_id: str | None = None
    account_id: str | None = None
    notification_id: str | None = None
    notification_code: str | None = None
    dt_actioned: datetime | None = None
    dispatched_at: datetime | None = None
    # A Notification event written by a backfill (services/backfill.py), not live dispatch.
    backfill: bool = False
    seq: int = 0

    def to_public(self) -> dict[str, Any]:
        """The event as the API returns it (and as a webhook body carries it); `backfill`
        only on a backfill's Notification events (an extension: m3ter has no such field)."""
        public: dict[str, Any] = {
            "id": self.id,
            "eventName": self.event_name,
            "eventTime": isoformat(self.event_time),
            "dtActioned": isoformat(self.dt_actioned) if self.dt_actioned else None,
            "m3terEvent": self.m3ter_event,
        }
        if self.backfill:
            public["backfill"] = True
        return public


@dataclass(frozen=True)
class EventQuery:
    """Filters of `GET /events`; None means "not filtered on"."""

    event_name: str | None = None
    category: str | None = None
    resource_id: str | None = None
    account_id: str | None = None
    notification_id: str | None = None
    notification_code: str | None = None
    ids: tuple[str, ...] = ()
    include_actioned: bool = True


def _row_values(event: EventRow) -> dict[str, Any]:
    return {
        "id": event.id,
        "org_id": event.org_id,
        "event_name": event.event_name,
        "category": event.category,
        "event_time": event.event_time,
        "m3ter_event": event.m3ter_event,
        "resource_id": event.resource_id,
        "account_id": event.account_id,
        "notification_id": event.notification_id,
        "notification_code": event.notification_code,
        "dt_actioned": event.dt_actioned,
        "dispatched_at": event.dispatched_at,
        "backfill": event.backfill or None,
    }


def event_from_row(row: Any) -> EventRow:
    return EventRow(
        id=row.id,
        org_id=row.org_id,
        event_name=row.event_name,
        category=row.category,
        event_time=row.event_time,
        m3ter_event=row.m3ter_event,
        resource_id=row.resource_id,
        account_id=row.account_id,
        notification_id=row.notification_id,
        notification_code=row.notification_code,
        dt_actioned=row.dt_actioned,
        dispatched_at=row.dispatched_at,
        backfill=bool(row.backfill),
        seq=row.seq,
    )


async def insert_events(conn: AsyncConnection, rows: Sequence[EventRow]) -> None:
    if rows:
        await conn.execute(insert(events), [_row_values(row) for row in rows])
        categories = Counter(row.category for row in rows)
        after_commit(conn, lambda: _count_events(categories))
    if any(row.dispatched_at is None for row in rows):
        wake_after_commit(conn, Wakeup.EVENTS_WRITTEN)


def _count_events(categories: Mapping[str, int]) -> None:
    for category, count in categories.items():
        EVENTS.labels(category=category).inc(count)


async def get_event(conn: AsyncConnection, org_id: str, event_id: str) -> EventRow | None:
    row = (
        await conn.execute(
            select(events).where((events.c.org_id == org_id) & (events.c.id == event_id))
        )
    ).first()
    return event_from_row(row) if row else None


def _conditions(org_id: str, query: EventQuery) -> list[ColumnElement[bool]]:
    conditions = [events.c.org_id == org_id]
    for column, value in (
        (events.c.event_name, query.event_name),
        (events.c.category, query.category),
        (events.c.resource_id, query.resource_id),
        (events.c.account_id, query.account_id),
        (events.c.notification_id, query.notification_id),
        (events.c.notification_code, query.notification_code),
    ):
        if value is not None:
            conditions.append(column == value)
    if query.ids:
        conditions.append(events.c.id.in_(query.ids))
    if not query.include_actioned:
        conditions.append(events.c.dt_actioned.is_(None))
    return conditions


async def list_events(
    conn: AsyncConnection, org_id: str, query: EventQuery, *, before_seq: int | None, limit: int
) -> list[EventRow]:
    """Newest first, continuing below `before_seq`."""
    statement = select(events).where(*_conditions(org_id, query))
    if before_seq is not None:
        statement = statement.where(events.c.seq < before_seq)
    rows = await conn.execute(statement.order_by(events.c.seq.desc()).limit(limit))
    return [event_from_row(row) for row in rows]


# Statements the dispatcher runs on every batch, built once: building one costs more than
# running it (about 0.1 ms, and SQLAlchemy's cache key for it again on every call).
_UNDISPATCHED = (
    select(events)
    .where(events.c.dispatched_at.is_(None))
    .order_by(events.c.seq)
    .limit(bindparam("limit"))
)
_UNDISPATCHED_BY_ID = _UNDISPATCHED.where(events.c.id == bindparam("event_id"))
_LOCKED = {
    statement: statement.with_for_update(skip_locked=True)
    for statement in (_UNDISPATCHED, _UNDISPATCHED_BY_ID)
}
_MARK_DISPATCHED = (
    update(events)
    .where(events.c.seq.in_(bindparam("seqs", expanding=True)))
    .values(dispatched_at=bindparam("at"))
)


async def undispatched_events(
    conn: AsyncConnection, limit: int, *, event_id: str | None = None
) -> list[EventRow]:
    """The oldest events no dispatcher has handled yet (or the one with `event_id`, if it has
    not been), locked against other dispatchers."""
    statement = _UNDISPATCHED if event_id is None else _UNDISPATCHED_BY_ID
    if conn.dialect.name == "postgresql":
        statement = _LOCKED[statement]
    rows = await conn.execute(statement, {"limit": limit, "event_id": event_id})
    return [event_from_row(row) for row in rows]


async def oldest_undispatched_time(
    conn: AsyncConnection, org_id: str | None = None
) -> datetime | None:
    """When the oldest event no dispatcher has handled yet was written (None: none waits),
    of every organization or of `org_id`."""
    statement = (
        select(events.c.event_time)
        .where(events.c.dispatched_at.is_(None))
        .order_by(events.c.seq)
        .limit(1)
    )
    if org_id is not None:
        statement = statement.where(events.c.org_id == org_id)
    return (await conn.execute(statement)).scalar()


async def mark_dispatched(conn: AsyncConnection, seqs: Sequence[int], at: datetime) -> None:
    await conn.execute(_MARK_DISPATCHED, {"seqs": list(seqs), "at": at})


async def set_dispatched(
    conn: AsyncConnection, org_id: str, event_id: str, at: datetime | None
) -> None:
    """Set one event aside (`at`), or put it back for the dispatcher (None)."""
    await conn.execute(
        update(events)
        .where((events.c.org_id == org_id) & (events.c.id == event_id))
        .values(dispatched_at=at)
    )
    if at is None:
        wake_after_commit(conn, Wakeup.EVENTS_WRITTEN)


async def set_actioned(
    conn: AsyncConnection, org_id: str, event_id: str, at: datetime | None
) -> EventRow | None:
    """Mark an event handled by a person (`at`), or clear the mark (None); the event after."""
    row = (
        await conn.execute(
            update(events)
            .where((events.c.org_id == org_id) & (events.c.id == event_id))
            .values(dt_actioned=at)
            .returning(*events.c)
        )
    ).first()
    return event_from_row(row) if row else None


async def delete_events_before(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` events older than `cutoff`; returns how many went."""
    doomed = select(events.c.seq).where(events.c.event_time < cutoff).limit(limit)
    result = await conn.execute(delete(events).where(events.c.seq.in_(doomed.scalar_subquery())))
    return int(result.rowcount)


async def insert_rule_errors(conn: AsyncConnection, errors: Sequence[dict[str, Any]]) -> None:
    if errors:
        await conn.execute(insert(rule_errors), list(errors))


def _public_rule_error(row: Any) -> dict[str, Any]:
    return {
        "ruleId": row.rule_id,
        "ruleVersion": row.rule_version,
        "eventId": row.event_id,
        "error": row.error,
        "dtCreated": isoformat(row.dt_created),
    }


async def rule_errors_for_event(
    conn: AsyncConnection, org_id: str, event_id: str
) -> list[dict[str, Any]]:
    """Rules that failed to evaluate on an event: which, at which version, and why."""
    rows = await conn.execute(
        select(rule_errors)
        .where((rule_errors.c.org_id == org_id) & (rule_errors.c.event_id == event_id))
        .order_by(rule_errors.c.seq)
    )
    return [_public_rule_error(row) for row in rows]


async def rule_errors_for_rule(
    conn: AsyncConnection, org_id: str, rule_id: str, *, before_seq: int | None, limit: int
) -> list[tuple[int, dict[str, Any]]]:
    """A rule's evaluation errors, newest first, continuing below `before_seq`."""
    statement = select(rule_errors).where(
        (rule_errors.c.org_id == org_id) & (rule_errors.c.rule_id == rule_id)
    )
    if before_seq is not None:
        statement = statement.where(rule_errors.c.seq < before_seq)
    rows = await conn.execute(statement.order_by(rule_errors.c.seq.desc()).limit(limit))
    return [(row.seq, _public_rule_error(row)) for row in rows]


async def delete_rule_errors_before(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    doomed = select(rule_errors.c.seq).where(rule_errors.c.dt_created < cutoff).limit(limit)
    result = await conn.execute(
        delete(rule_errors).where(rule_errors.c.seq.in_(doomed.scalar_subquery()))
    )
    return int(result.rowcount)
