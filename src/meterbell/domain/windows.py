"""A window of time a request names, `{"since", "until"}`: both with a time zone, `since`
before `until`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from meterbell.domain.clock import as_utc
from meterbell.domain.errors import InvalidRequest
from meterbell.domain.validation import validate_model


class WindowFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: datetime
    until: datetime


class BackfillFields(WindowFields):
    """The body of `POST notifications/configurations/{id}/backfill`."""

    dryRun: bool = False  # noqa: N815


def utc_field(value: datetime, name: str) -> datetime:
    """A request's date-time field in UTC: it must carry a time zone, and stay in the calendar."""
    if value.tzinfo is None:
        raise InvalidRequest(f"'{name}' needs a time zone, e.g. 2026-01-31T00:00:00Z")
    try:
        return as_utc(value)
    except ValueError as exc:
        raise InvalidRequest(f"'{name}' {exc}: use a date-time within years 1 to 9999") from exc


def checked_window(fields: WindowFields) -> tuple[datetime, datetime]:
    since, until = utc_field(fields.since, "since"), utc_field(fields.until, "until")
    if until <= since:
        raise InvalidRequest("'until' must be after 'since'")
    return since, until


def window_of(body: object) -> tuple[datetime, datetime]:
    """The window a `{"since", "until"}` body names, in UTC."""
    return checked_window(validate_model(WindowFields, body))
