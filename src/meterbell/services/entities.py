"""Entity use cases: each call is one transaction that writes the entity and its event."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain import events as domain_events
from meterbell.domain.catalog import EntitySpec
from meterbell.domain.clock import isoformat, utcnow
from meterbell.domain.errors import Conflict, InvalidRequest, NotFound, VersionConflict
from meterbell.domain.field_types import type_word
from meterbell.domain.listing import entity_filters
from meterbell.domain.pagination import Page, decode_next_token, page_from_rows
from meterbell.domain.validation import validate_entity_body
from meterbell.store import entities as entity_store
from meterbell.store.db import Database
from meterbell.store.events import EventRow, insert_events

SINGLETON_NAMESPACE = uuid.UUID("6f1b1c1e-4d8a-4c57-9a57-6d6574657262")
MAX_PAGE_SIZE = 200

# (org, entity type, field) already recorded in entity_fields_seen by this process.
_fields_recorded: set[tuple[str, str, str]] = set()


def singleton_id(org_id: str, spec: EntitySpec) -> str:
    return str(uuid.uuid5(SINGLETON_NAMESPACE, f"{org_id}:{spec.name}"))


def _entity_event(
    org_id: str,
    spec: EntitySpec,
    action: domain_events.Action,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
) -> EventRow:
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


async def _record_new_fields(
    conn: AsyncConnection, org_id: str, spec: EntitySpec, entity: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """Fields a client sent that the declaration lacks, so `/events/fields` shows them too."""
    fresh = {
        name: kind
        for name, value in entity.items()
        if name not in spec.fields
        and (org_id, spec.name, name) not in _fields_recorded
        and (kind := type_word(value)) is not None
    }
    if fresh:
        await entity_store.record_fields_seen(conn, org_id, spec.name, fresh)
    return [(org_id, spec.name, name) for name in fresh]


async def _write(
    db: Database,
    org_id: str,
    spec: EntitySpec,
    action: domain_events.Action,
    old: Mapping[str, Any] | None,
    new: dict[str, Any],
) -> None:
    """Insert or replace `new` and write its event, in one transaction."""
    try:
        async with db.write() as conn:
            if old is None:
                await entity_store.insert_entity(conn, org_id, spec.name, new)
            elif not await entity_store.replace_entity(
                conn, org_id, spec.name, new, expected_version=int(old["version"])
            ):
                await _raise_lost_race(conn, org_id, spec, old)
            recorded = await _record_new_fields(conn, org_id, spec, new)
            await insert_events(conn, [_entity_event(org_id, spec, action, old, new)])
    except IntegrityError as exc:
        raise Conflict(
            f"A {spec.title} with code '{new.get('code')}' already exists: codes are unique "
            f"per organization and entity type"
        ) from exc
    _fields_recorded.update(recorded)


async def _raise_lost_race(
    conn: AsyncConnection, org_id: str, spec: EntitySpec, old: Mapping[str, Any]
) -> None:
    """Another writer changed or deleted the entity between our read and our write."""
    current = await entity_store.get_entity(conn, org_id, spec.name, str(old["id"]))
    if current is None:
        raise NotFound(f"No {spec.title} with id {old['id']} in this organization")
    raise VersionConflict(spec.title, str(old["id"]), old["version"], int(current["version"]))


def _stamped(
    fields: Mapping[str, Any],
    *,
    entity_id: str,
    version: int,
    created: Mapping[str, Any] | None,
    actor: str,
) -> dict[str, Any]:
    now = isoformat(utcnow())
    return {
        **fields,
        "id": entity_id,
        "version": version,
        "dtCreated": created["dtCreated"] if created else now,
        "createdBy": created["createdBy"] if created else actor,
        "dtLastModified": now,
        "lastModifiedBy": actor,
    }


async def create_entity(
    db: Database, org_id: str, spec: EntitySpec, body: object, actor: str
) -> dict[str, Any]:
    fields = validate_entity_body(spec, body)
    entity = _stamped(fields, entity_id=str(uuid.uuid4()), version=1, created=None, actor=actor)
    await _write(db, org_id, spec, "created", None, entity)
    return entity


async def get_entity(db: Database, org_id: str, spec: EntitySpec, entity_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        entity = await entity_store.get_entity(conn, org_id, spec.name, entity_id)
    if entity is None:
        raise NotFound(f"No {spec.title} with id {entity_id} in this organization")
    return entity


def _requested_version(body: object) -> int:
    version = body.get("version") if isinstance(body, Mapping) else None
    if version is None:
        raise InvalidRequest(
            "'version' is required on update: send the version you last read (GET the entity)"
        )
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidRequest("'version' must be a whole number")
    return version


async def update_entity(
    db: Database, org_id: str, spec: EntitySpec, entity_id: str, body: object, actor: str
) -> dict[str, Any]:
    fields = validate_entity_body(spec, body)
    sent_version = _requested_version(body)
    old = await get_entity(db, org_id, spec, entity_id)
    if sent_version != old["version"]:
        raise VersionConflict(spec.title, entity_id, sent_version, int(old["version"]))
    entity = _stamped(
        fields, entity_id=entity_id, version=sent_version + 1, created=old, actor=actor
    )
    await _write(db, org_id, spec, "updated", old, entity)
    return entity


async def delete_entity(
    db: Database, org_id: str, spec: EntitySpec, entity_id: str
) -> dict[str, Any]:
    async with db.write() as conn:
        old = await entity_store.get_entity(conn, org_id, spec.name, entity_id)
        if old is None:
            raise NotFound(f"No {spec.title} with id {entity_id} in this organization")
        await entity_store.delete_entity(conn, org_id, spec.name, entity_id)
        await insert_events(conn, [_entity_event(org_id, spec, "deleted", old, None)])
    return old


async def list_entities(
    db: Database,
    org_id: str,
    spec: EntitySpec,
    query: Mapping[str, Sequence[str]],
    *,
    page_size: int,
) -> Page:
    filters = entity_filters(spec, query)
    next_token = query.get("nextToken", [None])[-1]
    before = decode_next_token(next_token) if next_token else None
    async with db.read() as conn:
        rows = await entity_store.list_entities(
            conn, org_id, spec.name, filters=filters, before_seq=before, limit=page_size + 1
        )
    return page_from_rows(rows, page_size)


async def get_singleton(db: Database, org_id: str, spec: EntitySpec) -> dict[str, Any]:
    return await get_entity(db, org_id, spec, singleton_id(org_id, spec))


async def put_singleton(
    db: Database, org_id: str, spec: EntitySpec, body: object, actor: str
) -> dict[str, Any]:
    return await update_entity(db, org_id, spec, singleton_id(org_id, spec), body, actor)


async def create_singleton(
    conn: AsyncConnection, org_id: str, spec: EntitySpec, fields: Mapping[str, Any], actor: str
) -> None:
    """Part of creating an organization: its singletons start at version 1."""
    entity = _stamped(
        fields, entity_id=singleton_id(org_id, spec), version=1, created=None, actor=actor
    )
    await entity_store.insert_entity(conn, org_id, spec.name, entity)
    await insert_events(conn, [_entity_event(org_id, spec, "created", None, entity)])
