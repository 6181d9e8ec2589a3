"""Scheduled events: what a configuration is, and when it makes an entity's event due.

A configuration such as `{"name": "scheduled.bill.endDateEvent", "entity": "Bill",
"field": "endDate", "offset": 5}` makes every Bill due 5 days after its `endDate` (a date-only
value means 00:00 UTC); the scheduler then emits a `scheduled.bill.endDateEvent` event for it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from meterbell.domain.catalog import EntitySpec, all_entities, entity_by_name
from meterbell.domain.clock import as_utc, isoformat
from meterbell.domain.errors import InvalidRequest
from meterbell.domain.events import dto

SCHEDULED_CATEGORY = "Scheduled"
DATE_FORMATS = ("date", "date-time")
NAME_FORM = re.compile(r"scheduled\.([^.\s]+)\.([A-Za-z0-9_-]+)")
DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
INT32 = 2**31


class ScheduledEventFields(BaseModel):
    """The body of `POST`/`PUT scheduledevents/configurations` (m3ter's
    ScheduledEventConfigurationRequest)."""

    model_config = ConfigDict(extra="allow", strict=True)

    name: str = Field(min_length=1, max_length=200)
    entity: str = Field(min_length=1, max_length=80)
    field: str = Field(min_length=1, max_length=200)
    offset: int = Field(ge=-INT32, lt=INT32)


def _entity_named(entity: str) -> EntitySpec | None:
    """The catalog entity a configuration's `entity` names (m3ter's title, any case)."""
    wanted = entity.lower()
    return next((spec for spec in all_entities() if spec.name == wanted), None)


def scheduled_entity(configuration: Mapping[str, Any]) -> EntitySpec:
    """The entity type a stored (so, checked) configuration schedules."""
    return entity_by_name(str(configuration["entity"]).lower())


def date_fields(spec: EntitySpec) -> list[str]:
    return sorted(name for name, field in spec.fields.items() if field.format in DATE_FORMATS)


def _unknown_entity(entity: str) -> InvalidRequest:
    titles = [spec.title for spec in all_entities()]
    close = difflib.get_close_matches(entity, titles, n=1)
    hint = f"Did you mean '{close[0]}'?" if close else f"One of: {', '.join(titles)}."
    return InvalidRequest(f"'entity' '{entity}' is not a configuration or billing entity. {hint}")


def _checked_name(name: str, spec: EntitySpec) -> None:
    form = NAME_FORM.fullmatch(name)
    if form is None:
        raise InvalidRequest(
            "'name' must be in the form scheduled.<entity>.<customName>, e.g. "
            f"scheduled.{spec.name}.endDateEvent (customName: letters, digits, _ and -); "
            f"got '{name}'"
        )
    if form.group(1).lower() != spec.name:
        raise InvalidRequest(
            f"The entity part of 'name' ('{form.group(1)}') must match 'entity' "
            f"('{spec.title}'): use scheduled.{spec.name}.{form.group(2)}"
        )


def _checked_field(field: str, spec: EntitySpec) -> None:
    valid = date_fields(spec)
    if field in valid:
        return
    problem = (
        f"'{field}' is not a date or date-time field of {spec.title}"
        if field in spec.fields
        else f"{spec.title} has no field '{field}'"
    )
    raise InvalidRequest(f"{problem}: 'field' must be one of {', '.join(valid)}")


def checked_configuration(fields: ScheduledEventFields) -> EntitySpec:
    """The entity a well-formed configuration schedules; InvalidRequest saying what to fix."""
    spec = _entity_named(fields.entity)
    if spec is None:
        raise _unknown_entity(fields.entity)
    _checked_name(fields.name, spec)
    _checked_field(fields.field, spec)
    return spec


def same_event_name(a: str, b: str) -> bool:
    """Two configurations may not name event types that differ only in letter case."""
    return a.lower() == b.lower()


def _instant(value: object) -> datetime | None:
    """A date or date-time value as a UTC instant (a date means 00:00 UTC); None if neither."""
    if not isinstance(value, str):
        return None
    try:
        if DATE_ONLY.fullmatch(value):
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        return None


def due_time(value: object, offset_days: int) -> datetime | None:
    """When an entity whose field holds `value` is due: that instant plus `offset_days`
    (negative: before it). None when the value is not a date or the sum is out of range."""
    instant = _instant(value)
    if instant is None:
        return None
    try:
        return instant + timedelta(days=offset_days)
    except OverflowError:
        return None


def scheduled_event_payload(
    org_id: str,
    configuration: Mapping[str, Any],
    entity: Mapping[str, Any],
    due_at: datetime,
) -> dict[str, Any]:
    """`m3terEvent` of a scheduled event: the entity's current snapshot as `newDto` (what
    `new.*` reads), and which configuration and due time produced it."""
    return {
        "eventData": {"newDto": dto(entity, org_id)},
        "scheduledEvent": {
            "configurationId": configuration["id"],
            "field": configuration["field"],
            "offset": configuration["offset"],
            "dueTime": isoformat(due_at),
        },
    }
