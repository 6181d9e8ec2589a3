"""Notification rules (`notifications/configurations`) and the evaluate endpoint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meterbell.domain.calc import (
    CalcError,
    CalcEvaluationError,
    Calculation,
    compile_calculation,
)
from meterbell.domain.documents import DocumentKind
from meterbell.domain.errors import InvalidRequest
from meterbell.domain.listing import FieldFilter, id_filters
from meterbell.domain.notifications import NotificationRuleFields, rule_context
from meterbell.domain.pagination import Page, continue_before, page_from_rows
from meterbell.domain.validation import validate_model
from meterbell.services import events as event_service
from meterbell.services import versioned
from meterbell.services.versioned import Document, Kind
from meterbell.store import events as event_store
from meterbell.store.db import Database

RULE = Kind(DocumentKind.RULE, "Notification")
MAX_PAGE_SIZE = 100


async def _event_fields(db: Database, org_id: str, event_name: str) -> dict[str, str]:
    """The field-type map of an event type; a 400 naming the type when it is unknown."""
    fields = await event_service.event_fields(db, org_id, event_name)
    return fields[event_name]


def _compiled(calculation: str, fields: Mapping[str, str] | None) -> Calculation:
    """A rule's calculation compiled (raises CalcError when it does not)."""
    return compile_calculation(calculation, mode="boolean", fields=fields)


def _compile(calculation: str, fields: Mapping[str, str] | None) -> Calculation:
    try:
        return _compiled(calculation, fields)
    except CalcError as exc:
        raise InvalidRequest(f"The calculation does not compile: {exc}") from exc


@dataclass(frozen=True)
class CalculationCheck:
    """A calculation checked as a rule on `eventName` would be: the event type's fields, and
    the compiled calculation or the checker's error (with its line, column and caret)."""

    fields: dict[str, str]
    compiled: Calculation | None
    error: CalcError | None


async def check_calculation(
    db: Database, org_id: str, event_name: str, calculation: str
) -> CalculationCheck:
    """Check a calculation the way saving a rule does (a 400 for an unknown event type)."""
    fields = await _event_fields(db, org_id, event_name)
    try:
        return CalculationCheck(fields, _compiled(calculation, fields), None)
    except CalcError as exc:
        return CalculationCheck(fields, None, exc)


async def _checked_rule(db: Database, org_id: str, body: object) -> dict[str, Any]:
    rule = validate_model(NotificationRuleFields, body)
    fields = await _event_fields(db, org_id, rule.eventName)
    if rule.calculation:
        _compile(rule.calculation, fields)
    elif not rule.alwaysFireEvent:
        raise InvalidRequest(
            "A rule needs a 'calculation' unless 'alwaysFireEvent' is true: say when it fires"
        )
    return rule.model_dump()


async def create_rule(db: Database, org_id: str, body: object, actor: str) -> Document:
    fields = await _checked_rule(db, org_id, body)
    return await versioned.create(db, org_id, RULE, fields, actor)


async def get_rule(db: Database, org_id: str, rule_id: str) -> Document:
    return await versioned.get(db, org_id, RULE, rule_id)


async def update_rule(
    db: Database, org_id: str, rule_id: str, body: object, actor: str
) -> Document:
    fields = await _checked_rule(db, org_id, body)
    version = versioned.requested_version(body)
    return await versioned.replace(db, org_id, RULE, rule_id, fields, version, actor)


async def delete_rule(db: Database, org_id: str, rule_id: str) -> Document:
    return await versioned.delete(db, org_id, RULE, rule_id)


async def rule_errors(
    db: Database, org_id: str, rule_id: str, query: Mapping[str, Sequence[str]], *, page_size: int
) -> Page:
    """A rule's recent evaluation errors, newest first (the rule must exist)."""
    await get_rule(db, org_id, rule_id)
    async with db.read() as conn:
        rows = await event_store.rule_errors_for_rule(
            conn, org_id, rule_id, before_seq=continue_before(query), limit=page_size + 1
        )
    return page_from_rows(rows, page_size)


def _rule_filters(query: Mapping[str, Sequence[str]]) -> list[FieldFilter]:
    filters = id_filters(query)
    if event_name := query.get("eventName", [""])[-1]:
        filters.append(FieldFilter("eventName", "eq", (event_name,)))
    if active := query.get("active", [""])[-1]:
        if active.lower() not in ("true", "false"):
            raise InvalidRequest(f"active must be true or false (got '{active}')")
        filters.append(FieldFilter("active", "is", (active.lower(),)))
    return filters


async def list_rules(
    db: Database, org_id: str, query: Mapping[str, Sequence[str]], *, page_size: int
) -> Page:
    filters = _rule_filters(query)
    return await versioned.list_page(db, org_id, RULE, filters, query, page_size=page_size)


def _fires_on(calculation: Calculation, m3ter_event: Mapping[str, Any]) -> dict[str, Any]:
    try:
        value = calculation.evaluate(rule_context(m3ter_event))
    except CalcEvaluationError as exc:
        return {"fires": False, "value": None, "error": str(exc)}
    return {"fires": value is True, "value": value, "error": None}


async def evaluate(db: Database, org_id: str, body: object) -> dict[str, Any]:
    """Check a calculation against an event type (`eventName`) or a stored event (`eventId`).

    With `eventId`, `result` says whether a rule with this calculation fires on that event.
    """
    if not isinstance(body, Mapping):
        raise InvalidRequest("The request body must be a JSON object")
    calculation = body.get("calculation")
    if not isinstance(calculation, str) or not calculation.strip():
        raise InvalidRequest("'calculation' is required: the expression to check")
    event = None
    if body.get("eventId") is not None:
        event = await event_service.get_event_row(db, org_id, str(body["eventId"]))
    event_name = body.get("eventName") or (event.event_name if event else None)
    try:
        fields = await _event_fields(db, org_id, str(event_name)) if event_name else None
        compiled = _compiled(calculation, fields)
    except (CalcError, InvalidRequest) as exc:
        return {"success": False, "errorMessage": str(exc)}
    answer: dict[str, Any] = {"success": True, "errorMessage": None}
    if event is not None:
        async with db.read() as conn:
            recorded = await event_store.rule_errors_for_event(conn, org_id, event.id)
        answer["result"] = {**_fires_on(compiled, event.m3ter_event), "recordedErrors": recorded}
    return answer


async def evaluate_on_latest(
    db: Database, org_id: str, event_name: str, calculation: str
) -> dict[str, Any] | None:
    """`evaluate` on the organization's newest event of `event_name` (with that `event`),
    or None when it has none yet."""
    query = event_store.EventQuery(event_name=event_name, include_actioned=True)
    async with db.read() as conn:
        latest = await event_store.list_events(conn, org_id, query, before_seq=None, limit=1)
    if not latest:
        return None
    body = {"calculation": calculation, "eventName": event_name, "eventId": latest[0].id}
    return {**await evaluate(db, org_id, body), "event": latest[0].to_public()}
