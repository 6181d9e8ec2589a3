"""List requests: filters from query parameters, shared by every entity list endpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from meterbell.domain.catalog import EntitySpec, FilterOp
from meterbell.domain.errors import InvalidRequest

Choice = TypeVar("Choice", bound=StrEnum)


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


def choice_param(
    query: Mapping[str, Sequence[str]], name: str, choices: type[Choice]
) -> Choice | None:
    """A query parameter that must be one of an enum's values (None when absent)."""
    raw = query.get(name, [""])[-1]
    if not raw:
        return None
    try:
        return choices(raw)
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be one of: {', '.join(choices)}") from exc
