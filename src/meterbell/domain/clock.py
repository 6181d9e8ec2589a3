"""Time in one place: UTC everywhere, m3ter's ISO-8601 text form."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Stores without time-zone support (SQLite) hand back naive UTC datetimes."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def isoformat(value: datetime) -> str:
    """`2026-11-23T17:41:12.161Z`: millisecond precision, `Z` for UTC, as m3ter writes it."""
    return as_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")
