"""Generate the entity catalog (src/meterbell/domain/entity_catalog.json) from m3ter's OpenAPI spec.

The catalog describes every entity type whose changes m3ter announces as events: its event word,
its m3ter path, the JSON Schema of its create/update body, its required fields, the fields it
returns (with m3ter's /events/fields type words) and the filters of its list endpoint.

    python scripts/gen_catalog.py [--spec PATH] [--out PATH]

The output is deterministic (sorted keys, stable order) so it can be committed and diffed.
The generator fails loudly on anything in the spec it does not know how to translate.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = REPO_ROOT.parent / "shared" / "reference" / "m3ter-openapi.json"
DEFAULT_OUT = REPO_ROOT / "src" / "meterbell" / "domain" / "entity_catalog.json"

ORG_PREFIX = "/organizations/{orgId}/"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ENTITY_EVENT_CATEGORIES = ("billing", "configuration")

# Fields the service itself manages on every entity, typed as the API returns them.
AUDIT_FIELDS: Mapping[str, tuple[str, str | None]] = {
    "id": ("string", "uuid"),
    "version": ("long", None),
    "dtCreated": ("string", "date-time"),
    "dtLastModified": ("string", "date-time"),
    "createdBy": ("string", None),
    "lastModifiedBy": ("string", None),
}
SERVER_MANAGED = frozenset(AUDIT_FIELDS) - {"version"}

KEPT_FORMATS = frozenset({"date", "date-time"})
COPIED_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "required",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
    }
)
# `pattern`s are Java regexes (the service checks `code` itself); the rest is documentation.
DROPPED_KEYWORDS = frozenset(
    {"description", "example", "title", "pattern", "default", "deprecated"}
)
TRANSLATED_AFTER = frozenset({"nullable", "exclusiveMinimum"})


@dataclass(frozen=True)
class EntityDef:
    """One entity type. `spec_path` is where its operations live in the spec (defaults to `path`);
    `request`/`response` name component schemas for entities without usable operations."""

    name: str
    title: str
    category: str
    path: str | None = None
    singleton: bool = False
    spec_path: str | None = None
    request: str | None = None
    response: str | None = None
    required: tuple[str, ...] | None = None


ENTITIES: tuple[EntityDef, ...] = (
    # configuration.*
    EntityDef("account", "Account", "configuration", "accounts"),
    EntityDef("accountplan", "AccountPlan", "configuration", "accountplans"),
    EntityDef("aggregation", "Aggregation", "configuration", "aggregations"),
    # No alert resource exists in the spec or any SDK: open schema, audit fields only.
    EntityDef("alert", "Alert", "configuration"),
    EntityDef("commitment", "Commitment", "configuration", "commitments"),
    EntityDef(
        "compoundaggregation", "CompoundAggregation", "configuration", "compoundaggregations"
    ),
    EntityDef("contract", "Contract", "configuration", "contracts"),
    EntityDef("counter", "Counter", "configuration", "counters"),
    EntityDef("counterpricing", "CounterPricing", "configuration", "counterpricings"),
    EntityDef("creditreason", "CreditReason", "configuration", "picklists/creditreasons"),
    EntityDef("customfield", "CustomField", "configuration", "customfields", singleton=True),
    EntityDef("meter", "Meter", "configuration", "meters"),
    # Meter groups are only visible as MeterGroupResponse (no request schema, no path).
    EntityDef("metergroup", "MeterGroup", "configuration", response="MeterGroupResponse"),
    EntityDef("organization", "Organization", "configuration", response="OrganizationResponse"),
    EntityDef(
        "organizationconfig",
        "OrganizationConfig",
        "configuration",
        "organizationconfig",
        singleton=True,
    ),
    EntityDef("plan", "Plan", "configuration", "plans"),
    EntityDef("plangroup", "PlanGroup", "configuration", "plangroups"),
    EntityDef("plangrouplink", "PlanGroupLink", "configuration", "plangrouplinks"),
    EntityDef("plantemplate", "PlanTemplate", "configuration", "plantemplates"),
    EntityDef("pricing", "Pricing", "configuration", "pricings"),
    # Pricing bands are the items of Pricing.pricingBands.
    EntityDef(
        "pricingband",
        "PricingBand",
        "configuration",
        request="PricingBand",
        response="PricingBandResponse",
    ),
    EntityDef("product", "Product", "configuration", "products"),
    EntityDef("transactiontype", "TransactionType", "configuration", "picklists/transactiontypes"),
    # billing.*
    EntityDef("balance", "Balance", "billing", "balances"),
    # No schema of its own; m3ter's docs describe balanceamount events as being about a Balance
    # whose amount changed, so its fields are the Balance's (inference, not spec text).
    EntityDef("balanceamount", "BalanceAmount", "billing", response="BalanceResponse"),
    # Bills have no create request in m3ter (its billing engine produces them). Here a billing
    # system pushes them, so the body schema is built from the BillResponse fields and only the
    # three fields that define a bill's period and owner are required.
    EntityDef("bill", "Bill", "billing", "bills", required=("accountId", "endDate", "startDate")),
    EntityDef("billconfig", "BillConfig", "billing", "billconfig", singleton=True),
    EntityDef("billjob", "BillJob", "billing", "billjobs"),
    EntityDef("charge", "Charge", "billing", "charges"),
    EntityDef("counteradjustment", "CounterAdjustment", "billing", "counteradjustments"),
    EntityDef(
        "scheduledbalancecharge",
        "ScheduledBalanceCharge",
        "billing",
        spec_path="balances/{balanceId}/balancechargeschedules",
    ),
    EntityDef(
        "scheduledbalancetransaction",
        "ScheduledBalanceTransaction",
        "billing",
        spec_path="balances/{balanceId}/balancetransactionschedules",
    ),
    # The spec has GET/POST /statementjobs but no PUT or DELETE; served on the extension path.
    EntityDef("statementjob", "StatementJob", "billing", spec_path="statementjobs"),
)

# List query parameters that are not entity filters, or whose meaning cannot be expressed as
# eq / in / contains / gte / lt on one field. Keyed by parameter, or by (spec path, parameter).
PAGING_PARAMS = frozenset({"pageSize", "nextToken", "ids"})
ACTIVE_ON_DATE = "active on a date: startDate <= date < endDate spans two fields"
SKIPPED_PARAMS: Mapping[str | tuple[str, str], str] = {
    ("accountplans", "date"): ACTIVE_ON_DATE,
    ("commitments", "date"): ACTIVE_ON_DATE,
    ("counterpricings", "date"): ACTIVE_ON_DATE,
    ("pricings", "date"): ACTIVE_ON_DATE,
    "includeall": "switches the default 'currently active only' restriction of `account`",
    "archived": "true includes archived items, false excludes them (not an equality)",
    "active": "'not completed or cancelled', derived from status (not a field)",
    "sortOrder": "ordering, not a filter",
    "excludeLineItems": "response shaping, not a filter",
    "includeBillTotal": "response shaping, not a filter",
    "additional": "response shaping, not a filter",
    ("bills", "locked"): "true includes locked bills, false excludes them (not an equality)",
    ("balances", "contract"): "undocumented; contractId is the documented filter",
    ("aggregations", "productId"): "Aggregation has no productId field",
    ("counteradjustments", "endDateStart"): "CounterAdjustment has no endDate field",
    ("counteradjustments", "endDateEnd"): "CounterAdjustment has no endDate field",
}
PARAM_FIELDS: Mapping[str | tuple[str, str], str] = {
    "codes": "code",
    "account": "accountId",
    "plan": "planId",
    "product": "productId",
    "planGroup": "planGroupId",
    "contract": "contractId",
    ("statementjobs", "status"): "statementJobStatus",
}


class SpecError(Exception):
    """The spec contains something this generator does not know how to translate."""


@dataclass(frozen=True)
class Spec:
    paths: Mapping[str, Any]
    schemas: Mapping[str, Any]

    def operation(self, path: str, method: str) -> Mapping[str, Any] | None:
        op: Mapping[str, Any] | None = self.paths.get(ORG_PREFIX + path, {}).get(method)
        return op

    def schema_ref(self, node: Mapping[str, Any] | None) -> str | None:
        if node is None or "$ref" not in node:
            return None
        return str(node["$ref"]).rsplit("/", 1)[-1]

    def body_schema(self, path: str, method: str) -> str | None:
        op = self.operation(path, method)
        content = op.get("requestBody", {}).get("content", {}) if op else {}
        return self.schema_ref(content.get("application/json", {}).get("schema"))

    def response_schema(self, path: str, method: str) -> str | None:
        op = self.operation(path, method)
        content = op.get("responses", {}).get("200", {}).get("content", {}) if op else {}
        return self.schema_ref(content.get("application/json", {}).get("schema"))


# --- OpenAPI 3.0 -> JSON Schema 2020-12 ---------------------------------------------------------


def resolve(spec: Spec, node: Mapping[str, Any], seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """Inline `$ref` (OpenAPI 3.0 ignores its siblings) and merge `allOf` parts into one schema."""
    ref = spec.schema_ref(node)
    if ref is not None:
        if ref in seen:
            raise SpecError(f"recursive schema: {' -> '.join((*seen, ref))}")
        return resolve(spec, spec.schemas[ref], (*seen, ref))
    if "allOf" not in node:
        return dict(node)
    merged: dict[str, Any] = {}
    own = {key: value for key, value in node.items() if key != "allOf"}
    for part in [*(resolve(spec, sub, seen) for sub in node["allOf"]), own]:
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = sorted({*merged.get("required", []), *value})
            else:
                merged[key] = value
    return merged


def to_json_schema(spec: Spec, node: Mapping[str, Any]) -> dict[str, Any]:
    """Translate one (resolved) OpenAPI schema node, recursively, keeping validation keywords."""
    source = resolve(spec, node)
    out: dict[str, Any] = {}
    for key, value in source.items():
        if key in COPIED_KEYWORDS:
            out[key] = value
        elif key == "format":
            if value in KEPT_FORMATS:
                out[key] = value
        elif key == "properties":
            out[key] = {name: to_json_schema(spec, sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = to_json_schema(spec, value)
        elif key == "anyOf":
            out[key] = [to_json_schema(spec, sub) for sub in value]
        elif key == "additionalProperties":
            if isinstance(value, Mapping):  # `false` is dropped: unknown fields are kept
                out[key] = to_json_schema(spec, value)
        elif key not in DROPPED_KEYWORDS | TRANSLATED_AFTER and not key.startswith("x-"):
            raise SpecError(f"untranslated schema keyword {key!r}")
    apply_exclusive_minimum(source, out)
    apply_nullable(source, out)
    apply_object_sizes(out)
    return out


def apply_exclusive_minimum(source: Mapping[str, Any], out: dict[str, Any]) -> None:
    """OpenAPI 3.0 `exclusiveMinimum: true` + `minimum: n` is 2020-12 `exclusiveMinimum: n`."""
    if source.get("exclusiveMinimum") is True:
        out["exclusiveMinimum"] = out.pop("minimum")


def apply_nullable(source: Mapping[str, Any], out: dict[str, Any]) -> None:
    """OpenAPI 3.0 `nullable: true` is a 2020-12 type list that includes "null"."""
    if source.get("nullable") is True and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]


def apply_object_sizes(out: dict[str, Any]) -> None:
    """The spec caps maps (customFields) with minItems/maxItems, which only apply to arrays."""
    if out.get("type") == "object":
        for array_key, object_key in (("minItems", "minProperties"), ("maxItems", "maxProperties")):
            if array_key in out:
                out[object_key] = out.pop(array_key)


# --- fields ---------------------------------------------------------------------------------


def field_type(schema: Mapping[str, Any]) -> tuple[str, str | None]:
    """m3ter's /events/fields type word (and date format) for one resolved property schema."""
    kind = schema.get("type")
    fmt = schema.get("format") if schema.get("format") in KEPT_FORMATS else None
    if kind == "string":
        return "string", fmt
    if kind == "integer":
        return ("long" if schema.get("format") == "int64" else "int"), None
    words = {"number": "double", "boolean": "boolean", "object": "map", "array": "array"}
    if kind not in words:
        raise SpecError(f"no field type for schema {dict(schema)}")
    return words[kind], None


def schema_fields(spec: Spec, schema_name: str | None) -> dict[str, tuple[str, str | None]]:
    if schema_name is None:
        return {}
    properties = resolve(spec, spec.schemas[schema_name]).get("properties", {})
    return {name: field_type(resolve(spec, prop)) for name, prop in properties.items()}


def example_event_fields(spec: Spec) -> dict[str, dict[str, tuple[str, str | None]]]:
    """Entity fields from the EventFieldsResponse example (it lists e.g. commitment's accountCode
    and customFields, which the Commitment REST schemas lack)."""
    example = spec.schemas["EventFieldsResponse"]["example"]["events"]
    found: dict[str, dict[str, tuple[str, str | None]]] = {}
    for event_name, fields in example.items():
        entity = event_name.split(".")[1]
        for path, word in fields.items():
            found.setdefault(entity, {})[path.split(".", 1)[1]] = (word, None)
    return found


def entity_fields(
    spec: Spec, request: str | None, response: str | None, extra: Mapping[str, Any]
) -> dict[str, dict[str, str | None]]:
    """Response fields, then request-only fields, then fields only the event example names,
    then the audit fields the service manages; the example's type words must agree."""
    fields = {**extra, **schema_fields(spec, request), **schema_fields(spec, response)}
    for name, (word, _) in extra.items():
        if fields[name][0] != word:
            raise SpecError(f"event example types {name} as {word}, the schemas as {fields[name]}")
    fields.update(AUDIT_FIELDS)
    return {name: {"type": word, "format": fmt} for name, (word, fmt) in sorted(fields.items())}


# --- list filters ---------------------------------------------------------------------------


def lookup(table: Mapping[str | tuple[str, str], str], path: str, param: str) -> str | None:
    return table.get((path, param), table.get(param))


def list_filters(
    spec: Spec, spec_path: str, fields: Mapping[str, Mapping[str, str | None]]
) -> tuple[list[dict[str, str]], list[str]]:
    """Map the list endpoint's query parameters to (param, field, op); also report the skipped."""
    op = spec.operation(spec_path, "get")
    params = [p for p in (op or {}).get("parameters", []) if p.get("in") == "query"]
    mapped: list[dict[str, str]] = []
    skipped: list[str] = []
    for param in params:
        name = param["name"]
        reason = lookup(SKIPPED_PARAMS, spec_path, name)
        if reason is not None:
            skipped.append(f"{spec_path}?{name}: {reason}")
        elif name not in PAGING_PARAMS:
            mapped.append(map_filter(spec_path, name, param.get("schema", {}), fields))
    return sorted(mapped, key=lambda f: f["param"]), skipped


def map_filter(
    spec_path: str,
    param: str,
    param_schema: Mapping[str, Any],
    fields: Mapping[str, Mapping[str, str | None]],
) -> dict[str, str]:
    field = lookup(PARAM_FIELDS, spec_path, param) or param
    op = "in" if param_schema.get("type") == "array" else "eq"
    for suffix, range_op in (("Start", "gte"), ("End", "lt")):
        if field not in fields and field.endswith(suffix):
            field, op = field.removesuffix(suffix), range_op
    if field not in fields and f"{field}s" in fields:
        field, op = f"{field}s", "contains"
    if field not in fields:
        raise SpecError(f"{spec_path}?{param}: no entity field {field!r}")
    if op in ("gte", "lt") and fields[field]["format"] not in KEPT_FORMATS:
        raise SpecError(f"{spec_path}?{param}: range on non-date field {field!r}")
    if (op == "contains") != (fields[field]["type"] == "array"):
        raise SpecError(f"{spec_path}?{param}: {op} does not fit field {field!r}")
    return {"param": param, "field": field, "op": op}


# --- entities -------------------------------------------------------------------------------


def request_and_response(spec: Spec, entity: EntityDef) -> tuple[str | None, str | None]:
    spec_path = entity.spec_path or entity.path
    if spec_path is None:
        return entity.request, entity.response
    if entity.singleton:
        return spec.body_schema(spec_path, "put"), spec.response_schema(spec_path, "get")
    request = spec.body_schema(spec_path, "post")
    return request, spec.response_schema(f"{spec_path}/{{id}}", "get")


def body_schema(
    spec: Spec, entity: EntityDef, request: str | None, response: str | None
) -> dict[str, Any]:
    """JSON Schema of the create/update body, with its top-level `required` list settled."""
    if request is not None:
        schema = to_json_schema(spec, spec.schemas[request])
    elif response is not None:  # no request schema: accept what the API would return
        schema = to_json_schema(spec, spec.schemas[response])
        for name in SERVER_MANAGED:
            schema.get("properties", {}).pop(name, None)
        schema.pop("required", None)  # a response's required `id` says nothing about bodies
    else:
        schema = {"type": "object"}
    declared = schema.pop("required", [])
    required = sorted(set(declared if entity.required is None else entity.required) - {"version"})
    if required:
        schema["required"] = required
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def add_returned_formats(
    schema: dict[str, Any], fields: Mapping[str, Mapping[str, str | None]]
) -> None:
    """A body string m3ter returns as a date or date-time must be one: m3ter's request schemas
    leave some plain strings (CounterAdjustment.date, Charge.billDate) that its responses, and
    its SDK, type as dates."""
    for name, prop in schema.get("properties", {}).items():
        returned = fields.get(name, {}).get("format")
        if returned in KEPT_FORMATS and prop.get("type") == "string" and "format" not in prop:
            prop["format"] = returned


def build_entity(
    spec: Spec, entity: EntityDef, example_fields: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    request, response = request_and_response(spec, entity)
    schema = body_schema(spec, entity, request, response)
    fields = entity_fields(spec, request, response, example_fields.get(entity.name, {}))
    add_returned_formats(schema, fields)
    spec_path = entity.spec_path or entity.path
    filters, skipped = list_filters(spec, spec_path, fields) if spec_path else ([], [])
    record = {
        "name": entity.name,
        "title": entity.title,
        "category": entity.category,
        "path": entity.path,
        "singleton": entity.singleton,
        "schema": schema,
        "required": schema.get("required", []),
        "fields": fields,
        "list_filters": filters,
        "has_code": "code" in fields,
    }
    return record, skipped


def spec_event_types(spec: Spec) -> list[str]:
    return sorted(spec.schemas["EventTypeResponse"]["example"]["events"])


def check_entity_words(spec: Spec) -> None:
    """The entity table must cover exactly the entity words of m3ter's event-type list."""
    expected = {
        tuple(name.split(".")[:2])
        for name in spec_event_types(spec)
        if name.split(".")[0] in ENTITY_EVENT_CATEGORIES
    }
    declared = {(entity.category, entity.name) for entity in ENTITIES}
    if expected != declared:
        raise SpecError(f"entity table differs from the spec: {sorted(expected ^ declared)}")


def error_event_types(spec: Spec) -> list[str]:
    return [n for n in spec_event_types(spec) if n.split(".")[0] not in ENTITY_EVENT_CATEGORIES]


def build_catalog(spec_file: Path) -> tuple[dict[str, Any], list[str]]:
    raw = spec_file.read_bytes()
    document = json.loads(raw)
    spec = Spec(paths=document["paths"], schemas=document["components"]["schemas"])
    check_entity_words(spec)
    example_fields = example_event_fields(spec)
    entities: list[dict[str, Any]] = []
    skipped: list[str] = []
    for entity in sorted(ENTITIES, key=lambda e: e.name):
        record, entity_skipped = build_entity(spec, entity, example_fields)
        entities.append(record)
        skipped.extend(entity_skipped)
    catalog = {
        "source": {
            "generator": "scripts/gen_catalog.py",
            "spec": spec_file.name,
            "sha256": hashlib.sha256(raw).hexdigest(),
        },
        "error_event_types": error_event_types(spec),
        "entities": entities,
    }
    return catalog, skipped


def write_json(data: Mapping[str, Any], out: Path) -> None:
    out.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def report(lines: Iterable[str]) -> None:
    for line in lines:
        print(f"skipped list filter {line}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="m3ter OpenAPI JSON")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="catalog JSON to write")
    args = parser.parse_args(argv)
    catalog, skipped = build_catalog(args.spec)
    write_json(catalog, args.out)
    report(skipped)
    print(f"wrote {len(catalog['entities'])} entities to {args.out}")


if __name__ == "__main__":
    main()
