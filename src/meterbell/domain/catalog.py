"""The entity catalog: every entity type the service stores, as m3ter describes it.

The data lives in `entity_catalog.json` next to this module, generated from m3ter's OpenAPI spec
by `scripts/gen_catalog.py`; this module only reads it (once) and exposes it as typed values.
Schemas are plain dicts so `jsonschema` can use them directly; treat them as read-only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal, get_args

FieldType = Literal["string", "double", "int", "long", "boolean", "map", "array"]
_FieldFormat = Literal["date", "date-time", "uuid"]
FilterOp = Literal["eq", "in", "contains", "gte", "lt", "is"]
_Category = Literal["configuration", "billing"]

_ACTIONS = ("created", "updated", "deleted")
_CATALOG_PACKAGE = "meterbell.domain"
_CATALOG_FILE = "entity_catalog.json"


@dataclass(frozen=True)
class FieldSpec:
    """One top-level field of an entity as the API returns it, typed with m3ter's type words
    (as served by /events/fields: int is int32, long is int64, map is a JSON object)."""

    name: str
    type: FieldType
    format: _FieldFormat | None


@dataclass(frozen=True)
class ListFilter:
    """A list-endpoint query parameter and how it selects entities.

    eq: field == value; in: field is one of a comma-separated list; contains: the array field
    holds the value; gte / lt: date or date-time field >= value (…Start) or < value (…End).
    """

    param: str
    field: str
    op: FilterOp


@dataclass(frozen=True)
class EntitySpec:
    """An entity type: its event word (`name`), m3ter path (None: extension path only), body
    schema (JSON Schema 2020-12), create-required fields, returned fields and list filters."""

    name: str
    title: str
    category: _Category
    path: str | None
    singleton: bool
    schema: Mapping[str, Any]
    required: tuple[str, ...]
    fields: Mapping[str, FieldSpec]
    list_filters: tuple[ListFilter, ...]
    has_code: bool


@dataclass(frozen=True)
class _Catalog:
    entities: tuple[EntitySpec, ...]
    by_name: Mapping[str, EntitySpec]
    by_path: Mapping[str, EntitySpec]
    event_types: tuple[str, ...]


def all_entities() -> tuple[EntitySpec, ...]:
    """Every entity type, sorted by name."""
    return _catalog().entities


# Entities with an API of their own: organizations (the CLI), alerts (raised by the engine).
NOT_CRUD = frozenset({"organization", "alert"})


def crud_entities() -> tuple[EntitySpec, ...]:
    """The entity types clients create, read, update and delete through the entity routes."""
    return tuple(spec for spec in all_entities() if spec.name not in NOT_CRUD)


def entity_by_name(name: str) -> EntitySpec:
    """The entity type with this event word (e.g. "commitment"); KeyError if unknown."""
    return _catalog().by_name[name]


def entity_by_path(path: str) -> EntitySpec | None:
    """The entity type served at this path under /organizations/{orgId}/, if any."""
    return _catalog().by_path.get(path)


def event_types() -> tuple[str, ...]:
    """Every entity event type ("<category>.<name>.<action>") and error event type, sorted."""
    return _catalog().event_types


@cache
def _catalog() -> _Catalog:
    raw = json.loads(resources.files(_CATALOG_PACKAGE).joinpath(_CATALOG_FILE).read_text("utf-8"))
    entities = tuple(_entity(record) for record in raw["entities"])
    entity_events = (f"{e.category}.{e.name}.{action}" for e in entities for action in _ACTIONS)
    return _Catalog(
        entities=entities,
        by_name=MappingProxyType({e.name: e for e in entities}),
        by_path=MappingProxyType({e.path: e for e in entities if e.path is not None}),
        event_types=tuple(sorted([*entity_events, *raw["error_event_types"]])),
    )


def _entity(record: Mapping[str, Any]) -> EntitySpec:
    fields = {
        name: FieldSpec(
            name=name,
            type=_literal(FieldType, spec["type"]),
            format=None if spec["format"] is None else _literal(_FieldFormat, spec["format"]),
        )
        for name, spec in record["fields"].items()
    }
    filters = tuple(
        ListFilter(param=f["param"], field=f["field"], op=_literal(FilterOp, f["op"]))
        for f in record["list_filters"]
    )
    return EntitySpec(
        name=record["name"],
        title=record["title"],
        category=_literal(_Category, record["category"]),
        path=record["path"],
        singleton=record["singleton"],
        schema=record["schema"],
        required=tuple(record["required"]),
        fields=MappingProxyType(fields),
        list_filters=filters,
        has_code=record["has_code"],
    )


def _literal(literal_type: Any, value: str) -> Any:
    """`value`, checked to be one of the `literal_type` strings."""
    if value not in get_args(literal_type):
        raise ValueError(f"{value!r} is not one of {get_args(literal_type)}")
    return value
