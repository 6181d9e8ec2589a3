"""Valid request bodies for any entity, built from its request schema (required fields only)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from typing import Any

from meterbell.domain.catalog import EntitySpec

_counter = itertools.count(1)


def value_for(schema: Mapping[str, Any], name: str = "") -> Any:
    """The simplest value the schema accepts."""
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return value_for(schema["anyOf"][0], name)
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        return {
            key: value_for(schema["properties"][key], key) for key in schema.get("required", [])
        }
    if kind == "array":
        count = schema.get("minItems", 0)
        return [value_for(schema.get("items", {}), name) for _ in range(count)]
    if kind in ("number", "integer"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        return int(low) + 1 if kind == "integer" else float(low) + 1.5
    if kind == "boolean":
        return True
    return _string_for(schema, name)


def _string_for(schema: Mapping[str, Any], name: str) -> str:
    if schema.get("format") == "date":
        return "2026-01-01"
    if schema.get("format") == "date-time":
        return "2026-01-01T00:00:00Z"
    if schema.get("minLength") == 36 or name.endswith("Id"):
        return str(uuid.uuid4())
    if name == "emailAddress":
        return "billing@example.com"
    if name == "currency":
        return "USD"
    if name == "code":
        return f"code_{next(_counter)}"
    text = f"{name or 'value'}-{next(_counter)}"
    return text[: schema.get("maxLength", len(text))]


def minimal_body(spec: EntitySpec) -> dict[str, Any]:
    schema = spec.schema
    body = {key: value_for(schema["properties"][key], key) for key in spec.required}
    if spec.has_code and "code" not in body:
        body["code"] = _string_for({}, "code")
    return body


def entity_path(spec: EntitySpec) -> str:
    """Where the API serves an entity type: its m3ter path, or the extension path."""
    return spec.path or f"extension/entities/{spec.name}"
