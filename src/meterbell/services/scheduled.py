"""Scheduled event configurations (`scheduledevents/configurations`), and the index of due
times (targets) kept in step with them and with the entities they schedule.

Targets change in the transaction that changes their cause: a configuration write recomputes
its targets over every entity of its type; an entity write recomputes that entity's targets
for every configuration of its type; deletes remove unfired targets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.catalog import EntitySpec
from meterbell.domain.documents import DocumentKind
from meterbell.domain.errors import Conflict
from meterbell.domain.listing import id_filters
from meterbell.domain.pagination import Page
from meterbell.domain.scheduled import (
    ScheduledEventFields,
    checked_configuration,
    due_time,
    same_event_name,
    scheduled_entity,
)
from meterbell.domain.validation import validate_model
from meterbell.services import versioned
from meterbell.services.versioned import Document, Kind
from meterbell.store import documents as document_store
from meterbell.store import scheduled as target_store
from meterbell.store.db import Database
from meterbell.store.scheduled import Target

CONFIGURATION = Kind(DocumentKind.SCHEDULED_EVENT, "ScheduledEventConfiguration")
MAX_PAGE_SIZE = 100


async def _configurations(conn: AsyncConnection, org_id: str) -> list[dict[str, Any]]:
    return await document_store.documents_of_org(conn, CONFIGURATION.name, org_id)


async def configured_events(conn: AsyncConnection, org_id: str) -> dict[str, EntitySpec]:
    """The organization's scheduled event names, each with the entity it is about."""
    return {
        configuration["name"]: scheduled_entity(configuration)
        for configuration in await _configurations(conn, org_id)
    }


def _target(
    org_id: str, configuration: Mapping[str, Any], spec: EntitySpec, entity_id: str, value: object
) -> Target | None:
    due_at = due_time(value, configuration["offset"])
    if due_at is None:
        return None
    return Target(org_id, configuration["id"], spec.name, entity_id, due_at)


# Configurations


async def _refuse_taken_name(
    conn: AsyncConnection, org_id: str, configuration: Mapping[str, Any]
) -> None:
    for other in await _configurations(conn, org_id):
        if other["id"] != configuration["id"] and same_event_name(
            other["name"], configuration["name"]
        ):
            raise Conflict(
                f"The event name '{configuration['name']}' is taken by scheduled event "
                f"configuration {other['id']} ('{other['name']}'): names are unique per "
                "organization, whatever their letter case"
            )


async def _retarget(
    conn: AsyncConnection, org_id: str, spec: EntitySpec, configuration: Mapping[str, Any]
) -> None:
    """Recompute the configuration's unfired targets over every entity of its type."""
    values = await target_store.field_values(conn, org_id, spec.name, configuration["field"])
    targets = (
        _target(org_id, configuration, spec, entity_id, value) for entity_id, value in values
    )
    await target_store.replace_configuration_targets(
        conn, configuration["id"], [target for target in targets if target is not None]
    )


def _configuration_written(org_id: str, spec: EntitySpec) -> versioned.AlsoInTransaction:
    async def after_write(conn: AsyncConnection, configuration: Mapping[str, Any]) -> None:
        await target_store.lock_organization(conn, org_id, exclusive=True)
        await _refuse_taken_name(conn, org_id, configuration)
        await _retarget(conn, org_id, spec, configuration)

    return after_write


def _configuration_deleted(org_id: str) -> versioned.AlsoInTransaction:
    async def after_delete(conn: AsyncConnection, configuration: Mapping[str, Any]) -> None:
        await target_store.lock_organization(conn, org_id, exclusive=True)
        await target_store.delete_configuration_targets(conn, configuration["id"])

    return after_delete


def _checked(body: object) -> tuple[dict[str, Any], EntitySpec]:
    """The fields to store, and the entity type the configuration schedules."""
    fields = validate_model(ScheduledEventFields, body)
    return fields.model_dump(), checked_configuration(fields)


async def create_configuration(db: Database, org_id: str, body: object, actor: str) -> Document:
    fields, spec = _checked(body)
    return await versioned.create(
        db, org_id, CONFIGURATION, fields, actor, also=_configuration_written(org_id, spec)
    )


async def get_configuration(db: Database, org_id: str, configuration_id: str) -> Document:
    return await versioned.get(db, org_id, CONFIGURATION, configuration_id)


async def update_configuration(
    db: Database, org_id: str, configuration_id: str, body: object, actor: str
) -> Document:
    fields, spec = _checked(body)
    return await versioned.replace(
        db,
        org_id,
        CONFIGURATION,
        configuration_id,
        fields,
        versioned.requested_version(body),
        actor,
        also=_configuration_written(org_id, spec),
    )


async def delete_configuration(db: Database, org_id: str, configuration_id: str) -> Document:
    return await versioned.delete(
        db, org_id, CONFIGURATION, configuration_id, also=_configuration_deleted(org_id)
    )


async def list_configurations(
    db: Database, org_id: str, query: Mapping[str, Sequence[str]], *, page_size: int
) -> Page:
    filters = id_filters(query)
    return await versioned.list_page(db, org_id, CONFIGURATION, filters, query, page_size=page_size)


# Entities


def _entity_targets(
    org_id: str,
    configurations: Sequence[Mapping[str, Any]],
    spec: EntitySpec,
    entity: Mapping[str, Any],
) -> list[Target]:
    entity_id = str(entity["id"])
    targets = (
        _target(org_id, configuration, spec, entity_id, entity.get(configuration["field"]))
        for configuration in configurations
    )
    return [target for target in targets if target is not None]


async def entity_written(
    conn: AsyncConnection, org_id: str, spec: EntitySpec, entity: Mapping[str, Any]
) -> None:
    """Recompute an entity's unfired targets, inside the transaction that writes it."""
    await target_store.lock_organization(conn, org_id, exclusive=False)
    configurations = [
        configuration
        for configuration in await _configurations(conn, org_id)
        if scheduled_entity(configuration).name == spec.name
    ]
    if configurations:
        targets = _entity_targets(org_id, configurations, spec, entity)
        await target_store.replace_entity_targets(
            conn, org_id, spec.name, str(entity["id"]), targets
        )


async def entity_deleted(
    conn: AsyncConnection, org_id: str, spec: EntitySpec, entity_id: str
) -> None:
    """Nothing fires for a deleted entity: drop its unfired targets, in the delete's
    transaction."""
    await target_store.lock_organization(conn, org_id, exclusive=False)
    await target_store.delete_unfired_entity_targets(conn, org_id, spec.name, entity_id)
