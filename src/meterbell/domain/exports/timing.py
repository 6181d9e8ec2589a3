"""When an export schedule runs: `scheduleType` + `period` + `offset`, or a `cronExpression`.

Every schedule is stored as a 5-field cron expression in UTC (minute hour day-of-month month
day-of-week). A `scheduleType` is turned into one, and `offset` aligns the runs inside it:

- `MINUTE` period p → `*/p * * * *`: every p minutes from the start of each hour. p must be
  15, 20 or 30 (a divisor of 60, so runs stay evenly spaced across hours); no offset.
- `HOUR` period p, offset o minutes → `o */p * * *`: at minute o of every p-th hour from
  midnight. HOUR 2 offset 30 runs at 00:30, 02:30, …, 22:30. p must divide 24 (1, 2, 3, 4, 6,
  8, 12 or 24) so runs stay evenly spaced across midnight; o is 0-59 (default 0).
- `DAY` period p, offset o hours → `0 o */p * *`: at o:00 on every p-th day of the month from
  the 1st. DAY 1 offset 3 runs at 03:00 every day; DAY 2 runs on the 1st, 3rd, …, 29th, 31st,
  so the run after the 31st is on the 1st, one day later (cron days restart each month).
  p is 1-3 (m3ter's lowest frequency is every 3 days); o is 0-23 (default 0).

Whatever its origin, a cron expression must run at least every 3 days and at most every 15
minutes (m3ter's limits); see `interval_problem` for how that is checked.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from croniter import CroniterError, croniter

from meterbell.domain.clock import as_utc
from meterbell.domain.errors import InvalidRequest

SCHEDULE_TYPES = ("HOUR", "DAY", "MINUTE")
MINUTE_PERIODS = (15, 20, 30)
HOUR_PERIODS = (1, 2, 3, 4, 6, 8, 12, 24)
MAX_DAY_PERIOD = 3
MIN_GAP_MINUTES = 15
MAX_GAP_DAYS = 3
MINUTES_PER_DAY = 24 * 60
INTERVAL_RULE = "the interval must be between 15 minutes and 3 days"

# The Gregorian calendar repeats its dates and weekdays every 28 years between 1901 and 2099,
# and those 28 years hold every kind of year (leap or not, starting on each weekday).
CYCLE_FIRST_YEAR = 2026
CYCLE_YEARS = 28
CYCLE_DAYS = 28 * 365 + 7

# One field: a list of `*`, `?`, a number or 3-letter name, or a range of those, each with an
# optional step. Leaves out croniter's extensions (L, W, #, H), which the interval check
# does not model.
_ATOM = r"(?:\*|\?|(?:\d+|[A-Za-z]{3})(?:-(?:\d+|[A-Za-z]{3}))?)(?:/\d+)?"
_STANDARD_FIELD = re.compile(rf"{_ATOM}(?:,{_ATOM})*")
_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")


@dataclass(frozen=True)
class Timing:
    """When a schedule runs, as the API shows it: the `scheduleType`/`period`/`offset` sent
    (all None when a `cronExpression` was sent instead) and the cron expression in force."""

    schedule_type: str | None
    period: int | None
    offset: int | None
    cron_expression: str


def resolve_timing(
    schedule_type: str | None,
    period: int | None,
    offset: int | None,
    cron_expression: str | None,
) -> Timing:
    """The timing a schedule request asks for, or InvalidRequest saying what to fix.

    A `cronExpression` sent along with a `scheduleType` is accepted only when it is the one
    the scheduleType derives (what GET returned, sent back by a PUT)."""
    if schedule_type is None:
        if period is not None or offset is not None:
            raise InvalidRequest(
                "'period' and 'offset' need a 'scheduleType' (HOUR, DAY or MINUTE); "
                "or send only a 'cronExpression'"
            )
        if cron_expression is None:
            raise InvalidRequest(
                "Say when the schedule runs: send 'scheduleType' (HOUR, DAY or MINUTE) with "
                "'period' (and optionally 'offset'), or a 'cronExpression' such as '0 3 * * *'"
            )
        return Timing(None, None, None, checked_cron(cron_expression))
    derived = derived_cron(schedule_type, period, offset)
    if cron_expression is not None and " ".join(cron_expression.split()) != derived:
        raise InvalidRequest(
            f"Send either 'scheduleType'/'period'/'offset' or 'cronExpression', not both: "
            f"'cronExpression' {cron_expression!r} differs from {derived!r}, which "
            f"scheduleType {schedule_type} with period {period} means"
        )
    return Timing(schedule_type, period, offset, checked_cron(derived))


def derived_cron(schedule_type: str, period: int | None, offset: int | None) -> str:
    """The cron expression of a `scheduleType`/`period`/`offset` (see the module docstring),
    or InvalidRequest when they are out of range."""
    if schedule_type not in SCHEDULE_TYPES:
        raise InvalidRequest(
            f"'scheduleType' {schedule_type!r} is not a schedule type: use HOUR, DAY or MINUTE"
        )
    if period is None:
        raise InvalidRequest(f"'period' is required with 'scheduleType' {schedule_type}")
    if schedule_type == "MINUTE":
        return _minute_cron(period, offset)
    if schedule_type == "HOUR":
        return _hour_cron(period, offset)
    return _day_cron(period, offset)


def _minute_cron(period: int, offset: int | None) -> str:
    if offset is not None:
        raise InvalidRequest("'offset' is not valid for scheduleType MINUTE: leave it out")
    if period not in MINUTE_PERIODS:
        raise InvalidRequest(
            f"'period' {period} is not valid for scheduleType MINUTE: use 15, 20 or 30 (runs "
            "are at most every 15 minutes and stay evenly spaced across hours); use HOUR for "
            "hourly or rarer runs"
        )
    return f"*/{period} * * * *"


def _hour_cron(period: int, offset: int | None) -> str:
    if period not in HOUR_PERIODS:
        raise InvalidRequest(
            f"'period' {period} is not valid for scheduleType HOUR: use a divisor of 24 "
            "(1, 2, 3, 4, 6, 8, 12 or 24) so runs stay evenly spaced across midnight"
        )
    minute = 0 if offset is None else offset
    if not 0 <= minute <= 59:
        raise InvalidRequest(
            f"'offset' {offset} is not valid for scheduleType HOUR: it is the minute of the "
            "hour, 0-59"
        )
    return f"{minute} */{period} * * *"


def _day_cron(period: int, offset: int | None) -> str:
    if not 1 <= period <= MAX_DAY_PERIOD:
        raise InvalidRequest(
            f"'period' {period} is not valid for scheduleType DAY: use 1, 2 or 3 (runs are at "
            "least every 3 days)"
        )
    hour = 0 if offset is None else offset
    if not 0 <= hour <= 23:
        raise InvalidRequest(
            f"'offset' {offset} is not valid for scheduleType DAY: it is the hour of the day, 0-23"
        )
    return f"0 {hour} */{period} * *"


def checked_cron(expression: str) -> str:
    """`expression` with single spaces between its fields, or InvalidRequest when it is not a
    standard 5-field cron expression or runs more often than every 15 minutes or less often
    than every 3 days."""
    fields = expression.split()
    if len(fields) != len(_FIELDS):
        raise InvalidRequest(
            f"'cronExpression' {expression!r} must have 5 fields (minute hour day-of-month "
            "month day-of-week, in UTC), e.g. '0 3 * * *'"
        )
    for name, field in zip(_FIELDS, fields, strict=True):
        if not _STANDARD_FIELD.fullmatch(field):
            raise InvalidRequest(
                f"'cronExpression' {expression!r} has an unsupported {name} field {field!r}: "
                "use numbers, names (JAN, MON), '*', ranges (1-5), steps (*/2) and lists (1,15)"
            )
    normalized = " ".join(fields)
    try:
        expanded, _ = croniter.expand(normalized)
    except CroniterError as error:
        raise InvalidRequest(
            f"'cronExpression' {expression!r} is not a valid cron expression: {error}"
        ) from None
    if problem := interval_problem(expanded):
        raise InvalidRequest(f"'cronExpression' {expression!r} {problem}")
    return normalized


def next_run(cron_expression: str, after: datetime) -> datetime:
    """The first run of `cron_expression` strictly after `after` (naive means UTC), in UTC."""
    run = croniter(cron_expression, as_utc(after)).get_next(datetime)
    return run.astimezone(UTC)


# -- the interval check -----------------------------------------------------------------------

Expanded = Sequence[Sequence[int | str]]


def interval_problem(expanded: Expanded) -> str | None:
    """Why the cron expression `expanded` (croniter's expansion of its 5 fields) never runs, or
    runs too often or too rarely (naming the first offending gap from 2026 on); None when every
    gap between consecutive runs is between 15 minutes and 3 days, both included.

    How: the runs are the run days x the run times of day (every hour x every minute listed).
    Gaps inside a day come from the sorted times of day. Gaps across days are
    `days x 24 h - (last time - first time)`; as the times of one day span less than 24 h, a
    gap of 4 days or more between run days is always too long, one of 3 days or less never
    is, and consecutive run days can only bring runs too close when the times span more than
    23:45. So only the run days need walking, not the runs: the run days of one 28-year
    calendar cycle (2026-2053, about 10,000 days), whose gaps, closed around the cycle, are
    every gap the expression ever has between 1901 and 2099 (2100, not a leap year, breaks the
    cycle but holds no day context the cycle lacks). Cost: about one step per run day, a few
    milliseconds for `*/15 * * * *`, whatever the number of runs. Limits: standard syntax
    only (croniter's L, W, # and H are refused before this check), and the day-of-month /
    day-of-week rule is croniter's: a day runs when it matches both fields, or either one
    when both are restricted.
    """
    times = sorted(
        h * 60 + m for h in _values(expanded[1], 24, 0) for m in _values(expanded[0], 60, 0)
    )
    days = _run_days(expanded)
    if not days:
        return "never runs: no date matches its day-of-month, month and day-of-week"
    inside = _gap_inside_days(times)
    if inside is not None:
        return _too_often(days[0], times, inside)
    return _gap_across_days(days, times)


def _values(field: Sequence[int | str], size: int, low: int) -> list[int]:
    """The numbers a field matches (`*` is all of low … low + size - 1)."""
    if field[0] == "*":
        return list(range(low, low + size))
    return [int(value) for value in field]


def _gap_inside_days(times: Sequence[int]) -> int | None:
    """The index of the first time of day that follows the previous one too closely."""
    for index in range(1, len(times)):
        if times[index] - times[index - 1] < MIN_GAP_MINUTES:
            return index
    return None


def _too_often(day: int, times: Sequence[int], index: int) -> str:
    first = _instant(day, times[index - 1])
    second = _instant(day, times[index])
    return _gap_text("runs too often", first, second)


def _gap_across_days(days: Sequence[int], times: Sequence[int]) -> str | None:
    span = times[-1] - times[0]
    for index, day in enumerate(days):
        following = days[index + 1] if index + 1 < len(days) else days[0] + CYCLE_DAYS
        gap = (following - day) * MINUTES_PER_DAY - span
        if gap > MAX_GAP_DAYS * MINUTES_PER_DAY:
            return _gap_text(
                "runs too rarely", _instant(day, times[-1]), _instant(following, times[0])
            )
        if gap < MIN_GAP_MINUTES:
            return _gap_text(
                "runs too often", _instant(day, times[-1]), _instant(following, times[0])
            )
    return None


def _run_days(expanded: Expanded) -> list[int]:
    """The proleptic ordinals of the days of the cycle on which the expression runs."""
    months = _values(expanded[3], 12, 1)
    days_of_month = None if expanded[2][0] == "*" else frozenset(int(d) for d in expanded[2])
    days_of_week = None if expanded[4][0] == "*" else frozenset(int(d) for d in expanded[4])
    return [
        first + day - 1
        for year, month, first in _month_starts(months)
        for day in _month_run_days(
            monthrange(year, month)[1],
            (date.fromordinal(first).weekday() + 1) % 7,
            days_of_month,
            days_of_week,
        )
    ]


def _month_starts(months: Sequence[int]) -> Iterator[tuple[int, int, int]]:
    for year in range(CYCLE_FIRST_YEAR, CYCLE_FIRST_YEAR + CYCLE_YEARS):
        for month in months:
            yield year, month, date(year, month, 1).toordinal()


@lru_cache(maxsize=4096)
def _month_run_days(
    length: int,
    first_weekday: int,
    days_of_month: frozenset[int] | None,
    days_of_week: frozenset[int] | None,
) -> tuple[int, ...]:
    """The days of a month of `length` days starting on `first_weekday` (0 = Sunday, as in
    cron) on which the expression runs: with both day fields restricted, a day matching
    either; otherwise a day matching the restricted one (None = unrestricted)."""

    def runs(day: int) -> bool:
        by_month = days_of_month is None or day in days_of_month
        by_week = days_of_week is None or (first_weekday + day - 1) % 7 in days_of_week
        if days_of_month is not None and days_of_week is not None:
            return by_month or by_week
        return by_month and by_week

    return tuple(day for day in range(1, length + 1) if runs(day))


def _instant(day: int, minute_of_day: int) -> datetime:
    start = datetime.combine(date.fromordinal(day), datetime.min.time(), UTC)
    return start + timedelta(minutes=minute_of_day)


def _gap_text(verdict: str, first: datetime, second: datetime) -> str:
    minutes = int((second - first).total_seconds()) // 60
    return (
        f"{verdict}: {_duration(minutes)} between the runs at {first:%Y-%m-%dT%H:%MZ} and "
        f"{second:%Y-%m-%dT%H:%MZ}; {INTERVAL_RULE}"
    )


def _duration(minutes: int) -> str:
    """`minutes` in words: "5 minutes", "3 days 15 minutes", "1 day 2 hours"."""
    days, rest = divmod(minutes, MINUTES_PER_DAY)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    return " ".join(f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n)
