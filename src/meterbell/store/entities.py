"""Queries on the generic entity table: one row per entity, its public form kept as JSON."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, insert, select, type_coerce, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.listing import FieldFilter
from meterbell.store.tables import entities, entity_fields_seen


def _field_text(field: str) -> ColumnElement[Any]:
    if field == "id":
        return entities.c.id
    if field == "code":
        return entities.c.code
    text: ColumnElement[Any] = entities.c.data[field].as_string()
    return text


def _array_contains(field: str, value: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return type_coerce(entities.c.data, JSONB)[field].contains([value])
    elements = func.json_each(entities.c.data, f"$.{field}").table_valued("value")
    return exists(select(1).select_from(elements).where(elements.c.value == value))


def _condition(flt: FieldFilter, dialect: str) -> ColumnElement[bool]:
    column = _field_text(flt.field)
    if flt.op == "in":
        return column.in_(flt.values)
    if flt.op == "gte":
        return column >= flt.values[0]
    if flt.op == "lt":
        return column < flt.values[0]
    if flt.op == "is":
        flag: ColumnElement[bool] = entities.c.data[flt.field].as_boolean()
        return flag.is_(flt.values[0] == "true")
    if flt.op == "contains":
        return _array_contains(flt.field, flt.values[0], dialect)
    return column == flt.values[0]


async def insert_entity(
    conn: AsyncConnection, org_id: str, entity_type: str, entity: Mapping[str, Any]
) -> None:
    await conn.execute(
        insert(entities).values(
            org_id=org_id,
            entity_type=entity_type,
            id=entity["id"],
            code=entity.get("code") if isinstance(entity.get("code"), str) else None,
            version=entity["version"],
            data=dict(entity),
        )
    )


def _key(org_id: str, entity_type: str, entity_id: str) -> ColumnElement[bool]:
    return (
        (entities.c.org_id == org_id)
        & (entities.c.entity_type == entity_type)
        & (entities.c.id == entity_id)
    )


async def get_entity(
    conn: AsyncConnection, org_id: str, entity_type: str, entity_id: str
) -> dict[str, Any] | None:
    row = (
        await conn.execute(select(entities.c.data).where(_key(org_id, entity_type, entity_id)))
    ).first()
    return dict(row.data) if row else None


async def replace_entity(
    conn: AsyncConnection,
    org_id: str,
    entity_type: str,
    entity: Mapping[str, Any],
    expected_version: int,
) -> bool:
    """Write the new form if the stored version is still `expected_version`."""
    result = await conn.execute(
        update(entities)
        .where(_key(org_id, entity_type, entity["id"]) & (entities.c.version == expected_version))
        .values(
            code=entity.get("code") if isinstance(entity.get("code"), str) else None,
            version=entity["version"],
            data=dict(entity),
        )
    )
    return result.rowcount == 1


async def delete_entity(
    conn: AsyncConnection, org_id: str, entity_type: str, entity_id: str
) -> bool:
    result = await conn.execute(delete(entities).where(_key(org_id, entity_type, entity_id)))
    return result.rowcount == 1


async def list_entities(
    conn: AsyncConnection,
    org_id: str,
    entity_type: str,
    *,
    filters: Sequence[FieldFilter],
    before_seq: int | None,
    limit: int,
) -> list[tuple[int, dict[str, Any]]]:
    """Newest first; `before_seq` continues a previous page."""
    query = select(entities.c.seq, entities.c.data).where(
        (entities.c.org_id == org_id) & (entities.c.entity_type == entity_type)
    )
    for flt in filters:
        query = query.where(_condition(flt, conn.dialect.name))
    if before_seq is not None:
        query = query.where(entities.c.seq < before_seq)
    rows = await conn.execute(query.order_by(entities.c.seq.desc()).limit(limit))
    return [(row.seq, dict(row.data)) for row in rows]


async def record_fields_seen(
    conn: AsyncConnection, org_id: str, entity_type: str, fields: Mapping[str, str]
) -> None:
    """Remember fields an entity carried that its declaration does not list."""
    rows = [
        {"org_id": org_id, "entity_type": entity_type, "field": name, "type": kind}
        for name, kind in fields.items()
    ]
    maker = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(maker(entity_fields_seen).values(rows).on_conflict_do_nothing())


async def fields_seen(conn: AsyncConnection, org_id: str) -> dict[str, dict[str, str]]:
    rows = await conn.execute(
        select(entity_fields_seen).where(entity_fields_seen.c.org_id == org_id)
    )
    seen: dict[str, dict[str, str]] = {}
    for row in rows:
        seen.setdefault(row.entity_type, {})[row.field] = row.type
    return seen


async def documents_of_orgs(
    conn: AsyncConnection, entity_type: str, org_ids: Collection[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(org id, document) of every document of a type in the given organizations."""
    rows = await conn.execute(
        select(entities.c.org_id, entities.c.data).where(
            (entities.c.entity_type == entity_type) & (entities.c.org_id.in_(list(org_ids)))
        )
    )
    return [(row.org_id, dict(row.data)) for row in rows]


async def documents_by_id(
    conn: AsyncConnection, entity_type: str, ids: Collection[str]
) -> dict[str, dict[str, Any]]:
    """Documents of a type by id (ids are UUIDs, unique across organizations)."""
    rows = await conn.execute(
        select(entities.c.data).where(
            (entities.c.entity_type == entity_type) & (entities.c.id.in_(list(ids)))
        )
    )
    return {row.data["id"]: dict(row.data) for row in rows}
