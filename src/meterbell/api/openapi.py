"""The OpenAPI document at /openapi.json, true to what the routes accept and answer.

The handlers take their bodies and query lists raw and answer with ready-made responses (no
pydantic models on the hot path), so FastAPI alone would declare every 200 as a string, a 422
that is never sent, and no entity operation at all (one route serves every entity, see
routes/entities.py). This module completes FastAPI's document: every entity operation with its
own request schema; m3ter's query parameters, request body and response schemas where the route
is m3ter's (vendored in m3ter_operations.json by scripts/gen_m3ter_operations.py); our own
schemas for extensions; and the errors each operation really answers with `{"message"}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from meterbell.api.routes.entities import ITEM_METHODS, EntityPath, Operation, entity_paths
from meterbell.domain.catalog import EntitySpec, FieldType
from meterbell.domain.connectors import CONNECTORS

ORG_PREFIX = "/organizations/{orgId}"
WRITE_METHODS = frozenset({"post", "put", "delete"})
MESSAGE = "Message"
BEARER = "bearerAuth"
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "A token from POST /oauth/token; it opens its own organization's paths only",
}
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
# status -> (name in components/responses, description)
ERRORS: Mapping[int, tuple[str, str]] = {
    400: ("InvalidRequest", "The request is not valid: the message says what to fix"),
    401: ("Unauthorized", "No valid bearer token (for /oauth/token: client credentials)"),
    403: ("Forbidden", "The token is for another organization, or the link is not valid"),
    404: ("NotFound", "No such item"),
    409: ("Conflict", "The request conflicts with what is stored (stale version, duplicate code)"),
    413: ("PayloadTooLarge", "The request body is larger than the limit"),
    429: ("TooManyRequests", "Too many failed token requests: retry after `Retry-After` seconds"),
}
FIELD_TYPES: Mapping[FieldType, str] = {
    "string": "string",
    "double": "number",
    "int": "integer",
    "long": "integer",
    "boolean": "boolean",
    "map": "object",
    "array": "array",
}
ENTITY_SUMMARIES = {
    "list": "List {}s",
    "create": "Create {}",
    "get": "Get {}",
    "update": "Update {}",
    "delete": "Delete {}",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _page_of(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": item}, "nextToken": {"type": "string"}},
    }


# Our own schemas: extensions, and where m3ter's spec does not describe what m3ter answers.
OWN_SCHEMAS: Mapping[str, Any] = {
    MESSAGE: {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string"}},
    },
    "Alert": {
        "type": "object",
        "required": ["id", "version", "type", "severity", "status", "description", "count"],
        "properties": {
            **{
                name: {"type": "string"}
                for name in (
                    "id",
                    "type",
                    "severity",
                    "status",
                    "description",
                    "resourceType",
                    "resourceId",
                    "dtFirstSeen",
                    "dtLastSeen",
                    "dtCreated",
                    "dtLastModified",
                    "createdBy",
                    "lastModifiedBy",
                )
            },
            "cause": {"type": ["string", "null"]},
            "version": {"type": "integer"},
            "count": {"type": "integer"},
            "eventIds": {"type": "array", "items": {"type": "string"}},
        },
    },
    "DeadLetter": {
        "type": "object",
        "description": "An item of work set aside after repeated failures inside meterbell",
        "required": ["id", "worker", "itemId", "error", "attempts", "dtCreated"],
        "properties": {
            **{
                name: {"type": "string"}
                for name in ("id", "worker", "itemId", "error", "dtCreated", "dtLastFailed")
            },
            **{
                name: {"type": ["string", "null"]}
                for name in ("dtSetAside", "dtReplayed", "replayedBy")
            },
            "attempts": {"type": "integer"},
        },
    },
    "RuleEvaluationError": {
        "type": "object",
        "required": ["ruleId", "ruleVersion", "eventId", "error", "dtCreated"],
        "properties": {
            **{name: {"type": "string"} for name in ("ruleId", "eventId", "error", "dtCreated")},
            "ruleVersion": {"type": "integer"},
        },
    },
    "ProbeStatus": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}},
    },
    # m3ter's spec lists S3 and GCS only; meterbell also writes to a LOCAL folder.
    "ExportDestinationResponse": {
        "anyOf": [
            _ref("ExportDestinationS3Response"),
            _ref("ExportDestinationGoogleCloudStorageResponse"),
            _ref("ExportDestinationLocalResponse"),
        ]
    },
    "ExportDestinationLocalResponse": {
        "type": "object",
        "description": "A folder below the server's exports directory (`bucketName` names it)",
        "required": ["destinationType", "bucketName"],
        "properties": {
            "destinationType": {"const": "LOCAL"},
            "bucketName": {"type": "string"},
            "prefix": {"type": ["string", "null"]},
            "name": {"type": ["string", "null"]},
            "code": {"type": ["string", "null"]},
            "createdBy": {"type": ["string", "null"]},
            "lastModifiedBy": {"type": ["string", "null"]},
            "dtCreated": {"type": ["string", "null"], "format": "date-time"},
            "dtLastModified": {"type": ["string", "null"], "format": "date-time"},
        },
        "allOf": [_ref("AbstractResponse")],
    },
    "RecoveryResponse": {
        "type": "object",
        "description": "How many failed runs were sent again as new runs; `more` when the same "
        "call should be made again for the rest",
        "required": ["runs", "more"],
        "properties": {"runs": {"type": "integer"}, "more": {"type": "boolean"}},
    },
    "Backfill": {
        "type": "object",
        "description": "A backfill: the rule's calculation (at `ruleVersion`) over its stored "
        "events of [since, until), oldest first, and how far it got. `id` is null for a dry run "
        "answered at once (nothing is stored)",
        "required": ["id", "ruleId", "ruleVersion", "since", "until", "dryRun", "status"],
        "properties": {
            "id": {"type": ["string", "null"]},
            "ruleId": {"type": "string"},
            "ruleVersion": {"type": "integer"},
            "since": {"type": "string", "format": "date-time"},
            "until": {"type": "string", "format": "date-time"},
            "dryRun": {"type": "boolean"},
            "status": {"type": "string", "enum": ["RUNNING", "COMPLETE", "FAILED"]},
            "evaluated": {"type": "integer"},
            "matched": {"type": "integer"},
            "created": {"type": "integer"},
            "alreadyBackfilled": {"type": "integer"},
            "failedEvaluations": {"type": "integer"},
            "eventIds": {"type": "array", "items": {"type": "string"}},
            "error": {"type": ["string", "null"]},
            "dtCreated": {"type": "string", "format": "date-time"},
            "dtCompleted": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "FailedIngestDownload": {
        "type": "object",
        "description": "A measurement that failed validation, and why",
    },
}
# (method, path) -> 200 schema, where it is not m3ter's (or m3ter's spec is wrong).
OWN_RESPONSES: Mapping[tuple[str, str], Any] = {
    ("get", "/health"): _ref("ProbeStatus"),
    ("get", "/ready"): _ref("ProbeStatus"),
    ("get", "/downloads/{orgId}/failedIngest"): _ref("FailedIngestDownload"),
    ("get", f"{ORG_PREFIX}/events/{{eventId}}"): _ref("EventResponse"),
    ("post", f"{ORG_PREFIX}/integrationruns/{{id}}/resend"): _ref("IntegrationRunResponse"),
    ("get", f"{ORG_PREFIX}/integrationruns/{{entityType}}/latest/{{entityId}}"): _ref(
        "IntegrationRunResponse"
    ),
    **{
        (method, f"{ORG_PREFIX}/dataexports/destinations{tail}"): _ref("ExportDestinationResponse")
        for method, tail in (("post", ""), ("get", "/{id}"), ("put", "/{id}"), ("delete", "/{id}"))
    },
    ("get", f"{ORG_PREFIX}/dataexports/destinations"): _page_of(_ref("ExportDestinationResponse")),
    ("get", f"{ORG_PREFIX}/alerts"): _page_of(_ref("Alert")),
    ("get", f"{ORG_PREFIX}/alerts/{{id}}"): _ref("Alert"),
    ("put", f"{ORG_PREFIX}/alerts/{{id}}"): _ref("Alert"),
    ("get", f"{ORG_PREFIX}/deadletters"): _page_of(_ref("DeadLetter")),
    ("get", f"{ORG_PREFIX}/deadletters/{{id}}"): _ref("DeadLetter"),
    ("post", f"{ORG_PREFIX}/deadletters/{{id}}/replay"): _ref("DeadLetter"),
    ("post", f"{ORG_PREFIX}/integrationdestinations/webhooks/{{id}}/recover"): _ref(
        "RecoveryResponse"
    ),
    ("post", f"{ORG_PREFIX}/integrationdestinations/webhooks/{{id}}/rotatesecret"): _ref(
        "WebhookDestinationResponse"
    ),
    ("post", f"{ORG_PREFIX}/events/{{eventId}}/action"): _ref("EventResponse"),
    ("delete", f"{ORG_PREFIX}/events/{{eventId}}/action"): _ref("EventResponse"),
    ("get", f"{ORG_PREFIX}/notifications/configurations/{{id}}/errors"): _page_of(
        _ref("RuleEvaluationError")
    ),
    ("post", f"{ORG_PREFIX}/notifications/configurations/{{id}}/backfill"): _ref("Backfill"),
    ("get", f"{ORG_PREFIX}/notifications/configurations/{{id}}/backfills"): _page_of(
        _ref("Backfill")
    ),
    ("get", f"{ORG_PREFIX}/notifications/configurations/{{id}}/backfills/{{backfillId}}"): _ref(
        "Backfill"
    ),
}
# Errors beyond the rules of `_error_statuses`: items named in the query or body, a job's files
# asked for before it finished, failed token requests limited per client and per address.
ALSO_ANSWERS: Mapping[tuple[str, str], tuple[int, ...]] = {
    ("get", f"{ORG_PREFIX}/measurements/failedIngest/getDownloadUrl"): (404,),
    ("post", f"{ORG_PREFIX}/notifications/evaluate"): (404,),
    ("post", f"{ORG_PREFIX}/bills/approve"): (404,),
    ("get", "/downloads/{orgId}/failedIngest"): (404,),
    ("get", f"{ORG_PREFIX}/dataexports/jobs/{{jobId}}/getdownloadurl"): (409,),
    ("post", "/oauth/token"): (429,),
}
# Operations whose 200 is not JSON.
OWN_CONTENT: Mapping[tuple[str, str], Mapping[str, Any]] = {
    ("get", "/metrics"): {
        "text/plain": {"schema": {"type": "string", "description": "Prometheus text format"}}
    },
    ("get", "/downloads/{orgId}/dataexports/{jobId}/{name}"): {
        "application/gzip": {"schema": {"type": "string", "format": "binary"}}
    },
}


def install_openapi(app: FastAPI) -> None:
    """Serve `build_document(app)` at /openapi.json (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_document(app: FastAPI) -> dict[str, Any]:
    document = _routes_document(app)
    m3ter = _m3ter()
    entity_responses = _entity_responses()
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    for method, path, operation in _operations(document):
        m3ter_operation = m3ter["operations"].get(f"{method} {path}", {})
        _add_m3ter_request(operation, m3ter_operation)
        content = OWN_CONTENT.get((method, path))
        if content is None:
            schema = OWN_RESPONSES.get((method, path)) or m3ter_operation.get("response")
            schema = schema or entity_responses.get((method, path))
            if schema is None:
                raise LookupError(f"{method.upper()} {path}: no response schema (OWN_RESPONSES)")
            content = {"application/json": {"schema": schema}}
        _declare_responses(operation, method, path, content)
    clashing = OWN_SCHEMAS.keys() & m3ter["schemas"].keys()
    if clashing:
        raise RuntimeError(f"own schemas {sorted(clashing)} would replace m3ter's")
    schemas.update(m3ter["schemas"])
    schemas.update(OWN_SCHEMAS)
    _allow_null(schemas["EventResponse"], "dtActioned")
    schemas["DestinationType"] = _with_values(
        schemas["DestinationType"], [c.api_name for c in CONNECTORS]
    )
    document["components"]["securitySchemes"] = {BEARER: BEARER_SCHEME}
    document["components"]["responses"] = {
        name: {"description": text, "content": {"application/json": {"schema": _ref(MESSAGE)}}}
        for name, text in ERRORS.values()
    }
    return document


def served_operations(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every documented operation, as the document names them."""
    return [(method, path) for method, path, _ in _operations(_routes_document(app))]


def _routes_document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    for entity in entity_paths():
        for method, path, operation in entity_operations(entity):
            document["paths"].setdefault(path, {})[method] = _entity_operation(entity, operation)
    return document


def _with_values(schema: Mapping[str, Any], values: Sequence[str]) -> dict[str, Any]:
    """An m3ter enum with meterbell's extensions added (SLACK, a destination type m3ter's
    DestinationType lacks: docs/integrations.md)."""
    known = list(schema["enum"])
    return {**schema, "enum": known + [value for value in values if value not in known]}


def _allow_null(schema: dict[str, Any], name: str) -> None:
    """meterbell answers null where m3ter's spec requires a value: an event's `dtActioned` is
    null until someone marks the event handled (docs/api.md)."""
    schema["properties"][name] = {"anyOf": [schema["properties"][name], {"type": "null"}]}


def _operations(document: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def _add_m3ter_request(operation: dict[str, Any], m3ter: Mapping[str, Any]) -> None:
    """m3ter's query parameters and body, where the route takes them raw (QueryLists, JsonBody)."""
    declared = {parameter["name"] for parameter in operation.get("parameters", [])}
    extra = [p for p in m3ter.get("parameters", []) if p["name"] not in declared]
    if extra:
        operation["parameters"] = [*operation.get("parameters", []), *extra]
    if "requestBody" not in operation and "requestBody" in m3ter:
        operation["requestBody"] = m3ter["requestBody"]


def _declare_responses(
    operation: dict[str, Any], method: str, path: str, content: Mapping[str, Any]
) -> None:
    if path.startswith(ORG_PREFIX):
        operation["security"] = [{BEARER: []}]
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    responses["200"] = {"description": "Successful Response", "content": content}
    for status in _error_statuses(operation, method, path):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}


def _error_statuses(operation: Mapping[str, Any], method: str, path: str) -> list[int]:
    """The errors an operation can answer: any request but a probe's can be invalid;
    organization paths need the organization's token (signed links are checked instead); a path
    naming an item may name none; writes may conflict; a body sent with any write may be too
    large (the limit is checked before the route is known)."""
    if path in ("/health", "/ready"):
        return []
    statuses = [400]
    if path.startswith(ORG_PREFIX):
        statuses += [401, 403]
    elif path == "/oauth/token":
        statuses.append(401)
    else:
        statuses.append(403)
    path_parameters = [p for p in operation.get("parameters", []) if p["in"] == "path"]
    if any(p["name"] != "orgId" for p in path_parameters):
        statuses.append(404)
    if method in WRITE_METHODS and path.startswith(ORG_PREFIX):
        statuses.append(409)
    if "requestBody" in operation or method in WRITE_METHODS:
        statuses.append(413)
    return sorted({*statuses, *ALSO_ANSWERS.get((method, path), ())})


# -- entity operations -------------------------------------------------------------------------


def entity_operations(entity: EntityPath) -> Iterator[tuple[str, str, Operation]]:
    """(method, path, operation) of each operation the entity route serves for an entity."""
    base = f"{ORG_PREFIX}/{entity.base}"
    for method, operation in entity.methods.items():
        yield method.lower(), base, operation
    if not entity.spec.singleton:
        for method, operation in ITEM_METHODS.items():
            yield method.lower(), f"{base}/{{id}}", operation


def _entity_responses() -> dict[tuple[str, str], Any]:
    """Each entity operation's 200 schema for when m3ter has none: the entity as stored."""
    responses = {}
    for entity in entity_paths():
        item = _entity_schema(entity.spec)
        for method, path, operation in entity_operations(entity):
            responses[method, path] = _page_of(item) if operation == "list" else item
    return responses


def _entity_operation(entity: EntityPath, operation: Operation) -> dict[str, Any]:
    spec = entity.spec
    parameters = [_path_parameter("orgId")]
    if operation in ("get", "update", "delete") and not spec.singleton:
        parameters.append(_path_parameter("id"))
    document: dict[str, Any] = {
        "tags": [entity.tag],
        "summary": ENTITY_SUMMARIES[operation].format(spec.title),
        "operationId": f"{operation}_{spec.name}",
        "parameters": parameters,
    }
    if operation in ("create", "update"):
        schema = {key: value for key, value in spec.schema.items() if key != "$schema"}
        document["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {**schema, "additionalProperties": True}}},
        }
    return document


def _path_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _entity_schema(spec: EntitySpec) -> dict[str, Any]:
    """An entity as stored: the fields the catalog knows (each as sent, so possibly null)."""
    properties = {}
    for name, field in spec.fields.items():
        schema: dict[str, Any] = {"type": [FIELD_TYPES[field.type], "null"]}
        if field.format is not None:
            schema["format"] = field.format
        properties[name] = schema
    return {"type": "object", "required": ["id", "version"], "properties": properties}


@cache
def _m3ter() -> Mapping[str, Any]:
    text = resources.files("meterbell.api").joinpath("m3ter_operations.json").read_text("utf-8")
    loaded: Mapping[str, Any] = json.loads(text)
    return loaded
