"""Export schedule timing: derived cron expressions, every validation message, the interval
check (against croniter's own runs) and the next run."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter

from meterbell.domain.errors import InvalidRequest
from meterbell.domain.exports.timing import (
    Timing,
    checked_cron,
    next_run,
    resolve_timing,
)

RULE = "the interval must be between 15 minutes and 3 days"


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def problem(
    schedule_type: str | None = None,
    period: int | None = None,
    offset: int | None = None,
    cron: str | None = None,
) -> str:
    with pytest.raises(InvalidRequest) as caught:
        resolve_timing(schedule_type, period, offset, cron)
    return caught.value.message


# -- derived expressions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule_type", "period", "offset", "cron"),
    [
        ("MINUTE", 15, None, "*/15 * * * *"),
        ("MINUTE", 20, None, "*/20 * * * *"),
        ("MINUTE", 30, None, "*/30 * * * *"),
        ("HOUR", 1, None, "0 */1 * * *"),
        ("HOUR", 2, 30, "30 */2 * * *"),
        ("HOUR", 24, 59, "59 */24 * * *"),
        ("HOUR", 6, 0, "0 */6 * * *"),
        ("DAY", 1, None, "0 0 */1 * *"),
        ("DAY", 1, 3, "0 3 */1 * *"),
        ("DAY", 3, 23, "0 23 */3 * *"),
    ],
)
def test_a_schedule_type_derives_its_cron_expression(
    schedule_type: str, period: int, offset: int | None, cron: str
) -> None:
    assert resolve_timing(schedule_type, period, offset, None) == Timing(
        schedule_type, period, offset, cron
    )


def test_offset_aligns_the_runs() -> None:
    hour = resolve_timing("HOUR", 2, 30, None).cron_expression
    assert [next_run(hour, at(2026, 1, 1) + timedelta(hours=h)) for h in (0, 1, 2, 23)] == [
        at(2026, 1, 1, 0, 30),
        at(2026, 1, 1, 2, 30),
        at(2026, 1, 1, 2, 30),
        at(2026, 1, 2, 0, 30),
    ]
    day = resolve_timing("DAY", 1, 3, None).cron_expression
    assert next_run(day, at(2026, 1, 1, 3)) == at(2026, 1, 2, 3)
    assert next_run(day, at(2026, 1, 31, 2, 59)) == at(2026, 1, 31, 3)


def test_day_periods_restart_on_the_first_of_each_month() -> None:
    cron = resolve_timing("DAY", 2, None, None).cron_expression
    assert next_run(cron, at(2026, 1, 29)) == at(2026, 1, 31)
    assert next_run(cron, at(2026, 1, 31)) == at(2026, 2, 1)


def test_a_cron_expression_alone_is_kept_with_single_spaces() -> None:
    assert resolve_timing(None, None, None, " 0  3 *\t* * ") == Timing(
        None, None, None, "0 3 * * *"
    )


def test_a_cron_expression_equal_to_the_derived_one_is_accepted() -> None:
    # A client that PUTs back what it got sends both.
    assert resolve_timing("HOUR", 2, 30, "30 */2 * * *") == Timing("HOUR", 2, 30, "30 */2 * * *")
    assert resolve_timing("DAY", 1, None, "0  0 */1 * *").cron_expression == "0 0 */1 * *"


# -- validation messages -----------------------------------------------------------------------


def test_nothing_sent() -> None:
    assert problem() == (
        "Say when the schedule runs: send 'scheduleType' (HOUR, DAY or MINUTE) with 'period' "
        "(and optionally 'offset'), or a 'cronExpression' such as '0 3 * * *'"
    )


@pytest.mark.parametrize(("period", "offset"), [(1, None), (None, 5), (2, 5)])
def test_period_or_offset_without_a_schedule_type(period: int | None, offset: int | None) -> None:
    assert problem(None, period, offset, "0 * * * *") == (
        "'period' and 'offset' need a 'scheduleType' (HOUR, DAY or MINUTE); "
        "or send only a 'cronExpression'"
    )


def test_a_schedule_type_and_a_different_cron_expression() -> None:
    assert problem("HOUR", 2, 30, "0 */2 * * *") == (
        "Send either 'scheduleType'/'period'/'offset' or 'cronExpression', not both: "
        "'cronExpression' '0 */2 * * *' differs from '30 */2 * * *', which scheduleType HOUR "
        "with period 2 means"
    )


def test_an_unknown_schedule_type() -> None:
    assert problem("HOURLY", 1) == (
        "'scheduleType' 'HOURLY' is not a schedule type: use HOUR, DAY or MINUTE"
    )


def test_a_schedule_type_without_period() -> None:
    assert problem("DAY") == "'period' is required with 'scheduleType' DAY"


@pytest.mark.parametrize("period", [1, 5, 10, 14, 16, 45, 60, 90])
def test_minute_periods(period: int) -> None:
    assert problem("MINUTE", period) == (
        f"'period' {period} is not valid for scheduleType MINUTE: use 15, 20 or 30 (runs are at "
        "most every 15 minutes and stay evenly spaced across hours); use HOUR for hourly or "
        "rarer runs"
    )


def test_minute_offset() -> None:
    assert problem("MINUTE", 15, 0) == (
        "'offset' is not valid for scheduleType MINUTE: leave it out"
    )


@pytest.mark.parametrize("period", [5, 7, 9, 10, 25, 48])
def test_hour_periods(period: int) -> None:
    assert problem("HOUR", period) == (
        f"'period' {period} is not valid for scheduleType HOUR: use a divisor of 24 "
        "(1, 2, 3, 4, 6, 8, 12 or 24) so runs stay evenly spaced across midnight"
    )


@pytest.mark.parametrize("offset", [-1, 60, 90])
def test_hour_offsets(offset: int) -> None:
    assert problem("HOUR", 1, offset) == (
        f"'offset' {offset} is not valid for scheduleType HOUR: it is the minute of the hour, 0-59"
    )


@pytest.mark.parametrize("period", [0, 4, 7, 30])
def test_day_periods(period: int) -> None:
    assert problem("DAY", period) == (
        f"'period' {period} is not valid for scheduleType DAY: use 1, 2 or 3 (runs are at least "
        "every 3 days)"
    )


@pytest.mark.parametrize("offset", [-1, 24, 100])
def test_day_offsets(offset: int) -> None:
    assert problem("DAY", 1, offset) == (
        f"'offset' {offset} is not valid for scheduleType DAY: it is the hour of the day, 0-23"
    )


@pytest.mark.parametrize("cron", ["", "0 3 * *", "0 0 3 * * *", "@daily"])
def test_a_cron_expression_needs_five_fields(cron: str) -> None:
    assert problem(cron=cron) == (
        f"'cronExpression' {cron!r} must have 5 fields (minute hour day-of-month month "
        "day-of-week, in UTC), e.g. '0 3 * * *'"
    )


@pytest.mark.parametrize(
    ("cron", "name", "field"),
    [
        ("0 0 L * *", "day-of-month", "L"),
        ("0 0 15W * *", "day-of-month", "15W"),
        ("0 0 * * 1#2", "day-of-week", "1#2"),
        ("0 0 * * 5L", "day-of-week", "5L"),
        ("H * * * *", "minute", "H"),
        ("0 0 1,,2 * *", "day-of-month", "1,,2"),
    ],
)
def test_extensions_of_cron_are_refused(cron: str, name: str, field: str) -> None:
    assert problem(cron=cron) == (
        f"'cronExpression' {cron!r} has an unsupported {name} field {field!r}: use numbers, "
        "names (JAN, MON), '*', ranges (1-5), steps (*/2) and lists (1,15)"
    )


@pytest.mark.parametrize(
    ("cron", "complaint"),
    [
        ("61 * * * *", "out of range"),
        ("0 25 * * *", "out of range"),
        ("*/0 * * * *", "step '0'"),
        ("0 0 * foo *", "is not acceptable"),
        ("? * * * *", "Question mark can only used in day_of_month or day_of_week"),
    ],
)
def test_an_unparsable_cron_expression_names_croniters_complaint(cron: str, complaint: str) -> None:
    message = problem(cron=cron)
    assert message.startswith(f"'cronExpression' {cron!r} is not a valid cron expression: ")
    assert complaint in message


def test_a_cron_expression_that_never_runs() -> None:
    assert problem(cron="0 0 31 2 *") == (
        "'cronExpression' '0 0 31 2 *' never runs: no date matches its day-of-month, month and "
        "day-of-week"
    )


# -- the interval check ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "verdict"),
    [
        (
            "*/5 * * * *",
            "runs too often: 5 minutes between the runs at 2026-01-01T00:00Z and 2026-01-01T00:05Z",
        ),
        (
            "0,14 * * * *",
            "runs too often: 14 minutes between the runs at 2026-01-01T00:00Z and "
            "2026-01-01T00:14Z",
        ),
        # Across midnight: 23:55 then 00:00.
        (
            "0,55 0,23 * * *",
            "runs too often: 5 minutes between the runs at 2026-01-01T23:55Z and 2026-01-02T00:00Z",
        ),
        (
            "*/15 * 1-28 * *",
            "runs too rarely: 3 days 15 minutes between the runs at "
            "2026-01-28T23:45Z and 2026-02-01T00:00Z",
        ),
        (
            "0 0 * * 1",
            "runs too rarely: 7 days between the runs at 2026-01-05T00:00Z and 2026-01-12T00:00Z",
        ),
        (
            "0 0 * * 0,3",
            "runs too rarely: 4 days between the runs at 2026-01-07T00:00Z and 2026-01-11T00:00Z",
        ),
        (
            "0 0 1 * *",
            "runs too rarely: 31 days between the runs at 2026-01-01T00:00Z and 2026-02-01T00:00Z",
        ),
        (
            "0 0 * 1-11 *",
            "runs too rarely: 32 days between the runs at 2026-11-30T00:00Z and 2027-01-01T00:00Z",
        ),
        (
            "0 0 29 2 *",
            "runs too rarely: 1461 days between the runs at 2028-02-29T00:00Z and "
            "2032-02-29T00:00Z",
        ),
        (
            "0 12 1,4,7,10,13,16,19,22,25,28 * *",
            "runs too rarely: 4 days between the runs at 2026-01-28T12:00Z and 2026-02-01T12:00Z",
        ),
    ],
)
def test_gaps_out_of_range_are_refused_with_an_example(cron: str, verdict: str) -> None:
    assert problem(cron=cron) == f"'cronExpression' {cron!r} {verdict}; {RULE}"


@pytest.mark.parametrize(
    "cron",
    [
        "*/15 * * * *",
        "0,15,30,45 * * * *",
        "*/20 9-17 * * *",
        "0 0 * * *",
        "45 23 * * *",
        "0 0,23 * * *",
        "45 0,23 * * *",  # 23:45 then 00:45: an hour apart
        "0 0 */3 * *",  # the 31st then the 1st: 1 day; the 28th then March 1st: at most 2
        "0 0 * * 1,3,5",  # Friday to Monday: exactly 3 days
        "0 0 * * 0,3,4",
        "0 0 1,15 * 1,3,5",  # either day field matches
        "0 0 1-31 * 1",
        "59/15 * * * *",  # croniter: minute 59 only
        "0 0 ? * *",
        "0 0 * JAN-DEC MON-SUN",
    ],
)
def test_gaps_in_range_are_accepted(cron: str) -> None:
    assert checked_cron(cron) == cron


def _croniter_gaps(cron: str, start: datetime, end: datetime) -> tuple[timedelta, timedelta]:
    """The smallest and largest gap between runs in [start, end), found by walking croniter."""
    runs = croniter(cron, start - timedelta(seconds=1))
    previous = runs.get_next(datetime)
    smallest, largest = timedelta.max, timedelta(0)
    while previous < end:
        current = runs.get_next(datetime)
        smallest, largest = min(smallest, current - previous), max(largest, current - previous)
        previous = current
    return smallest, largest


@pytest.mark.parametrize(
    "cron",
    [
        "0 0 * * 1,3,5",
        "0 0 * * 1,4",
        "0 6 */3 * *",
        "0 6 */2 * 0",
        "0 0 1,15,28 * 2,5",
        "0 0 3-31/4 * *",
        "0 0,23 * 2 *",
        "50 0,23 * * *",
        "0,55 0,23 * * *",
        "0 12 1,4,7,10,13,16,19,22,25,28 * *",
        "0 0 29,30,31,1,2 * 3",
        "0 0 * * *",
    ],
)
def test_the_verdict_agrees_with_croniters_own_runs(cron: str) -> None:
    smallest, largest = _croniter_gaps(cron, at(2027, 12, 1), at(2029, 1, 1))
    in_range = timedelta(minutes=15) <= smallest and largest <= timedelta(days=3)
    try:
        checked_cron(cron)
        accepted = True
    except InvalidRequest:
        accepted = False
    assert accepted == in_range


def test_the_check_of_the_most_frequent_expression_is_fast() -> None:
    started = time.perf_counter()
    assert checked_cron("*/15 * * * *") == "*/15 * * * *"
    assert checked_cron("*/15 * 1-30 * *") == "*/15 * 1-30 * *"
    # Generous bound: it takes a few milliseconds; walking croniter over the cycle takes minutes.
    assert time.perf_counter() - started < 1.0


# -- next run ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        ("*/15 * * * *", at(2026, 1, 1, 10, 15), at(2026, 1, 1, 10, 30)),
        ("*/15 * * * *", at(2026, 1, 1, 10, 14) + timedelta(seconds=59.5), at(2026, 1, 1, 10, 15)),
        ("*/15 * * * *", at(2026, 1, 31, 23, 50), at(2026, 2, 1)),
        ("0 3 * * *", at(2026, 12, 31, 3), at(2027, 1, 1, 3)),
        ("0 0 */1 * *", at(2024, 2, 28, 1), at(2024, 2, 29)),
        ("0 0 */1 * *", at(2024, 2, 29), at(2024, 3, 1)),
        ("0 0 */3 * *", at(2026, 2, 28), at(2026, 3, 1)),
        # UTC only: no daylight-saving jump on the last Sunday of March.
        ("30 1 * * *", at(2026, 3, 29), at(2026, 3, 29, 1, 30)),
    ],
)
def test_next_run_is_strictly_after(cron: str, after: datetime, expected: datetime) -> None:
    run = next_run(cron, after)
    assert run == expected
    assert run.tzinfo is UTC


def test_next_run_reads_naive_times_as_utc() -> None:
    assert next_run("0 * * * *", datetime(2026, 1, 1, 10, 5)) == at(2026, 1, 1, 11)
