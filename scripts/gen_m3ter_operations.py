"""Generate src/meterbell/api/m3ter_operations.json from m3ter's OpenAPI spec: for every m3ter
operation in a resource family meterbell serves, m3ter's query parameters, request body and
200 response schema, and every component schema these refer to (translated from OpenAPI 3.0 to
the JSON Schema 2020-12 of OpenAPI 3.1). api/openapi.py puts them in meterbell's document.

    python scripts/gen_m3ter_operations.py [--spec PATH] [--out PATH]

The output is deterministic (sorted keys) so it can be committed and diffed.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from meterbell.api.openapi import served_operations
from meterbell.app import create_app
from meterbell.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = REPO_ROOT.parent / "shared" / "reference" / "m3ter-openapi.json"
DEFAULT_OUT = REPO_ROOT / "src" / "meterbell" / "api" / "m3ter_operations.json"
SCHEMA_REF = "#/components/schemas/"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch"})
# Annotations for m3ter's SDK generator, meaningless here; `pattern`s are Java regexes (which
# JSON Schema cannot read; the service checks `code` itself, as the entity catalog says).
DROPPED_PREFIX = "x-stainless"
DROPPED_KEYWORDS = frozenset({"nullable", "pattern"})
LENGTHS = frozenset({"minLength", "maxLength"})
JAVA_COLLECTION = re.compile(r"(?:Abstract)?(?:Array)?(?:List|Collection|Set)_(\w+)_")


def to_json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema 2020-12: `nullable` becomes a null type, a boolean
    `exclusiveMinimum` a number; no Java `pattern`."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    schema = {
        key: value if key in ("example", "enum") else to_json_schema(value)
        for key, value in node.items()
        if not key.startswith(DROPPED_PREFIX) and key not in DROPPED_KEYWORDS
    }
    if schema.get("exclusiveMinimum") is True:
        schema["exclusiveMinimum"] = schema.pop("minimum", 0)
    return or_null(schema) if node.get("nullable") is True else schema


def or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, or null."""
    if isinstance(schema.get("type"), str) and "enum" not in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def as_read(schema: dict[str, Any]) -> dict[str, Any]:
    """A response schema as m3ter's SDK (generated from this spec) reads it: every property the
    schema does not require may also be null (`Optional[...] = None`), as in m3ter's answers and
    meterbell's (e.g. a job's `startedAt` before it starts); and it checks types, not the
    lengths a request must respect (a rule created without a calculation answers "")."""
    parts = [schema, *(part for part in schema.get("allOf", []) if "$ref" not in part)]
    required = {name for part in parts for name in part.get("required", [])}

    def read(name: str, prop: dict[str, Any]) -> dict[str, Any]:
        unbounded = {key: value for key, value in prop.items() if key not in LENGTHS}
        return unbounded if name in required else or_null(unbounded)

    def read_part(part: dict[str, Any]) -> dict[str, Any]:
        if "properties" not in part:
            return part
        return {**part, "properties": {n: read(n, p) for n, p in part["properties"].items()}}

    read_schema = read_part(schema)
    if "allOf" in schema:
        read_schema["allOf"] = [read_part(part) for part in schema["allOf"]]
    return read_schema


def java_collection(name: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON array a Java collection schema describes, if it is one: m3ter's spec describes
    `ArrayList<ConfigSetting>` (and `ConfigOptions`, which extends it) as an object with an
    `empty` flag, where m3ter answers an array."""
    found = JAVA_COLLECTION.fullmatch(name)
    if found is not None:
        item = found.group(1)
        return {"type": "array", "items": {"type": "string"} if item == "String" else {}}
    parts = [str(part.get("$ref", "")).removeprefix(SCHEMA_REF) for part in schema.get("allOf", [])]
    if parts and all(JAVA_COLLECTION.fullmatch(part) for part in parts):
        return java_collection(parts[0], {})
    return None


def refs_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMA_REF):
            yield ref.removeprefix(SCHEMA_REF)
        for value in node.values():
            yield from refs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs_in(item)


def referenced_schemas(roots: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    pending = list(refs_in(roots))
    while pending:
        name = pending.pop()
        if name not in found:
            found[name] = java_collection(name, schemas[name]) or to_json_schema(schemas[name])
            if name.endswith("Response"):
                found[name] = as_read(found[name])
            pending.extend(refs_in(found[name]))
    return found


def json_content_schema(node: dict[str, Any] | None) -> Any:
    return to_json_schema((node or {}).get("content", {}).get("application/json", {}).get("schema"))


def operation_parts(operation: dict[str, Any]) -> dict[str, Any]:
    parts: dict[str, Any] = {
        "parameters": [
            to_json_schema(parameter)
            for parameter in operation.get("parameters", [])
            if parameter["in"] == "query"
        ],
        "response": json_content_schema(operation["responses"].get("200")),
    }
    if "requestBody" in operation:
        parts["requestBody"] = to_json_schema(operation["requestBody"])
    return parts


def family(path: str) -> str:
    """The resource family of a path (its first segment below the organization): m3ter's
    operations are vendored for every family meterbell serves, so a route added to one finds
    its operation without regenerating."""
    return path.removeprefix("/organizations/{orgId}").split("/")[1]


def generate(spec: dict[str, Any]) -> dict[str, Any]:
    app = create_app(Settings(data_dir=Path(tempfile.mkdtemp())), run_workers=False)
    families = {family(path) for _, path in served_operations(app)}
    operations = {
        f"{method} {path}": operation_parts(operation)
        for path, item in spec["paths"].items()
        if family(path) in families
        for method, operation in item.items()
        if method in HTTP_METHODS
    }
    schemas = referenced_schemas(operations, spec["components"]["schemas"])
    return {"operations": operations, "schemas": schemas}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    result = generate(json.loads(args.spec.read_text("utf-8")))
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", "utf-8")
    print(f"{len(result['operations'])} operations, {len(result['schemas'])} schemas -> {args.out}")


if __name__ == "__main__":
    main()
