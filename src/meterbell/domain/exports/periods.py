"""The `timePeriod` of a usage export schedule: which measurements a run exports.

Each period is a half-open window [start, end) in UTC, computed from the instant the run is
due (`run_at`), with m3ter's meanings:

- `TODAY`, `WEEK_TO_DATE`, `MONTH_TO_DATE`, `YEAR_TO_DATE`: from the start of the current
  day / week / month / year up to `run_at` (a run at exactly 00:00 exports an empty `TODAY`).
- `YESTERDAY`, `PREVIOUS_WEEK`, `PREVIOUS_MONTH`, `PREVIOUS_QUARTER`, `PREVIOUS_YEAR`: the whole
  previous calendar day / week / month / quarter (Jan, Apr, Jul, Oct) / year.
- `LAST_12_HOURS`: the 12 hours up to the start of the hour of the run.
- `LAST_n_DAYS`: the n whole days before the run date (ending at 00:00 of the run date).
- `LAST_YEAR`: from 00:00 of the same date one year before the run date (Feb 29 → Feb 28) to
  00:00 of the run date, so 365 or 366 whole days.

Weeks run Monday 00:00 to Monday 00:00.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from meterbell.domain.clock import as_utc
from meterbell.domain.errors import InvalidRequest

Window = tuple[datetime, datetime]

DAY = timedelta(days=1)


def _midnight(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def _week_start(at: datetime) -> datetime:
    return _midnight(at) - at.weekday() * DAY


def _month_start(at: datetime) -> datetime:
    return _midnight(at).replace(day=1)


def _quarter_start(at: datetime) -> datetime:
    return _month_start(at).replace(month=(at.month - 1) // 3 * 3 + 1)


def _year_start(at: datetime) -> datetime:
    return _month_start(at).replace(month=1)


def _months_before(month_start: datetime, months: int) -> datetime:
    """The first day of the month `months` before the month starting at `month_start`."""
    index = month_start.year * 12 + month_start.month - 1 - months
    return month_start.replace(year=index // 12, month=index % 12 + 1)


def _one_year_before(day: datetime) -> datetime:
    """The same date one year earlier; Feb 29 becomes Feb 28."""
    if day.month == 2 and day.day == 29:
        return day.replace(year=day.year - 1, day=28)
    return day.replace(year=day.year - 1)


def _to_date(start_of: Callable[[datetime], datetime]) -> Callable[[datetime], Window]:
    return lambda at: (start_of(at), at)


def _last_days(days: int) -> Callable[[datetime], Window]:
    return lambda at: (_midnight(at) - days * DAY, _midnight(at))


def _yesterday(at: datetime) -> Window:
    return _midnight(at) - DAY, _midnight(at)


def _previous_week(at: datetime) -> Window:
    return _week_start(at) - 7 * DAY, _week_start(at)


def _previous_month(at: datetime) -> Window:
    return _months_before(_month_start(at), 1), _month_start(at)


def _previous_quarter(at: datetime) -> Window:
    return _months_before(_quarter_start(at), 3), _quarter_start(at)


def _previous_year(at: datetime) -> Window:
    return _year_start(at).replace(year=at.year - 1), _year_start(at)


def _last_12_hours(at: datetime) -> Window:
    hour = at.replace(minute=0, second=0, microsecond=0)
    return hour - timedelta(hours=12), hour


def _last_year(at: datetime) -> Window:
    return _one_year_before(_midnight(at)), _midnight(at)


_WINDOWS: dict[str, Callable[[datetime], Window]] = {
    "TODAY": _to_date(_midnight),
    "YESTERDAY": _yesterday,
    "WEEK_TO_DATE": _to_date(_week_start),
    "MONTH_TO_DATE": _to_date(_month_start),
    "YEAR_TO_DATE": _to_date(_year_start),
    "PREVIOUS_WEEK": _previous_week,
    "PREVIOUS_MONTH": _previous_month,
    "PREVIOUS_QUARTER": _previous_quarter,
    "PREVIOUS_YEAR": _previous_year,
    "LAST_12_HOURS": _last_12_hours,
    "LAST_7_DAYS": _last_days(7),
    "LAST_30_DAYS": _last_days(30),
    "LAST_35_DAYS": _last_days(35),
    "LAST_90_DAYS": _last_days(90),
    "LAST_120_DAYS": _last_days(120),
    "LAST_YEAR": _last_year,
}

TIME_PERIODS: tuple[str, ...] = tuple(_WINDOWS)


def period_window(period: str, run_at: datetime) -> Window:
    """The [start, end) UTC window that `period` covers for a run due at `run_at` (a naive
    `run_at` is taken as UTC); InvalidRequest for an unknown period."""
    window = _WINDOWS.get(period)
    if window is None:
        raise InvalidRequest(
            f"'timePeriod' {period!r} is not a time period: use one of {', '.join(TIME_PERIODS)}"
        )
    return window(as_utc(run_at))
