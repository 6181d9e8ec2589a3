"""Queries on system alerts. An occurrence is recorded by inserting an open alert for its cause
or, when one is open already (the partial unique index says so), by bumping that one."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.alerts import (
    AlertRow,
    AlertStatus,
    AlertType,
    ResourceType,
    Severity,
)
from meterbell.store.tables import OPEN_ALERT, alerts
from meterbell.store.upsert import insert_or_merge

ALERT_COLUMNS = tuple(f.name for f in fields(AlertRow) if f.name != "seq")


def _from_row(row: Any) -> AlertRow:
    alert = AlertRow(**{name: getattr(row, name) for name in (*ALERT_COLUMNS, "seq")})
    alert.type = AlertType(alert.type)
    alert.severity = Severity(alert.severity)
    alert.status = AlertStatus(alert.status)
    alert.resource_type = ResourceType(alert.resource_type)
    alert.event_ids = list(alert.event_ids)
    return alert


def _values(alert: AlertRow) -> dict[str, Any]:
    return {name: getattr(alert, name) for name in ALERT_COLUMNS}


async def insert_if_none_open(conn: AsyncConnection, alert: AlertRow) -> bool:
    """Insert `alert` unless an alert of its cause is open; True when it was inserted."""
    statement = (
        insert_or_merge(conn, alerts)
        .values(_values(alert))
        .on_conflict_do_nothing(
            index_elements=[
                alerts.c.org_id,
                alerts.c.type,
                alerts.c.resource_id,
                alerts.c.cause,
            ],
            index_where=OPEN_ALERT,
        )
        .returning(alerts.c.seq)
    )
    return (await conn.execute(statement)).first() is not None


def _open_cause(alert: AlertRow) -> ColumnElement[bool]:
    return (
        (alerts.c.org_id == alert.org_id)
        & (alerts.c.type == alert.type)
        & (alerts.c.resource_id == alert.resource_id)
        & (alerts.c.cause == alert.cause)
        & (alerts.c.status != AlertStatus.RESOLVED)
    )


async def open_alert_for_update(conn: AsyncConnection, alert: AlertRow) -> AlertRow | None:
    """The open alert of `alert`'s cause, locked until the transaction ends (PostgreSQL)."""
    statement = select(alerts).where(_open_cause(alert))
    if conn.dialect.name == "postgresql":
        statement = statement.with_for_update()
    row = (await conn.execute(statement)).first()
    return _from_row(row) if row else None


async def open_alerts_for_update(
    conn: AsyncConnection, org_id: str, alert_type: AlertType, resource_ids: Collection[str]
) -> list[AlertRow]:
    statement = select(alerts).where(
        (alerts.c.org_id == org_id)
        & (alerts.c.type == alert_type)
        & alerts.c.resource_id.in_(list(resource_ids))
        & (alerts.c.status != AlertStatus.RESOLVED)
    )
    if conn.dialect.name == "postgresql":
        statement = statement.with_for_update()
    return [_from_row(row) for row in await conn.execute(statement)]


async def replace(conn: AsyncConnection, alert: AlertRow, expected_version: int) -> bool:
    """Write the new state if the stored version is still `expected_version`."""
    result = await conn.execute(
        update(alerts)
        .where((alerts.c.id == alert.id) & (alerts.c.version == expected_version))
        .values(_values(alert))
    )
    return result.rowcount == 1


async def get_alert(conn: AsyncConnection, org_id: str, alert_id: str) -> AlertRow | None:
    row = (
        await conn.execute(
            select(alerts).where((alerts.c.org_id == org_id) & (alerts.c.id == alert_id))
        )
    ).first()
    return _from_row(row) if row else None


@dataclass(frozen=True)
class AlertQuery:
    status: AlertStatus | None = None
    severity: Severity | None = None
    type: AlertType | None = None
    resource_id: str | None = None


async def list_alerts(
    conn: AsyncConnection, org_id: str, query: AlertQuery, *, before_seq: int | None, limit: int
) -> list[AlertRow]:
    """Newest first, continuing below `before_seq`."""
    statement = select(alerts).where(alerts.c.org_id == org_id)
    for column, value in (
        (alerts.c.status, query.status),
        (alerts.c.severity, query.severity),
        (alerts.c.type, query.type),
        (alerts.c.resource_id, query.resource_id),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if before_seq is not None:
        statement = statement.where(alerts.c.seq < before_seq)
    rows = await conn.execute(statement.order_by(alerts.c.seq.desc()).limit(limit))
    return [_from_row(row) for row in rows]


async def count_open(
    conn: AsyncConnection, org_id: str | None = None
) -> dict[tuple[str, str], int]:
    """Open alerts of one organization (of every one if `org_id` is None), by (severity,
    status)."""
    statement = select(alerts.c.severity, alerts.c.status, func.count()).where(
        alerts.c.status != AlertStatus.RESOLVED
    )
    if org_id is not None:
        statement = statement.where(alerts.c.org_id == org_id)
    rows = await conn.execute(statement.group_by(alerts.c.severity, alerts.c.status))
    return {(row[0], row[1]): int(row[2]) for row in rows}
