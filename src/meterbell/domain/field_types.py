"""m3ter's type words for event fields, inferred from JSON values."""

from __future__ import annotations

from typing import Any


def type_word(value: Any) -> str | None:
    """The `/events/fields` type of a JSON value; None for null (its type is unknown)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int" if -(2**31) <= value < 2**31 else "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "array"
    return "string"
