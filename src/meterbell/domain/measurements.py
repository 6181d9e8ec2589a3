"""Measurements: the synchronous checks of a submission, and the asynchronous validation of
each measurement against its meter (m3ter's ingest failure types), with the failure events.

A measurement is `{uid, meter, account, ts, ets, who, where, what, other, metadata, measure,
cost, income}`: the meter and account by code, and one map per data field category keyed by
data field code (strings in `who` … `metadata`, numbers in `measure`, `cost`, `income`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson

from meterbell.domain.calc import CalcEvaluationError
from meterbell.domain.clock import as_utc
from meterbell.domain.codes import code_problem
from meterbell.domain.errors import InvalidRequest, PayloadTooLarge
from meterbell.domain.meters import MeterPlan
from meterbell.domain.request_limits import parse_json_body

MAX_MEASUREMENTS = 1000
UID_WINDOW = timedelta(days=35)
MAX_BODY_BYTES = 512_000
MAX_UID_LENGTH = 50
MAX_METADATA_LENGTH = 256
STRING_MAPS = ("who", "where", "what", "other", "metadata")
NUMBER_MAPS = ("measure", "cost", "income")
MAPS = STRING_MAPS + NUMBER_MAPS
MAP_NAMES = frozenset(MAPS)
NUMBER_TYPES = (int, float)

INGEST_FAILURE = "ingest.validation.failure"
INGEST_FAILURE_CATEGORY = "IngestValidationFailure"
UNDEFINED_METER = "UndefinedMeter"
MISSING_FIELD = "MissingField"
DUPLICATE_UID = "DuplicateUid"
DUPLICATE_FIELD = "DuplicateField"
CALCULATION_ERROR = "CalculationError"
INVALID_ACCOUNT_CODE = "InvalidAccountCode"
# Ours: the validator failed on the measurement's submission for a reason of its own.
UNEXPECTED_ERROR = "UnexpectedError"
INGEST_FAILURE_FIELDS = {
    "type": "string",
    "reason": "string",
    "meter": "string",
    "account": "string",
    "uid": "string",
    "ts": "string",
    "getDownloadUrl": "string",
}
FAILED_INGEST_FILE = re.compile(r"failedIngest/([0-9a-f-]{36})\.json")

Measurement = dict[str, Any]


class Failure(NamedTuple):
    """Why a measurement failed validation: one of the failure types, and a sentence."""

    type: str
    reason: str


# -- the synchronous checks (POST /measurements) -----------------------------------------------


def utc_timestamp(value: str) -> datetime:
    """A submitted `ts`/`ets` as an aware UTC datetime (no zone means UTC); ValueError when
    it is not one."""
    return as_utc(datetime.fromisoformat(value))


def _timestamp_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be an ISO-8601 date-time string (2026-01-31T00:00:00Z)"
    try:
        utc_timestamp(value)
    except ValueError:
        return f"must be an ISO-8601 date-time (2026-01-31T00:00:00Z), not '{value}'"
    return None


def _string_map_problem(name: str, values: dict[str, Any]) -> str | None:
    for code, value in values.items():
        if type(value) is not str:
            return f".{name}.{code} must be a string"
        if name == "metadata" and len(value) > MAX_METADATA_LENGTH:
            return f".{name}.{code} must be at most {MAX_METADATA_LENGTH} characters long"
    return None


def _number_map_problem(name: str, values: dict[str, Any]) -> str | None:
    for code, value in values.items():
        if type(value) not in NUMBER_TYPES:
            return f".{name}.{code} must be a number"
    return None


def _maps_problem(item: Mapping[str, Any]) -> str | None:
    for name in MAPS:
        values = item.get(name)
        if values is None:
            continue
        if type(values) is not dict:
            return f".{name} must be an object"
        check = _string_map_problem if name in STRING_MAPS else _number_map_problem
        if problem := check(name, values):
            return problem
    return None


def _item_problem(item: object) -> str | None:
    """What is wrong with one submitted measurement, as a path and a phrase; None if fine."""
    if type(item) is not dict:
        return " must be an object"
    for key in ("meter", "account"):
        value = item.get(key)
        if type(value) is not str or not value:
            return f".{key} is required: the {key} code, a non-empty string"
    if "ts" not in item:
        return ".ts is required: when the usage happened (ISO-8601 date-time)"
    if problem := _timestamp_problem(item["ts"]):
        return f".ts {problem}"
    if item.get("ets") is not None and (problem := _timestamp_problem(item["ets"])):
        return f".ets {problem}"
    uid = item.get("uid")
    if uid is not None and (type(uid) is not str or len(uid) > MAX_UID_LENGTH):
        return f".uid must be a string of at most {MAX_UID_LENGTH} characters"
    return _maps_problem(item)


def _measurement_list(body: object) -> list[Any]:
    if not isinstance(body, dict):
        raise InvalidRequest('The request body must be a JSON object: {"measurements": [...]}')
    items = body.get("measurements")
    if not isinstance(items, list):
        raise InvalidRequest("'measurements' is required: an array of 1 to 1000 measurements")
    if not 1 <= len(items) <= MAX_MEASUREMENTS:
        raise InvalidRequest(
            f"'measurements' must have 1 to {MAX_MEASUREMENTS} items (got {len(items)}): "
            "send larger sets in several requests"
        )
    return items


def check_submission(raw: bytes) -> int:
    """How many measurements a `POST /measurements` body holds, once it passes the checks
    that need no stored data; InvalidRequest (400) or PayloadTooLarge (413) naming the fault."""
    if len(raw) >= MAX_BODY_BYTES:
        raise PayloadTooLarge(
            f"The request body is {len(raw)} bytes; it must be under {MAX_BODY_BYTES} bytes: "
            "send the measurements in smaller batches"
        )
    items = _measurement_list(parse_json_body(raw))
    for index, item in enumerate(items):
        if problem := _item_problem(item):
            raise InvalidRequest(f"measurements[{index}]{problem}")
    return len(items)


# -- the asynchronous validation ----------------------------------------------------------------


def submitted_measurements(raw: str | bytes) -> list[Measurement]:
    """The measurements of a body that passed `check_submission`."""
    items: list[Measurement] = orjson.loads(raw)["measurements"]
    return items


def readable_measurements(raw: str | bytes) -> list[Measurement]:
    """The measurements of a submission, as far as they can be read: its items that are
    objects, or the whole body as `{"body": <text>}` when it has no such list."""
    try:
        items = orjson.loads(raw).get("measurements")
    except (orjson.JSONDecodeError, AttributeError):
        items = None
    if isinstance(items, list) and items and all(isinstance(i, dict) for i in items):
        return items
    text = raw if isinstance(raw, str) else raw.decode(errors="replace")
    return [{"body": text}]


def unexpected_error_reason(error: str) -> str:
    """Why a measurement was set aside, from the error (`Type: message`, then where)."""
    return (
        f"meterbell could not validate this measurement's request ({error.splitlines()[0]}), "
        "so it was set aside, not ingested, for the requests after it to go on; "
        "send it again once the cause is fixed"
    )


def _duplicate_field(item: Mapping[str, Any]) -> Failure | None:
    seen: dict[str, str] = {}
    for name, values in item.items():
        if name not in MAP_NAMES or not values:
            continue
        for code in values:
            if code in seen:
                return Failure(
                    DUPLICATE_FIELD,
                    f"data field '{code}' is in both '{seen[code]}' and '{name}': a code may "
                    "appear in one category only",
                )
            seen[code] = name
    return None


def data_values(item: Mapping[str, Any], plan: MeterPlan) -> dict[str, Any] | Failure:
    """`{code: value}` of the meter's data fields in the measurement, or why it has none."""
    if duplicate := _duplicate_field(item):
        return duplicate
    values: dict[str, Any] = {}
    missing: list[str] = []
    for name, code in plan.data_fields:
        value = (item.get(name) or {}).get(code)
        if value is None:
            missing.append(f"{name}.{code}")
        else:
            values[code] = value
    if missing:
        plural = "s" if len(missing) > 1 else ""
        return Failure(
            MISSING_FIELD, f"missing data field{plural} of the meter: {', '.join(missing)}"
        )
    return values


def _derived_problem(numeric: bool, value: object) -> str | None:
    if numeric and type(value) not in NUMBER_TYPES:
        return f"must be a number, the calculation gave {value!r}"
    if not numeric and type(value) is not str:
        return f"must be a string, the calculation gave {value!r}"
    return None


def derived_values(values: Mapping[str, Any], plan: MeterPlan) -> tuple[dict[str, Any], list[str]]:
    """The derived fields computed from the data field `values` (a null result is left out),
    and a sentence per derived field that failed."""
    derived: dict[str, Any] = {}
    problems: list[str] = []
    for field in plan.derived_fields:
        if field.calculation is None:
            problems.append(f"derived field '{field.code}': {field.problem}")
            continue
        try:
            value = field.calculation.evaluate(values)
        except CalcEvaluationError as exc:
            problems.append(f"derived field '{field.code}': {exc}")
            continue
        if value is None:
            continue
        if problem := _derived_problem(field.numeric, value):
            problems.append(f"derived field '{field.code}' {problem}")
            continue
        derived[field.code] = value
    return derived, problems


# -- failures -------------------------------------------------------------------------------------


def failed_ingest_file(failure_id: str) -> str:
    """The `file` that names a failed measurement in `measurements/failedIngest/…`."""
    return f"failedIngest/{failure_id}.json"


def failure_id_of(file: str) -> str | None:
    match = FAILED_INGEST_FILE.fullmatch(file)
    return match.group(1) if match else None


def failure_event_data(
    failure: Failure, item: Mapping[str, Any], failure_id: str
) -> dict[str, Any]:
    """`m3terEvent` of an `ingest.validation.failure` event; rules read it as `new.*`."""
    details = {
        "type": failure.type,
        "reason": failure.reason,
        "meter": item.get("meter"),
        "account": item.get("account"),
        "uid": item.get("uid"),
        "ts": item.get("ts"),
        "getDownloadUrl": failed_ingest_file(failure_id),
    }
    return {"eventData": {"newDto": details}}


# -- accounts ---------------------------------------------------------------------------------


def uncreatable_accounts(unknown: Sequence[str], existing: Mapping[str, str]) -> dict[str, str]:
    """Why no account can be created for some of the `unknown` codes (in submission order):
    the code breaks the code rule, or differs only in letter case from an existing account's
    (`existing`: lower-cased code → code) or from a code earlier in the list."""
    claimed = dict(existing)
    problems: dict[str, str] = {}
    for code in unknown:
        if problem := code_problem(code):
            problems[code] = f"'{code}' is not a valid account code: it {problem}"
            continue
        other = claimed.setdefault(code.lower(), code)
        if other != code:
            problems[code] = (
                f"no account has code '{code}', and none can be created for it: account code "
                f"'{other}' differs only in letter case"
            )
    return problems


def autocreated_account(code: str) -> dict[str, Any]:
    """The skeleton account m3ter creates for an unknown account code."""
    return {
        "code": code,
        "name": f"{code}-autocreated",
        "emailAddress": f"{secrets.token_hex(8)}-autocreated@example.com",
    }
