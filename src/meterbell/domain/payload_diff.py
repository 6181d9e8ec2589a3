"""The fields of an event's old and new payloads side by side, with those that changed
marked: pure, for the console's event page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldChange:
    path: str  # dotted, e.g. `customFields.tier`; a list is one field
    old: Any  # None also where the field is absent
    new: Any
    changed: bool


def _flat(value: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """Every leaf of `value` by its dotted path (an empty object is a leaf)."""
    leaves: dict[str, Any] = {}
    for key, item in (value or {}).items():
        path = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            leaves.update(_flat(item, f"{path}."))
        else:
            leaves[path] = item
    return leaves


def field_changes(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> list[FieldChange]:
    """Each field of either payload, by path, with its old and new value and whether it
    changed (present in one only, or different)."""
    before, after = _flat(old), _flat(new)
    return [
        FieldChange(
            path,
            before.get(path),
            after.get(path),
            path not in before or path not in after or before[path] != after[path],
        )
        for path in sorted(before.keys() | after.keys())
    ]
