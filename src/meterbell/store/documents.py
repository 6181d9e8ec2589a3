"""Queries on the generic entity table: one row per entity, its public form kept as JSON."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.documents import DELIVERY_CONFIG_KINDS
from meterbell.domain.listing import FieldFilter
from meterbell.store.tables import Json, delivery_config_revisions, entities, entity_fields_seen
from meterbell.store.upsert import insert_or_merge


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
    await _note_write(conn, org_id, entity_type)
    await conn.execute(
        insert(entities).values(
            org_id=org_id,
            entity_type=entity_type,
            id=entity["id"],
            code=_code(entity),
            version=entity["version"],
            data=dict(entity),
        )
    )


def _code(entity: Mapping[str, Any]) -> str | None:
    code = entity.get("code")
    return code if isinstance(code, str) else None


# The hot statements are built once, with bound parameters: building a SQLAlchemy expression
# (and its cache key) costs more than running the statement on SQLite.
_KEY = (
    (entities.c.org_id == bindparam("key_org"))
    & (entities.c.entity_type == bindparam("key_type"))
    & (entities.c.id == bindparam("key_id"))
)
_GET = select(entities.c.data).where(_KEY)
_REPLACE = (
    update(entities)
    .where(_KEY & (entities.c.version == bindparam("expected_version")))
    .values(
        code=bindparam("new_code"),
        version=bindparam("new_version"),
        data=bindparam("new_data", type_=Json),
    )
)
_DELETE = delete(entities).where(_KEY)
_OF_ORG = select(entities.c.data).where(
    (entities.c.org_id == bindparam("of_org")) & (entities.c.entity_type == bindparam("of_type"))
)
# An expanding IN renders its SQL again on every execution: kept for several organizations.
_OF_ORGS = select(entities.c.org_id, entities.c.data).where(
    (entities.c.entity_type == bindparam("of_type"))
    & entities.c.org_id.in_(bindparam("org_ids", expanding=True))
)


def _key(org_id: str, entity_type: str, entity_id: str) -> dict[str, str]:
    return {"key_org": org_id, "key_type": entity_type, "key_id": entity_id}


async def get_entity(
    conn: AsyncConnection, org_id: str, entity_type: str, entity_id: str
) -> dict[str, Any] | None:
    row = (await conn.execute(_GET, _key(org_id, entity_type, entity_id))).first()
    return dict(row.data) if row else None


async def replace_entity(
    conn: AsyncConnection,
    org_id: str,
    entity_type: str,
    entity: Mapping[str, Any],
    expected_version: int,
) -> bool:
    """Write the new form if the stored version is still `expected_version`."""
    await _note_write(conn, org_id, entity_type)
    result = await conn.execute(
        _REPLACE,
        {
            **_key(org_id, entity_type, entity["id"]),
            "expected_version": expected_version,
            "new_code": _code(entity),
            "new_version": entity["version"],
            "new_data": dict(entity),
        },
    )
    return result.rowcount == 1


async def delete_entity(
    conn: AsyncConnection, org_id: str, entity_type: str, entity_id: str
) -> bool:
    await _note_write(conn, org_id, entity_type)
    result = await conn.execute(_DELETE, _key(org_id, entity_type, entity_id))
    return result.rowcount == 1


async def _note_write(conn: AsyncConnection, org_id: str, entity_type: str) -> None:
    if entity_type not in DELIVERY_CONFIG_KINDS:
        return
    first = insert_or_merge(conn, delivery_config_revisions).values(org_id=org_id, revision=1)
    await conn.execute(
        first.on_conflict_do_update(
            index_elements=[delivery_config_revisions.c.org_id],
            set_={"revision": delivery_config_revisions.c.revision + 1},
        )
    )


_REVISIONS = select(delivery_config_revisions).where(
    delivery_config_revisions.c.org_id.in_(bindparam("org_ids", expanding=True))
)


async def delivery_config_revision(
    conn: AsyncConnection, org_ids: Collection[str]
) -> dict[str, int]:
    """The delivery configuration revision of each organization that has one (an
    organization whose rules, integrations and webhooks were never written has none)."""
    rows = await conn.execute(_REVISIONS, {"org_ids": list(org_ids)})
    return {row.org_id: row.revision for row in rows}


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
    await conn.execute(
        insert_or_merge(conn, entity_fields_seen).values(rows).on_conflict_do_nothing()
    )


async def fields_seen(conn: AsyncConnection, org_id: str) -> dict[str, dict[str, str]]:
    rows = await conn.execute(
        select(entity_fields_seen).where(entity_fields_seen.c.org_id == org_id)
    )
    seen: dict[str, dict[str, str]] = {}
    for row in rows:
        seen.setdefault(row.entity_type, {})[row.field] = row.type
    return seen


async def documents_of_org(
    conn: AsyncConnection, entity_type: str, org_id: str
) -> list[dict[str, Any]]:
    """Every document of a type in one organization."""
    rows = await conn.execute(_OF_ORG, {"of_org": org_id, "of_type": entity_type})
    return [dict(row.data) for row in rows]


async def documents_of_orgs(
    conn: AsyncConnection, entity_type: str, org_ids: Collection[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(org id, document) of every document of a type in the given organizations."""
    rows = await conn.execute(_OF_ORGS, {"of_type": entity_type, "org_ids": list(org_ids)})
    return [(row.org_id, dict(row.data)) for row in rows]


# Scoped by organization so the unique (org_id, entity_type, id) index finds each row; ids
# alone would read the whole table.
_BY_ID = select(entities.c.org_id, entities.c.data).where(
    entities.c.org_id.in_(bindparam("by_orgs", expanding=True))
    & (entities.c.entity_type == bindparam("by_type"))
    & entities.c.id.in_(bindparam("by_ids", expanding=True))
)


async def documents_by_id(
    conn: AsyncConnection, entity_type: str, keys: Collection[tuple[str, str]]
) -> dict[str, dict[str, Any]]:
    """Documents of a type by (organization id, document id), keyed by document id."""
    if not keys:
        return {}
    wanted = set(keys)
    rows = await conn.execute(
        _BY_ID,
        {
            "by_orgs": sorted({org_id for org_id, _ in wanted}),
            "by_type": entity_type,
            "by_ids": sorted({doc_id for _, doc_id in wanted}),
        },
    )
    # The statement asks for every org x id pair; keep only the pairs asked for.
    return {
        row.data["id"]: dict(row.data) for row in rows if (row.org_id, row.data["id"]) in wanted
    }


async def documents_after(
    conn: AsyncConnection, entity_type: str, after_seq: int, limit: int
) -> list[tuple[int, str, dict[str, Any]]]:
    """(seq, org id, document) of up to `limit` documents of a type in every organization,
    in storage order from just after `after_seq`: a whole-store walk, in batches."""
    rows = await conn.execute(
        select(entities.c.seq, entities.c.org_id, entities.c.data)
        .where((entities.c.seq > after_seq) & (entities.c.entity_type == entity_type))
        .order_by(entities.c.seq)
        .limit(limit)
    )
    return [(row.seq, row.org_id, dict(row.data)) for row in rows]
