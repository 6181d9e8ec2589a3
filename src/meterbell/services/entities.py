"""Entity use cases (m3ter's configuration and billing entities): every change is one
transaction that writes the entity and its `configuration.*` / `billing.*` event."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain import events as domain_events
from meterbell.domain.catalog import EntitySpec
from meterbell.domain.clock import utcnow
from meterbell.domain.field_types import type_word
from meterbell.domain.listing import entity_filters
from meterbell.domain.pagination import Page
from meterbell.domain.validation import validate_entity_body
from meterbell.services import scheduled, versioned
from meterbell.services.versioned import Document, EventsFor, Kind
from meterbell.store import documents as document_store
from meterbell.store.db import Database, after_commit
from meterbell.store.events import EventRow
from meterbell.store.tables import MAX_SEEN_FIELD_NAME

SINGLETON_NAMESPACE = uuid.UUID("6f1b1c1e-4d8a-4c57-9a57-6d6574657262")
MAX_PAGE_SIZE = 200

# (org, entity type, field) already recorded in entity_fields_seen by this process.
_fields_recorded: set[tuple[str, str, str]] = set()


def singleton_id(org_id: str, spec: EntitySpec) -> str:
    return str(uuid.uuid5(SINGLETON_NAMESPACE, f"{org_id}:{spec.name}"))


def _kind(spec: EntitySpec) -> Kind:
    return Kind(spec.name, spec.title)


def _change_event(
    org_id: str,
    spec: EntitySpec,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
) -> EventRow:
    action: domain_events.Action = (
        "created" if old is None else "deleted" if new is None else "updated"
    )
    entity = new if new is not None else old
    assert entity is not None
    return EventRow(
        id=str(uuid.uuid4()),
        org_id=org_id,
        event_name=domain_events.entity_event_name(spec, action),
        category=domain_events.ENTITY_CATEGORIES[spec.category],
        event_time=utcnow(),
        m3ter_event=domain_events.entity_change_payload(org_id, old, new),
        resource_id=str(entity["id"]),
        account_id=domain_events.related_account_id(spec, entity),
    )


def _events_for(org_id: str, spec: EntitySpec) -> EventsFor:
    return lambda old, new: [_change_event(org_id, spec, old, new)]


def _fields_recorder(org_id: str, spec: EntitySpec) -> versioned.AlsoInTransaction:
    """Remember fields a client sent that the declaration lacks, for `/events/fields` (names
    longer than MAX_SEEN_FIELD_NAME are kept in the entity, not listed)."""

    async def record(conn: AsyncConnection, entity: Mapping[str, Any]) -> None:
        fresh = {
            name: kind
            for name, value in entity.items()
            if name not in spec.fields
            and len(name) <= MAX_SEEN_FIELD_NAME
            and (org_id, spec.name, name) not in _fields_recorded
            and (kind := type_word(value)) is not None
        }
        if fresh:
            await document_store.record_fields_seen(conn, org_id, spec.name, fresh)
            recorded = {(org_id, spec.name, name) for name in fresh}
            after_commit(conn, lambda: _fields_recorded.update(recorded))

    return record


def _after_write(org_id: str, spec: EntitySpec) -> versioned.AlsoInTransaction:
    """Inside the write: remember new fields, and recompute the entity's scheduled events."""
    record_fields = _fields_recorder(org_id, spec)

    async def after_write(conn: AsyncConnection, entity: Mapping[str, Any]) -> None:
        await record_fields(conn, entity)
        await scheduled.entity_written(conn, org_id, spec, entity)

    return after_write


def _after_delete(org_id: str, spec: EntitySpec) -> versioned.AlsoInTransaction:
    async def after_delete(conn: AsyncConnection, entity: Mapping[str, Any]) -> None:
        await scheduled.entity_deleted(conn, org_id, spec, str(entity["id"]))

    return after_delete


async def create_entity(
    db: Database, org_id: str, spec: EntitySpec, body: object, actor: str
) -> Document:
    fields = validate_entity_body(spec, body)
    return await versioned.create(
        db,
        org_id,
        _kind(spec),
        fields,
        actor,
        _events_for(org_id, spec),
        _after_write(org_id, spec),
    )


async def create_in(
    conn: AsyncConnection, org_id: str, spec: EntitySpec, fields: Mapping[str, Any], actor: str
) -> Document:
    """Create an entity inside the caller's transaction (a worker's) as an API create does:
    same event, same in-transaction work. `fields` must already be valid."""
    entity = versioned.stamped(
        fields, document_id=str(uuid.uuid4()), version=1, created=None, actor=actor
    )
    await versioned.write_in(conn, org_id, _kind(spec), None, entity, _events_for(org_id, spec))
    await _after_write(org_id, spec)(conn, entity)
    return entity


async def update_in(
    conn: AsyncConnection,
    org_id: str,
    spec: EntitySpec,
    old: Mapping[str, Any],
    fields: Mapping[str, Any],
    actor: str,
) -> tuple[Document, EventRow]:
    """Replace `old` with `fields` inside the caller's transaction as an API update does: same
    event, same in-transaction work. The new document and its event."""
    entity = versioned.stamped(
        fields,
        document_id=str(old["id"]),
        version=int(old["version"]) + 1,
        created=old,
        actor=actor,
    )
    event = _change_event(org_id, spec, old, entity)
    await versioned.write_in(conn, org_id, _kind(spec), old, entity, lambda _old, _new: [event])
    await _after_write(org_id, spec)(conn, entity)
    return entity, event


async def get_entity(db: Database, org_id: str, spec: EntitySpec, entity_id: str) -> Document:
    return await versioned.get(db, org_id, _kind(spec), entity_id)


async def update_entity(
    db: Database, org_id: str, spec: EntitySpec, entity_id: str, body: object, actor: str
) -> Document:
    fields = validate_entity_body(spec, body)
    return await versioned.replace(
        db,
        org_id,
        _kind(spec),
        entity_id,
        fields,
        versioned.requested_version(body),
        actor,
        _events_for(org_id, spec),
        _after_write(org_id, spec),
    )


async def delete_entity(db: Database, org_id: str, spec: EntitySpec, entity_id: str) -> Document:
    return await versioned.delete(
        db, org_id, _kind(spec), entity_id, _events_for(org_id, spec), _after_delete(org_id, spec)
    )


async def list_entities(
    db: Database,
    org_id: str,
    spec: EntitySpec,
    query: Mapping[str, Sequence[str]],
    *,
    page_size: int,
) -> Page:
    filters = entity_filters(spec, query)
    return await versioned.list_page(db, org_id, _kind(spec), filters, query, page_size=page_size)


async def get_singleton(db: Database, org_id: str, spec: EntitySpec) -> Document:
    return await get_entity(db, org_id, spec, singleton_id(org_id, spec))


async def put_singleton(
    db: Database, org_id: str, spec: EntitySpec, body: object, actor: str
) -> Document:
    return await update_entity(db, org_id, spec, singleton_id(org_id, spec), body, actor)


async def create_singleton(
    conn: AsyncConnection, org_id: str, spec: EntitySpec, fields: Mapping[str, Any], actor: str
) -> None:
    """Part of creating an organization: its singletons start at version 1."""
    entity = versioned.stamped(
        fields, document_id=singleton_id(org_id, spec), version=1, created=None, actor=actor
    )
    await versioned.write_in(conn, org_id, _kind(spec), None, entity, _events_for(org_id, spec))
