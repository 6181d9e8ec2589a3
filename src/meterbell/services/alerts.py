"""System alerts: raised and resolved by the engine inside its own transactions, read and moved
along (NEW → IN_PROGRESS → RESOLVED) by people through the API. Every change writes a
`configuration.alert.created` / `…updated` event in the same transaction."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain import events as domain_events
from meterbell.domain.alerts import (
    AlertRow,
    AlertStatus,
    AlertStatusUpdate,
    AlertType,
    Occurrence,
    Severity,
    kept_event_ids,
    public_alert,
    resolved_description,
)
from meterbell.domain.catalog import entity_by_name
from meterbell.domain.clock import utcnow
from meterbell.domain.documents import SYSTEM_ACTOR
from meterbell.domain.errors import Conflict, NotFound, VersionConflict
from meterbell.domain.listing import choice_param
from meterbell.domain.pagination import Page, continue_before, page_from_rows
from meterbell.domain.validation import validate_model
from meterbell.services.versioned import requested_version
from meterbell.store import alerts as alert_store
from meterbell.store.db import Database
from meterbell.store.events import EventRow, insert_events

MAX_PAGE_SIZE = 200
OPEN_STATUSES = (AlertStatus.NEW, AlertStatus.IN_PROGRESS)
ALERT_SPEC = entity_by_name("alert")


def _alert_event(old: AlertRow | None, new: AlertRow, now: datetime) -> EventRow:
    action: domain_events.Action = "created" if old is None else "updated"
    return EventRow(
        id=str(uuid.uuid4()),
        org_id=new.org_id,
        event_name=domain_events.entity_event_name(ALERT_SPEC, action),
        category=domain_events.ENTITY_CATEGORIES[ALERT_SPEC.category],
        event_time=now,
        m3ter_event=domain_events.entity_change_payload(
            new.org_id, public_alert(old) if old else None, public_alert(new)
        ),
        resource_id=new.id,
    )


def _changed(alert: AlertRow, now: datetime, actor: str, **changes: Any) -> AlertRow:
    return dataclasses.replace(
        alert,
        version=alert.version + 1,
        dt_last_modified=now,
        last_modified_by=actor,
        **changes,
    )


def _first_of(occurrences: Sequence[Occurrence], now: datetime) -> AlertRow:
    latest = occurrences[-1]
    return AlertRow(
        id=str(uuid.uuid4()),
        org_id=latest.org_id,
        version=1,
        type=latest.type,
        severity=latest.severity,
        status=AlertStatus.NEW,
        description=latest.description,
        resource_type=latest.resource_type,
        resource_id=latest.resource_id,
        cause=latest.cause,
        event_ids=_with_events([], occurrences),
        count=len(occurrences),
        dt_first_seen=now,
        dt_last_seen=now,
        dt_created=now,
        dt_last_modified=now,
        created_by=SYSTEM_ACTOR,
        last_modified_by=SYSTEM_ACTOR,
    )


def _with_events(event_ids: list[str], occurrences: Sequence[Occurrence]) -> list[str]:
    for occurrence in occurrences:
        event_ids = kept_event_ids(event_ids, occurrence.event_id)
    return event_ids


async def raise_alert(conn: AsyncConnection, occurrence: Occurrence, now: datetime) -> AlertRow:
    """Record an occurrence in the caller's transaction: a new alert, or one more on the
    alert of the same cause that is open."""
    return await _record(conn, [occurrence], now)


async def raise_alerts(
    conn: AsyncConnection, occurrences: Sequence[Occurrence], now: datetime
) -> None:
    """Record a batch of occurrences in the caller's transaction: one alert change per cause
    (its count rises by the cause's occurrences), causes in a fixed order so that concurrent
    writers lock open alerts in the same order."""
    causes: dict[tuple[str, AlertType, str, str], list[Occurrence]] = {}
    for occurrence in occurrences:
        key = (occurrence.org_id, occurrence.type, occurrence.resource_id, occurrence.cause)
        causes.setdefault(key, []).append(occurrence)
    for key in sorted(causes):
        await _record(conn, causes[key], now)


async def _record(
    conn: AsyncConnection, occurrences: Sequence[Occurrence], now: datetime
) -> AlertRow:
    """Occurrences of one cause: a new alert, or as many more on the open one."""
    first = _first_of(occurrences, now)
    # Twice at most: the open alert may be resolved between the insert and the read.
    for _ in range(2):
        if await alert_store.insert_if_none_open(conn, first):
            await insert_events(conn, [_alert_event(None, first, now)])
            return first
        current = await alert_store.open_alert_for_update(conn, first)
        if current is not None:
            bumped = _changed(
                current,
                now,
                SYSTEM_ACTOR,
                count=current.count + len(occurrences),
                dt_last_seen=now,
                severity=first.severity,
                description=first.description,
                event_ids=_with_events(current.event_ids, occurrences),
            )
            await alert_store.replace(conn, bumped, current.version)
            await insert_events(conn, [_alert_event(current, bumped, now)])
            return bumped
    raise RuntimeError(f"no open alert to record {first.type} on {first.resource_id}")


async def resolve_alerts(
    conn: AsyncConnection,
    org_id: str,
    alert_type: AlertType,
    resource_ids: Collection[str],
    why: str,
    now: datetime,
) -> None:
    """Resolve the open alerts of these causes (their cause has ended), saying why."""
    if not resource_ids:
        return
    for alert in await alert_store.open_alerts_for_update(conn, org_id, alert_type, resource_ids):
        resolved = _changed(
            alert,
            now,
            SYSTEM_ACTOR,
            status=AlertStatus.RESOLVED,
            description=resolved_description(alert.description, why),
        )
        await alert_store.replace(conn, resolved, alert.version)
        await insert_events(conn, [_alert_event(alert, resolved, now)])


# The API


def alert_query(query: Mapping[str, Sequence[str]]) -> alert_store.AlertQuery:
    return alert_store.AlertQuery(
        status=choice_param(query, "status", AlertStatus),
        severity=choice_param(query, "severity", Severity),
        type=choice_param(query, "type", AlertType),
        resource_id=query.get("resourceId", [""])[-1] or None,
    )


async def list_alerts(
    db: Database, org_id: str, query: Mapping[str, Sequence[str]], *, page_size: int
) -> Page:
    filters = alert_query(query)
    async with db.read() as conn:
        rows = await alert_store.list_alerts(
            conn, org_id, filters, before_seq=continue_before(query), limit=page_size + 1
        )
    return page_from_rows([(alert.seq, public_alert(alert)) for alert in rows], page_size)


@dataclass(frozen=True)
class OpenAlerts:
    """How many alerts of one severity are open, and how many of those nobody took yet."""

    severity: Severity
    open: int
    new: int


async def open_alerts_by_severity(db: Database, org_id: str) -> list[OpenAlerts]:
    """Every severity, the most severe first."""
    async with db.read() as conn:
        counts = await alert_store.count_open(conn, org_id)
    return [
        OpenAlerts(
            severity,
            sum(counts.get((severity, status), 0) for status in OPEN_STATUSES),
            counts.get((severity, AlertStatus.NEW), 0),
        )
        for severity in reversed(Severity)
    ]


def _not_found(alert_id: str) -> NotFound:
    return NotFound(f"No alert with id {alert_id} in this organization")


async def get_alert(db: Database, org_id: str, alert_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        alert = await alert_store.get_alert(conn, org_id, alert_id)
    if alert is None:
        raise _not_found(alert_id)
    return public_alert(alert)


async def update_status(
    db: Database, org_id: str, alert_id: str, body: object, actor: str
) -> dict[str, Any]:
    """A person moves an alert to another status (`version` must be the stored one)."""
    change = validate_model(AlertStatusUpdate, body)
    version = requested_version(body)
    now = utcnow()
    async with db.write() as conn:
        alert = await alert_store.get_alert(conn, org_id, alert_id)
        if alert is None:
            raise _not_found(alert_id)
        if version != alert.version:
            raise VersionConflict("Alert", alert_id, version, alert.version)
        moved = _changed(alert, now, actor, status=change.status)
        try:
            await alert_store.replace(conn, moved, alert.version)
        except IntegrityError as exc:
            raise Conflict(
                f"Another {alert.type} alert for {alert.resource_type} {alert.resource_id} is "
                "open: handle that one instead of reopening this"
            ) from exc
        await insert_events(conn, [_alert_event(alert, moved, now)])
    return public_alert(moved)
