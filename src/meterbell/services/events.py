"""Reading the event log: list, fetch, and discover event types and their fields."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from meterbell.domain import catalog
from meterbell.domain.alerts import ALERT_FIELDS
from meterbell.domain.clock import utcnow
from meterbell.domain.errors import InvalidRequest, NotFound
from meterbell.domain.events import ACTIONS, entity_event_fields, entity_event_name
from meterbell.domain.exports.jobs import JOB_FAILURE, JOB_FAILURE_FIELDS
from meterbell.domain.integrations import DISABLED_ERROR, INTEGRATION_ERROR_FIELDS, PERFORM_ERROR
from meterbell.domain.listing import split_values
from meterbell.domain.measurements import INGEST_FAILURE, INGEST_FAILURE_FIELDS
from meterbell.domain.pagination import Page, continue_before, page_from_rows
from meterbell.services import scheduled
from meterbell.store import documents as document_store
from meterbell.store import events as event_store
from meterbell.store.db import Database

MAX_PAGE_SIZE = 100
# Event types that are not entity changes, with the `newDto` fields they carry.
DECLARED_EVENT_FIELDS = {
    PERFORM_ERROR: INTEGRATION_ERROR_FIELDS,
    DISABLED_ERROR: INTEGRATION_ERROR_FIELDS,
    INGEST_FAILURE: INGEST_FAILURE_FIELDS,
    JOB_FAILURE: JOB_FAILURE_FIELDS,
}
# Catalog entities meterbell itself writes, with the fields their events carry.
SYSTEM_ENTITY_FIELDS = {"alert": ALERT_FIELDS}
EVENT_QUERY_PARAMS = {
    "eventName": "event_name",
    "eventType": "category",
    "resourceId": "resource_id",
    "accountId": "account_id",
    "notificationId": "notification_id",
    "notificationCode": "notification_code",
}


def _bool_param(name: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise InvalidRequest(f"{name} must be true or false (got '{raw}')")
    return lowered == "true"


def event_query(query: Mapping[str, Sequence[str]]) -> event_store.EventQuery:
    filters: dict[str, Any] = {
        attribute: query[param][-1]
        for param, attribute in EVENT_QUERY_PARAMS.items()
        if query.get(param) and query[param][-1]
    }
    include_actioned = query.get("includeActioned")
    if include_actioned:
        filters["include_actioned"] = _bool_param("includeActioned", include_actioned[-1])
    return event_store.EventQuery(ids=split_values(query.get("ids", ())), **filters)


async def list_events(
    db: Database, org_id: str, query: Mapping[str, Sequence[str]], *, page_size: int
) -> Page:
    filters = event_query(query)
    before = continue_before(query)
    async with db.read() as conn:
        rows = await event_store.list_events(
            conn, org_id, filters, before_seq=before, limit=page_size + 1
        )
    return page_from_rows([(row.seq, row.to_public()) for row in rows], page_size)


async def get_event_row(db: Database, org_id: str, event_id: str) -> event_store.EventRow:
    async with db.read() as conn:
        row = await event_store.get_event(conn, org_id, event_id)
    if row is None:
        raise _no_event(event_id)
    return row


def _no_event(event_id: str) -> NotFound:
    return NotFound(f"No event with id {event_id} in this organization")


async def get_event(db: Database, org_id: str, event_id: str) -> dict[str, Any]:
    return (await get_event_row(db, org_id, event_id)).to_public()


async def set_actioned(
    db: Database, org_id: str, event_id: str, *, actioned: bool
) -> dict[str, Any]:
    """Mark an event handled (`dtActioned` now), or clear the mark; the event after."""
    async with db.write() as conn:
        row = await event_store.set_actioned(conn, org_id, event_id, utcnow() if actioned else None)
    if row is None:
        raise _no_event(event_id)
    return row.to_public()


def _all_types(scheduled_events: Mapping[str, catalog.EntitySpec]) -> list[str]:
    return sorted([*catalog.event_types(), *scheduled_events])


async def event_types(db: Database, org_id: str) -> list[str]:
    """The catalog's event types and the organization's scheduled event names."""
    async with db.read() as conn:
        return _all_types(await scheduled.configured_events(conn, org_id))


def _unknown_event_name(name: str, known: Sequence[str]) -> InvalidRequest:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else " GET /events/types lists them."
    return InvalidRequest(f"Unknown event type '{name}'.{hint}")


async def event_fields(
    db: Database, org_id: str, event_name: str | None
) -> dict[str, dict[str, str]]:
    """`new.*` / `old.*` field paths and m3ter type words, per event type (a scheduled event
    has its entity's `new.*` fields, as a created event does)."""
    async with db.read() as conn:
        seen = await document_store.fields_seen(conn, org_id)
        scheduled_events = await scheduled.configured_events(conn, org_id)
    fields: dict[str, dict[str, str]] = {}
    for spec in catalog.all_entities():
        known_fields = {**SYSTEM_ENTITY_FIELDS.get(spec.name, {}), **seen.get(spec.name, {})}
        for action in ACTIONS:
            name = entity_event_name(spec, action)
            fields[name] = entity_event_fields(spec, action, known_fields)
    for name, spec in scheduled_events.items():
        fields[name] = entity_event_fields(spec, "created", seen.get(spec.name, {}))
    for name, declared in DECLARED_EVENT_FIELDS.items():
        fields[name] = {f"new.{field}": kind for field, kind in declared.items()}
    known = _all_types(scheduled_events)
    for name in known:
        fields.setdefault(name, {})
    if event_name is None:
        return fields
    if event_name not in fields:
        raise _unknown_event_name(event_name, known)
    return {event_name: fields[event_name]}
