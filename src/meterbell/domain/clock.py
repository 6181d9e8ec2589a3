"""Time in one place: UTC everywhere, m3ter's ISO-8601 text form."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """`value` in UTC; naive means UTC already (stores without time-zone support, SQLite, hand
    those back). ValueError when it falls outside the calendar in UTC
    (`0001-01-01T00:00:00+01:00`), so that parsing a date and converting it fail alike."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{value.isoformat()} is outside the calendar in UTC") from exc


def isoformat(value: datetime) -> str:
    """`2026-11-23T17:41:12.161Z`: millisecond precision, `Z` for UTC, as m3ter writes it."""
    return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")
