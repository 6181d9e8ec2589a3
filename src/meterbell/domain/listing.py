"""List requests: filters from query parameters, shared by every entity list endpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from meterbell.domain.catalog import EntitySpec, FilterOp


@dataclass(frozen=True)
class FieldFilter:
    """A condition on one top-level field of an entity."""

    field: str
    op: FilterOp
    values: tuple[str, ...]


def split_values(raw: Sequence[str]) -> tuple[str, ...]:
    """`ids=a,b` (how the m3ter SDK sends arrays) and `ids=a&ids=b` both give ("a", "b")."""
    return tuple(part for value in raw for part in value.split(",") if part)


def id_filters(query: Mapping[str, Sequence[str]]) -> list[FieldFilter]:
    """The `ids` filter every list endpoint takes."""
    ids = split_values(query.get("ids", ()))
    return [FieldFilter("id", "in", ids)] if ids else []


def entity_filters(spec: EntitySpec, query: Mapping[str, Sequence[str]]) -> list[FieldFilter]:
    filters = id_filters(query)
    for flt in spec.list_filters:
        values = split_values(query.get(flt.param, ()))
        if values:
            filters.append(FieldFilter(flt.field, flt.op, values))
    return filters
