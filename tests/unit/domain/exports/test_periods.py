"""Usage export time periods: the [start, end) window of every period at fixed instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from meterbell.domain.errors import InvalidRequest
from meterbell.domain.exports.periods import TIME_PERIODS, period_window


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# Wednesday 2026-01-28 10:37 UTC.
RUN = at(2026, 1, 28, 10, 37)


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("TODAY", at(2026, 1, 28), RUN),
        ("YESTERDAY", at(2026, 1, 27), at(2026, 1, 28)),
        ("WEEK_TO_DATE", at(2026, 1, 26), RUN),
        ("MONTH_TO_DATE", at(2026, 1, 1), RUN),
        ("YEAR_TO_DATE", at(2026, 1, 1), RUN),
        ("PREVIOUS_WEEK", at(2026, 1, 19), at(2026, 1, 26)),
        ("PREVIOUS_MONTH", at(2025, 12, 1), at(2026, 1, 1)),
        ("PREVIOUS_QUARTER", at(2025, 10, 1), at(2026, 1, 1)),
        ("PREVIOUS_YEAR", at(2025, 1, 1), at(2026, 1, 1)),
        ("LAST_12_HOURS", at(2026, 1, 27, 22), at(2026, 1, 28, 10)),
        ("LAST_7_DAYS", at(2026, 1, 21), at(2026, 1, 28)),
        ("LAST_30_DAYS", at(2025, 12, 29), at(2026, 1, 28)),
        ("LAST_35_DAYS", at(2025, 12, 24), at(2026, 1, 28)),
        ("LAST_90_DAYS", at(2025, 10, 30), at(2026, 1, 28)),
        ("LAST_120_DAYS", at(2025, 9, 30), at(2026, 1, 28)),
        ("LAST_YEAR", at(2025, 1, 28), at(2026, 1, 28)),
    ],
)
def test_every_period_on_a_wednesday_in_january(
    period: str, start: datetime, end: datetime
) -> None:
    assert period_window(period, RUN) == (start, end)


def test_the_list_of_periods_is_m3ters() -> None:
    assert TIME_PERIODS == (
        "TODAY",
        "YESTERDAY",
        "WEEK_TO_DATE",
        "MONTH_TO_DATE",
        "YEAR_TO_DATE",
        "PREVIOUS_WEEK",
        "PREVIOUS_MONTH",
        "PREVIOUS_QUARTER",
        "PREVIOUS_YEAR",
        "LAST_12_HOURS",
        "LAST_7_DAYS",
        "LAST_30_DAYS",
        "LAST_35_DAYS",
        "LAST_90_DAYS",
        "LAST_120_DAYS",
        "LAST_YEAR",
    )


@pytest.mark.parametrize("period", TIME_PERIODS)
def test_every_window_is_utc_and_not_reversed(period: str) -> None:
    start, end = period_window(period, RUN)
    assert start.tzinfo is UTC
    assert end.tzinfo is UTC
    assert start < end


@pytest.mark.parametrize(
    ("run", "this_week", "previous_week"),
    [
        # Monday 00:00: the week has just started.
        (at(2026, 1, 26), at(2026, 1, 26), at(2026, 1, 19)),
        # Monday during the day.
        (at(2026, 1, 26, 9), at(2026, 1, 26), at(2026, 1, 19)),
        # Sunday 23:59: the last minute of the week that started on Monday.
        (at(2026, 2, 1, 23, 59), at(2026, 1, 26), at(2026, 1, 19)),
        # A week that spans a year end: Monday 2025-12-29 to Monday 2026-01-05.
        (at(2026, 1, 1, 12), at(2025, 12, 29), at(2025, 12, 22)),
    ],
)
def test_weeks_run_monday_to_monday(
    run: datetime, this_week: datetime, previous_week: datetime
) -> None:
    assert period_window("WEEK_TO_DATE", run) == (this_week, run)
    assert period_window("PREVIOUS_WEEK", run) == (previous_week, this_week)


def test_a_run_at_midnight() -> None:
    midnight = at(2026, 3, 1)
    assert period_window("TODAY", midnight) == (midnight, midnight)
    assert period_window("YESTERDAY", midnight) == (at(2026, 2, 28), midnight)
    assert period_window("MONTH_TO_DATE", midnight) == (midnight, midnight)
    assert period_window("PREVIOUS_MONTH", midnight) == (at(2026, 2, 1), midnight)
    assert period_window("LAST_7_DAYS", midnight) == (at(2026, 2, 22), midnight)
    assert period_window("LAST_12_HOURS", midnight) == (at(2026, 2, 28, 12), midnight)


def test_last_12_hours_ends_at_the_start_of_the_hour_of_the_run() -> None:
    assert period_window("LAST_12_HOURS", at(2026, 1, 1, 5, 59)) == (
        at(2025, 12, 31, 17),
        at(2026, 1, 1, 5),
    )


def test_january_first() -> None:
    run = at(2026, 1, 1, 8)
    assert period_window("YESTERDAY", run) == (at(2025, 12, 31), at(2026, 1, 1))
    assert period_window("YEAR_TO_DATE", run) == (at(2026, 1, 1), run)
    assert period_window("PREVIOUS_MONTH", run) == (at(2025, 12, 1), at(2026, 1, 1))
    assert period_window("PREVIOUS_QUARTER", run) == (at(2025, 10, 1), at(2026, 1, 1))
    assert period_window("PREVIOUS_YEAR", run) == (at(2025, 1, 1), at(2026, 1, 1))


@pytest.mark.parametrize(
    ("run", "start", "end"),
    [
        (at(2026, 3, 31, 23, 59), at(2025, 10, 1), at(2026, 1, 1)),
        (at(2026, 4, 1), at(2026, 1, 1), at(2026, 4, 1)),
        (at(2026, 6, 15), at(2026, 1, 1), at(2026, 4, 1)),
        (at(2026, 7, 1), at(2026, 4, 1), at(2026, 7, 1)),
        (at(2026, 9, 30), at(2026, 4, 1), at(2026, 7, 1)),
        (at(2026, 10, 1), at(2026, 7, 1), at(2026, 10, 1)),
        (at(2026, 12, 31, 23), at(2026, 7, 1), at(2026, 10, 1)),
    ],
)
def test_previous_quarter_at_quarter_boundaries(
    run: datetime, start: datetime, end: datetime
) -> None:
    assert period_window("PREVIOUS_QUARTER", run) == (start, end)


def test_month_ends() -> None:
    run = at(2026, 3, 31, 18)
    assert period_window("MONTH_TO_DATE", run) == (at(2026, 3, 1), run)
    assert period_window("PREVIOUS_MONTH", run) == (at(2026, 2, 1), at(2026, 3, 1))
    assert period_window("PREVIOUS_MONTH", at(2026, 5, 31)) == (at(2026, 4, 1), at(2026, 5, 1))
    assert period_window("LAST_30_DAYS", run) == (at(2026, 3, 1), at(2026, 3, 31))


def test_leap_day_run() -> None:
    run = at(2024, 2, 29, 6)
    assert period_window("TODAY", run) == (at(2024, 2, 29), run)
    assert period_window("YESTERDAY", run) == (at(2024, 2, 28), at(2024, 2, 29))
    assert period_window("MONTH_TO_DATE", run) == (at(2024, 2, 1), run)
    assert period_window("LAST_7_DAYS", run) == (at(2024, 2, 22), at(2024, 2, 29))
    assert period_window("LAST_YEAR", run) == (at(2023, 2, 28), at(2024, 2, 29))


def test_the_day_after_a_leap_day() -> None:
    run = at(2028, 3, 1, 0, 30)
    assert period_window("YESTERDAY", run) == (at(2028, 2, 29), at(2028, 3, 1))
    assert period_window("PREVIOUS_MONTH", run) == (at(2028, 2, 1), at(2028, 3, 1))
    assert period_window("LAST_30_DAYS", run) == (at(2028, 1, 31), at(2028, 3, 1))
    assert period_window("LAST_YEAR", run) == (at(2027, 3, 1), at(2028, 3, 1))


def test_last_year_holds_the_days_of_a_year() -> None:
    start, end = period_window("LAST_YEAR", at(2024, 3, 1))
    assert end - start == timedelta(days=366)  # includes 2024-02-29
    start, end = period_window("LAST_YEAR", at(2026, 3, 1))
    assert end - start == timedelta(days=365)


def test_a_run_in_another_zone_or_naive_is_read_as_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert period_window("TODAY", datetime(2026, 1, 2, 1, 0, tzinfo=plus_two)) == (
        at(2026, 1, 1),
        at(2026, 1, 1, 23),
    )
    assert period_window("YESTERDAY", datetime(2026, 1, 2, 1, 0)) == (
        at(2026, 1, 1),
        at(2026, 1, 2),
    )


def test_an_unknown_period_lists_the_allowed_ones() -> None:
    with pytest.raises(InvalidRequest) as caught:
        period_window("LAST_WEEK", RUN)
    assert caught.value.message.startswith("'timePeriod' 'LAST_WEEK' is not a time period")
    assert "PREVIOUS_WEEK" in caught.value.message
    assert "LAST_120_DAYS" in caught.value.message
