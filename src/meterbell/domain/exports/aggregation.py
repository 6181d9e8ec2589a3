"""Aggregated usage exports: measurements summed, counted, … per group, streamed.

An `Aggregator` takes measurements one at a time and keeps one accumulator per (group,
aggregation), so its memory grows with the number of groups, not of measurements (UNIQUE also
keeps the distinct values it has seen).

Semantics:
- A measurement counts only for the aggregations of its own meter; a measurement of a meter
  that no aggregation names is ignored altogether.
- Missing and null values are ignored by every function. COUNT counts the non-null values (0
  when there are none); SUM, MIN, MAX and MEAN of no values are None. The numeric functions
  (SUM, MIN, MAX, MEAN) read numbers only and ignore any other value; SUM, MIN and MAX of ints
  are ints, MEAN is a float.
- LATEST is the value of the measurement with the greatest `ts`; of two at the same `ts`, the
  one ingested last (greater `seq`).
- UNIQUE is the number of distinct non-null values.
- Groups: ACCOUNT by account id; DIMENSION by the value of a field of one meter (None for a
  measurement of another meter, or without the field); TIME by the start of the period
  holding `ts` (see `time_bucket`). A row appears for every group in which at least one
  measurement of an aggregated meter fell, even if all its values were null.
- Rows are sorted by their group values, column by column, None first.
- Values are the scalars ingest stores (strings, numbers, booleans); UNIQUE and DIMENSION
  groups need them hashable.

Columns: `accountId` for an ACCOUNT group, the field code for a DIMENSION group, `startTime`
(the bucket start, a datetime) for a TIME group, then `<fieldCode>_<function>` (function in
lower case, e.g. `quantity_sum`) per aggregation. When names collide (the same field code on
two meters), each colliding column that belongs to a meter gets `_<meterId>` appended
(`quantity_sum_<meterId>`); any name still taken then gets `_2`, `_3`, ….
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from meterbell.domain.clock import as_utc
from meterbell.domain.errors import InvalidRequest

FieldType = Literal["MEASURE", "DIMENSION"]
GroupType = Literal["ACCOUNT", "DIMENSION", "TIME"]

FUNCTIONS_BY_FIELD_TYPE: dict[str, tuple[str, ...]] = {
    "MEASURE": ("SUM", "MIN", "MAX", "COUNT", "LATEST", "MEAN"),
    "DIMENSION": ("COUNT", "UNIQUE"),
}
TIME_FREQUENCIES = ("DAY", "HOUR", "WEEK", "MONTH", "QUARTER")
ACCOUNT_COLUMN = "accountId"
TIME_COLUMN = "startTime"


@dataclass(frozen=True)
class Aggregation:
    """What to compute: `function` over the values of field `field_code` of meter `meter_id`."""

    meter_id: str
    field_code: str
    field_type: FieldType
    function: str


@dataclass(frozen=True)
class Group:
    """One grouping of the rows: by account, by a field of one meter, or by time period."""

    group_type: GroupType
    meter_id: str | None = None
    field_code: str | None = None
    frequency: str | None = None


def check_aggregation(aggregation: Aggregation) -> None:
    """InvalidRequest when the function does not apply to the field type."""
    allowed = FUNCTIONS_BY_FIELD_TYPE.get(aggregation.field_type)
    if allowed is None:
        raise InvalidRequest(
            f"Aggregation of {aggregation.field_code!r}: fieldType {aggregation.field_type!r} "
            "is not a field type: use MEASURE or DIMENSION"
        )
    if aggregation.function not in allowed:
        raise InvalidRequest(
            f"Aggregation of {aggregation.field_code!r}: function {aggregation.function!r} does "
            f"not apply to a {aggregation.field_type}: use one of {', '.join(allowed)}"
        )


def check_group(group: Group) -> None:
    """InvalidRequest when a group lacks what its type needs."""
    if group.group_type == "DIMENSION" and not (group.meter_id and group.field_code):
        raise InvalidRequest("A DIMENSION group needs a meterId and a fieldCode")
    if group.group_type == "TIME" and group.frequency not in TIME_FREQUENCIES:
        raise InvalidRequest(
            f"A TIME group needs a frequency: one of {', '.join(TIME_FREQUENCIES)} "
            f"(got {group.frequency!r})"
        )


def time_bucket(ts: datetime, frequency: str) -> datetime:
    """The start (UTC) of the `frequency` period holding `ts`: its hour, day, week (from
    Monday 00:00), month or quarter (from Jan 1, Apr 1, Jul 1, Oct 1)."""
    ts = as_utc(ts)
    if frequency == "HOUR":
        return ts.replace(minute=0, second=0, microsecond=0)
    day = ts.replace(hour=0, minute=0, second=0, microsecond=0)
    if frequency == "DAY":
        return day
    if frequency == "WEEK":
        return day - timedelta(days=day.weekday())
    if frequency == "MONTH":
        return day.replace(day=1)
    if frequency == "QUARTER":
        return day.replace(day=1, month=(day.month - 1) // 3 * 3 + 1)
    raise ValueError(f"unknown time frequency {frequency!r}")


# -- accumulators ------------------------------------------------------------------------------


def _number(value: object) -> int | float | None:
    """`value` if it is a number (not a boolean), else None."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


class _Accumulator(ABC):
    """The running result of one function over the non-null values of one group."""

    @abstractmethod
    def add(self, value: object, ts: datetime, seq: int) -> None: ...

    @abstractmethod
    def result(self) -> object: ...


class _Sum(_Accumulator):
    def __init__(self) -> None:
        self.total: int | float | None = None

    def add(self, value: object, ts: datetime, seq: int) -> None:
        number = _number(value)
        if number is not None:
            self.total = number if self.total is None else self.total + number

    def result(self) -> object:
        return self.total


class _Min(_Accumulator):
    def __init__(self) -> None:
        self.best: int | float | None = None

    def add(self, value: object, ts: datetime, seq: int) -> None:
        number = _number(value)
        if number is not None and (self.best is None or number < self.best):
            self.best = number

    def result(self) -> object:
        return self.best


class _Max(_Accumulator):
    def __init__(self) -> None:
        self.best: int | float | None = None

    def add(self, value: object, ts: datetime, seq: int) -> None:
        number = _number(value)
        if number is not None and (self.best is None or number > self.best):
            self.best = number

    def result(self) -> object:
        return self.best


class _Mean(_Accumulator):
    def __init__(self) -> None:
        self.total: int | float = 0
        self.count = 0

    def add(self, value: object, ts: datetime, seq: int) -> None:
        number = _number(value)
        if number is not None:
            self.total += number
            self.count += 1

    def result(self) -> object:
        return self.total / self.count if self.count else None


class _Count(_Accumulator):
    def __init__(self) -> None:
        self.count = 0

    def add(self, value: object, ts: datetime, seq: int) -> None:
        self.count += 1

    def result(self) -> object:
        return self.count


class _Latest(_Accumulator):
    def __init__(self) -> None:
        self.at: tuple[datetime, int] | None = None
        self.value: object = None

    def add(self, value: object, ts: datetime, seq: int) -> None:
        if self.at is None or (ts, seq) > self.at:
            self.at = (ts, seq)
            self.value = value

    def result(self) -> object:
        return self.value


class _Unique(_Accumulator):
    def __init__(self) -> None:
        self.seen: set[object] = set()

    def add(self, value: object, ts: datetime, seq: int) -> None:
        self.seen.add(value)

    def result(self) -> object:
        return len(self.seen)


_ACCUMULATORS: dict[str, Callable[[], _Accumulator]] = {
    "SUM": _Sum,
    "MIN": _Min,
    "MAX": _Max,
    "MEAN": _Mean,
    "COUNT": _Count,
    "LATEST": _Latest,
    "UNIQUE": _Unique,
}


# -- grouping ----------------------------------------------------------------------------------

# A group's value for one measurement, from (meter_id, account_id, ts, fields).
_KeyPart = Callable[[str, str, datetime, Mapping[str, object]], object]


def _key_part(group: Group) -> _KeyPart:
    if group.group_type == "ACCOUNT":
        return lambda meter_id, account_id, ts, fields: account_id
    if group.group_type == "TIME":
        frequency = str(group.frequency)
        return lambda meter_id, account_id, ts, fields: time_bucket(ts, frequency)
    group_meter, code = group.meter_id, str(group.field_code)
    return lambda meter_id, account_id, ts, fields: (
        fields.get(code) if meter_id == group_meter else None
    )


def _sort_key(values: Sequence[object]) -> tuple[tuple[bool, bool, object], ...]:
    """Orders rows by their group values: None first, then numbers (and datetimes), then
    strings, so a column mixing types still sorts."""
    return tuple((value is not None, isinstance(value, str), value) for value in values)


# -- column names ------------------------------------------------------------------------------


def _unique_names(candidates: Sequence[tuple[str, str | None]]) -> list[str]:
    """Column names from (name, meter id) candidates, made unique as the module says."""
    counts = Counter(name for name, _ in candidates)
    names = [
        f"{name}_{meter}" if counts[name] > 1 and meter is not None else name
        for name, meter in candidates
    ]
    taken: set[str] = set()
    unique = []
    for name in names:
        candidate, suffix = name, 1
        while candidate in taken:
            suffix += 1
            candidate = f"{name}_{suffix}"
        taken.add(candidate)
        unique.append(candidate)
    return unique


def _group_column(group: Group) -> tuple[str, str | None]:
    if group.group_type == "ACCOUNT":
        return ACCOUNT_COLUMN, None
    if group.group_type == "TIME":
        return TIME_COLUMN, None
    return str(group.field_code), group.meter_id


def _aggregation_column(aggregation: Aggregation) -> tuple[str, str | None]:
    return f"{aggregation.field_code}_{aggregation.function.lower()}", aggregation.meter_id


# -- the aggregator ----------------------------------------------------------------------------


class Aggregator:
    """Streams measurements into one row per group (see the module docstring)."""

    def __init__(self, aggregations: Sequence[Aggregation], groups: Sequence[Group]) -> None:
        for aggregation in aggregations:
            check_aggregation(aggregation)
        for group in groups:
            check_group(group)
        self._aggregations = tuple(aggregations)
        self._groups = tuple(groups)
        self._key_parts = tuple(_key_part(group) for group in groups)
        self._fields_by_meter: dict[str, list[tuple[int, str]]] = {}
        for index, aggregation in enumerate(aggregations):
            self._fields_by_meter.setdefault(aggregation.meter_id, []).append(
                (index, aggregation.field_code)
            )
        self._factories = tuple(_ACCUMULATORS[a.function] for a in aggregations)
        self._rows: dict[tuple[object, ...], list[_Accumulator]] = {}

    def add(
        self,
        meter_id: str,
        account_id: str,
        ts: datetime,
        seq: int,
        fields: Mapping[str, object],
    ) -> None:
        """Count one measurement (`seq`: its ingest order, which breaks LATEST ties)."""
        wanted = self._fields_by_meter.get(meter_id)
        if wanted is None:
            return
        key = tuple(part(meter_id, account_id, ts, fields) for part in self._key_parts)
        accumulators = self._rows.get(key)
        if accumulators is None:
            accumulators = self._rows[key] = [factory() for factory in self._factories]
        for index, code in wanted:
            value = fields.get(code)
            if value is not None:
                accumulators[index].add(value, ts, seq)

    def columns(self) -> list[str]:
        """The column names: the groups', then the aggregations'."""
        return _unique_names(
            [_group_column(g) for g in self._groups]
            + [_aggregation_column(a) for a in self._aggregations]
        )

    def rows(self) -> Iterator[list[object]]:
        """One row per group, in `columns()` order, sorted by the group values."""
        for key in sorted(self._rows, key=_sort_key):
            yield [*key, *(accumulator.result() for accumulator in self._rows[key])]
