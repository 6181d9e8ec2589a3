"""Usage aggregation: every function and grouping against hand-computed values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meterbell.domain.errors import InvalidRequest
from meterbell.domain.exports.aggregation import (
    FUNCTIONS_BY_FIELD_TYPE,
    Aggregation,
    Aggregator,
    Group,
    check_aggregation,
    check_group,
    time_bucket,
)


def at(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# (meter, account, ts, seq, fields). 2026-01-04 is a Sunday, 2026-01-05 a Monday.
MEASUREMENTS: list[tuple[str, str, datetime, int, dict[str, object]]] = [
    ("m1", "a1", at(1, 4, 23, 30), 1, {"quantity": 5, "region": "eu"}),
    ("m1", "a1", at(1, 5, 0, 15), 2, {"quantity": 3, "region": "us"}),
    ("m1", "a2", at(1, 5, 10), 3, {"quantity": None, "region": "eu"}),
    ("m1", "a2", at(1, 5, 10), 4, {"quantity": 7}),
    ("m1", "a1", at(3, 31, 23, 59), 5, {"quantity": 2.5, "region": "eu"}),
    ("m1", "a1", at(4, 1), 6, {"quantity": 1, "region": "us"}),
    ("m2", "a1", at(1, 5, 12), 7, {"quantity": 100, "customer": "c1"}),
    ("m2", "a2", at(1, 5, 12), 8, {"quantity": 200, "customer": "c1"}),
    ("m3", "a3", at(1, 6), 9, {"quantity": 1000, "region": "eu"}),
    # Same ts as seq 4, ingested earlier: seq 4 is the latest.
    ("m1", "a2", at(1, 5, 10), 0, {"quantity": 8}),
]


def m1(field: str, function: str, field_type: str = "MEASURE") -> Aggregation:
    return Aggregation("m1", field, field_type, function)  # type: ignore[arg-type]


def aggregate(
    aggregations: list[Aggregation], groups: list[Group]
) -> tuple[list[str], list[list[object]]]:
    aggregator = Aggregator(aggregations, groups)
    for measurement in MEASUREMENTS:
        aggregator.add(*measurement)
    return aggregator.columns(), list(aggregator.rows())


def test_every_function_without_groups() -> None:
    columns, rows = aggregate(
        [
            m1("quantity", "SUM"),
            m1("quantity", "MIN"),
            m1("quantity", "MAX"),
            m1("quantity", "COUNT"),
            m1("quantity", "LATEST"),
            m1("quantity", "MEAN"),
            m1("region", "COUNT", "DIMENSION"),
            m1("region", "UNIQUE", "DIMENSION"),
            Aggregation("m2", "quantity", "MEASURE", "SUM"),
        ],
        [],
    )
    assert columns == [
        "quantity_sum_m1",
        "quantity_min",
        "quantity_max",
        "quantity_count",
        "quantity_latest",
        "quantity_mean",
        "region_count",
        "region_unique",
        "quantity_sum_m2",
    ]
    # m1 quantities: 5, 3, (null), 7, 2.5, 1, 8; regions eu, us, eu, (missing), eu, us, (missing).
    assert rows == [[26.5, 1, 8, 6, 1, 26.5 / 6, 5, 2, 300]]


def test_sums_of_ints_stay_ints_and_means_are_floats() -> None:
    aggregator = Aggregator([m1("quantity", "SUM"), m1("quantity", "MEAN")], [])
    aggregator.add("m1", "a1", at(1, 1), 1, {"quantity": 2})
    aggregator.add("m1", "a1", at(1, 1), 2, {"quantity": 4})
    [[total, mean]] = list(aggregator.rows())
    assert total == 6
    assert type(total) is int
    assert mean == 3.0
    assert type(mean) is float


def test_functions_of_no_values() -> None:
    functions = ["SUM", "MIN", "MAX", "COUNT", "LATEST", "MEAN"]
    aggregator = Aggregator([m1("quantity", f) for f in functions], [])
    aggregator.add("m1", "a1", at(1, 1), 1, {"quantity": None})
    aggregator.add("m1", "a1", at(1, 1), 2, {})
    assert list(aggregator.rows()) == [[None, None, None, 0, None, None]]


def test_numeric_functions_ignore_values_that_are_not_numbers() -> None:
    functions = ["SUM", "MIN", "MAX", "MEAN", "COUNT", "LATEST"]
    aggregator = Aggregator([m1("quantity", f) for f in functions], [])
    aggregator.add("m1", "a1", at(1, 1), 1, {"quantity": 4})
    aggregator.add("m1", "a1", at(1, 2), 2, {"quantity": "lots"})
    aggregator.add("m1", "a1", at(1, 3), 3, {"quantity": True})
    assert list(aggregator.rows()) == [[4, 4, 4, 4.0, 3, True]]


def test_latest_prefers_the_greatest_ts_then_the_greatest_seq() -> None:
    aggregator = Aggregator([m1("quantity", "LATEST")], [])
    aggregator.add("m1", "a1", at(1, 2), 5, {"quantity": "later ts"})
    aggregator.add("m1", "a1", at(1, 1), 9, {"quantity": "greater seq, earlier ts"})
    assert list(aggregator.rows()) == [["later ts"]]
    aggregator.add("m1", "a1", at(1, 2), 6, {"quantity": "same ts, greater seq"})
    aggregator.add("m1", "a1", at(1, 2), 4, {"quantity": "same ts, smaller seq"})
    assert list(aggregator.rows()) == [["same ts, greater seq"]]


def test_grouped_by_account() -> None:
    columns, rows = aggregate(
        [m1("quantity", "SUM"), m1("quantity", "LATEST"), m1("region", "UNIQUE", "DIMENSION")],
        [Group("ACCOUNT")],
    )
    assert columns == ["accountId", "quantity_sum", "quantity_latest", "region_unique"]
    # a3 has only measurements of m3, which nothing aggregates: no row.
    assert rows == [["a1", 11.5, 1, 2], ["a2", 15, 7, 1]]


def test_grouped_by_a_dimension_of_one_meter() -> None:
    columns, rows = aggregate(
        [m1("quantity", "SUM"), Aggregation("m2", "quantity", "MEASURE", "SUM")],
        [Group("DIMENSION", meter_id="m1", field_code="region")],
    )
    assert columns == ["region", "quantity_sum_m1", "quantity_sum_m2"]
    # m2's measurements have no m1 region: they fall in the None group, which sorts first.
    assert rows == [[None, 15, 300], ["eu", 7.5, None], ["us", 4, None]]


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        (
            "HOUR",
            [
                [at(1, 4, 23), 1],
                [at(1, 5), 1],
                [at(1, 5, 10), 2],
                [at(3, 31, 23), 1],
                [at(4, 1), 1],
            ],
        ),
        ("DAY", [[at(1, 4), 1], [at(1, 5), 3], [at(3, 31), 1], [at(4, 1), 1]]),
        # Sunday 2026-01-04 belongs to the week of Monday 2025-12-29.
        ("WEEK", [[at(12, 29, year=2025), 1], [at(1, 5), 3], [at(3, 30), 2]]),
        ("MONTH", [[at(1, 1), 4], [at(3, 1), 1], [at(4, 1), 1]]),
        ("QUARTER", [[at(1, 1), 5], [at(4, 1), 1]]),
    ],
)
def test_grouped_by_time(frequency: str, expected: list[list[object]]) -> None:
    columns, rows = aggregate([m1("quantity", "COUNT")], [Group("TIME", frequency=frequency)])
    assert columns == ["startTime", "quantity_count"]
    assert rows == expected


def test_grouped_by_account_and_day() -> None:
    columns, rows = aggregate(
        [m1("quantity", "SUM"), Aggregation("m2", "customer", "DIMENSION", "COUNT")],
        [Group("TIME", frequency="DAY"), Group("ACCOUNT")],
    )
    assert columns == ["startTime", "accountId", "quantity_sum", "customer_count"]
    assert rows == [
        [at(1, 4), "a1", 5, 0],
        [at(1, 5), "a1", 3, 1],
        [at(1, 5), "a2", 15, 1],
        [at(3, 31), "a1", 2.5, 0],
        [at(4, 1), "a1", 1, 0],
    ]


def test_no_measurements_no_rows() -> None:
    aggregator = Aggregator([m1("quantity", "SUM")], [])
    aggregator.add("m9", "a1", at(1, 1), 1, {"quantity": 1})
    assert list(aggregator.rows()) == []


def test_colliding_column_names_are_made_unique() -> None:
    aggregator = Aggregator(
        [m1("quantity", "SUM"), m1("quantity", "SUM")],
        [Group("ACCOUNT"), Group("DIMENSION", meter_id="m1", field_code="accountId")],
    )
    assert aggregator.columns() == [
        "accountId",
        "accountId_m1",
        "quantity_sum_m1",
        "quantity_sum_m1_2",
    ]


def test_mixed_dimension_value_types_still_sort() -> None:
    aggregator = Aggregator([m1("quantity", "COUNT")], [Group("DIMENSION", "m1", "tier")])
    for seq, tier in enumerate(["b", 2, None, "a", 1.5]):
        aggregator.add("m1", "a1", at(1, 1), seq, {"tier": tier, "quantity": 1})
    assert [row[0] for row in aggregator.rows()] == [None, 1.5, 2, "a", "b"]


@pytest.mark.parametrize(
    ("ts", "frequency", "start"),
    [
        (at(1, 5, 10, 59), "HOUR", at(1, 5, 10)),
        (at(1, 5, 10, 59), "DAY", at(1, 5)),
        (at(1, 4, 23, 59), "WEEK", at(12, 29, year=2025)),  # Sunday
        (at(1, 5), "WEEK", at(1, 5)),  # Monday
        (at(1, 11, 23, 59), "WEEK", at(1, 5)),  # Sunday
        (at(2, 29, 12, year=2024), "MONTH", at(2, 1, year=2024)),
        (at(3, 31, 23, 59), "QUARTER", at(1, 1)),
        (at(4, 1), "QUARTER", at(4, 1)),
        (at(9, 30, 12), "QUARTER", at(7, 1)),
        (at(12, 31, 23, 59), "QUARTER", at(10, 1)),
        (datetime(2026, 1, 5, 10, 30), "HOUR", at(1, 5, 10)),  # naive means UTC
    ],
)
def test_time_bucket(ts: datetime, frequency: str, start: datetime) -> None:
    assert time_bucket(ts, frequency) == start


def test_functions_by_field_type() -> None:
    assert FUNCTIONS_BY_FIELD_TYPE == {
        "MEASURE": ("SUM", "MIN", "MAX", "COUNT", "LATEST", "MEAN"),
        "DIMENSION": ("COUNT", "UNIQUE"),
    }


@pytest.mark.parametrize(
    ("field_type", "function"),
    [(t, f) for t, functions in FUNCTIONS_BY_FIELD_TYPE.items() for f in functions],
)
def test_valid_combinations_pass(field_type: str, function: str) -> None:
    check_aggregation(Aggregation("m1", "f", field_type, function))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field_type", "function", "message"),
    [
        (
            "MEASURE",
            "UNIQUE",
            "Aggregation of 'f': function 'UNIQUE' does not apply to a MEASURE: use one of SUM, "
            "MIN, MAX, COUNT, LATEST, MEAN",
        ),
        (
            "DIMENSION",
            "SUM",
            "Aggregation of 'f': function 'SUM' does not apply to a DIMENSION: use one of COUNT, "
            "UNIQUE",
        ),
        (
            "MEASURE",
            "MEDIAN",
            "Aggregation of 'f': function 'MEDIAN' does not apply to a MEASURE: use one of SUM, "
            "MIN, MAX, COUNT, LATEST, MEAN",
        ),
        (
            "WHO",
            "COUNT",
            "Aggregation of 'f': fieldType 'WHO' is not a field type: use MEASURE or DIMENSION",
        ),
    ],
)
def test_invalid_combinations_say_what_to_use(field_type: str, function: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_aggregation(Aggregation("m1", "f", field_type, function))  # type: ignore[arg-type]
    assert caught.value.message == message
    with pytest.raises(InvalidRequest):
        Aggregator([Aggregation("m1", "f", field_type, function)], [])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("group", "message"),
    [
        (Group("DIMENSION", meter_id="m1"), "A DIMENSION group needs a meterId and a fieldCode"),
        (Group("DIMENSION", field_code="f"), "A DIMENSION group needs a meterId and a fieldCode"),
        (
            Group("TIME"),
            "A TIME group needs a frequency: one of DAY, HOUR, WEEK, MONTH, QUARTER (got None)",
        ),
        (
            Group("TIME", frequency="YEAR"),
            "A TIME group needs a frequency: one of DAY, HOUR, WEEK, MONTH, QUARTER (got 'YEAR')",
        ),
    ],
)
def test_invalid_groups(group: Group, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_group(group)
    assert caught.value.message == message
    with pytest.raises(InvalidRequest):
        Aggregator([m1("quantity", "SUM")], [group])


def test_valid_groups_pass() -> None:
    check_group(Group("ACCOUNT"))
    check_group(Group("DIMENSION", meter_id="m1", field_code="f"))
    check_group(Group("TIME", frequency="QUARTER"))
