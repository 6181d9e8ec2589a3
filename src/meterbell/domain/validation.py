"""Checks an entity request body against its m3ter request schema, with messages naming fields."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import cache
from typing import Any, TypeVar

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaError
from pydantic import BaseModel, ValidationError

from meterbell.domain.catalog import EntitySpec, entity_by_name
from meterbell.domain.codes import code_problem
from meterbell.domain.errors import InvalidRequest
from meterbell.domain.meters import check_meter

# Fields the server owns: a client may send them back (read-modify-write) but never sets them.
SERVER_FIELDS = frozenset(
    {"id", "version", "dtCreated", "dtLastModified", "createdBy", "lastModifiedBy", "orgId"}
)
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
JSON_TYPE_WORDS = {
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "object": "an object",
    "array": "an array",
    "null": "null",
}

MAX_REPORTED_ERRORS = 5
LIMIT_PHRASES = {
    "minLength": "must be at least {} characters long",
    "maxLength": "must be at most {} characters long",
    "minimum": "must be at least {}",
    "maximum": "must be at most {}",
    "exclusiveMinimum": "must be greater than {}",
    "exclusiveMaximum": "must be less than {}",
    "minItems": "must have at least {} items",
    "maxItems": "must have at most {} items",
    "maxProperties": "must have at most {} entries",
}

ModelT = TypeVar("ModelT", bound=BaseModel)

format_checker = FormatChecker(formats=())


@format_checker.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not DATE_PATTERN.fullmatch(value):
        return False
    date.fromisoformat(value)
    return True


@format_checker.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not DATE_PATTERN.match(value) or "T" not in value:
        return False
    datetime.fromisoformat(value)
    return True


@cache
def _validator(entity_name: str) -> Draft202012Validator:
    return Draft202012Validator(entity_by_name(entity_name).schema, format_checker=format_checker)


def _format_holds(check: Callable[[object], bool]) -> Callable[[str], bool]:
    def holds(value: str) -> bool:
        try:
            return check(value)
        except ValueError:
            return False

    return holds


@cache
def _fast_validator(entity_name: str) -> jsonschema_rs.Validator:
    """The same schema and formats in a compiled validator, 15 times as fast as `_validator`:
    it says whether a body is valid; `_validator` says what is wrong with one that is not."""
    return jsonschema_rs.validator_for(
        dict(entity_by_name(entity_name).schema),
        formats={"date": _format_holds(_is_date), "date-time": _format_holds(_is_date_time)},
        validate_formats=True,
    )


def schema_errors(entity_name: str, fields: Mapping[str, Any]) -> list[SchemaError]:
    """What is wrong with `fields` against the entity's schema, field by field (none: valid)."""
    if _fast_validator(entity_name).is_valid(fields):
        return []
    return sorted(_validator(entity_name).iter_errors(fields), key=lambda e: list(e.path))


def _field_path(error: SchemaError) -> str:
    parts = [str(p) if isinstance(p, str) else f"[{p}]" for p in error.absolute_path]
    return ".".join(parts).replace(".[", "[")


def _expected_types(schema_type: object) -> str:
    names = schema_type if isinstance(schema_type, list) else [schema_type]
    return " or ".join(JSON_TYPE_WORDS.get(str(name), str(name)) for name in names)


def describe(error: SchemaError) -> str:
    """One sentence a person can act on, naming the field at fault."""
    field = _field_path(error)
    where = f"'{field}'" if field else "The request body"
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        name = f"{field}.{missing[0]}" if field and missing else (missing[0] if missing else "?")
        return f"'{name}' is required"
    if error.validator == "type":
        return f"{where} must be {_expected_types(error.validator_value)}"
    if error.validator == "format":
        shape = (
            "YYYY-MM-DD" if error.validator_value == "date" else "ISO-8601 (2026-01-31T00:00:00Z)"
        )
        return f"{where} must be a {error.validator_value} in the form {shape}"
    if error.validator == "enum":
        choices: list[object] = error.validator_value  # type: ignore[assignment]
        allowed = ", ".join(str(v) for v in choices)
        return f"{where} must be one of: {allowed}"
    if error.validator in LIMIT_PHRASES:
        return f"{where} {LIMIT_PHRASES[str(error.validator)].format(error.validator_value)}"
    return f"{where}: {error.message}"


def validate_entity_body(spec: EntitySpec, body: object) -> dict[str, Any]:
    """The body the client may set, or InvalidRequest naming each field at fault."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("The request body must be a JSON object")
    fields = {key: value for key, value in body.items() if key not in SERVER_FIELDS}
    errors = schema_errors(spec.name, fields)
    if errors:
        messages = dict.fromkeys(describe(error) for error in errors[:MAX_REPORTED_ERRORS])
        raise InvalidRequest("; ".join(messages))
    code = fields.get("code")
    if isinstance(code, str) and (problem := code_problem(code)):
        raise InvalidRequest(f"'code' {problem}")
    if spec.name == "meter":
        check_meter(fields)
    return fields


PYDANTIC_PHRASES = {
    "missing": "is required",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "dict_type": "must be an object",
    "list_type": "must be an array",
    "model_type": "must be an object",
}


def _pydantic_problem(error: Mapping[str, Any]) -> str:
    field = ".".join(str(part) for part in error.get("loc", ()))
    where = f"'{field}'" if field else "The request body"
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    if kind in PYDANTIC_PHRASES:
        return f"{where} {PYDANTIC_PHRASES[kind]}"
    if kind == "string_too_short":
        return f"{where} must be at least {context.get('min_length')} characters long"
    if kind == "string_too_long":
        return f"{where} must be at most {context.get('max_length')} characters long"
    if kind in ("literal_error", "enum"):
        return f"{where} must be one of: {context.get('expected')}"
    return f"{where}: {error.get('msg', 'is not valid')}"


def validate_model(model: type[ModelT], body: object) -> ModelT:
    """`body` as `model`, or InvalidRequest naming each field at fault."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("The request body must be a JSON object")
    fields = {key: value for key, value in body.items() if key not in SERVER_FIELDS}
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        problems = dict.fromkeys(_pydantic_problem(e) for e in exc.errors()[:MAX_REPORTED_ERRORS])
        raise InvalidRequest("; ".join(problems)) from exc
