"""Meters: checking their data and derived fields, and the compiled form ingest works from.

A data field has a `category` (which map of a measurement carries it: `WHO` → `who`, …) and a
`code` (its key in that map). A derived field is a data field plus a `calculation` in value
mode, over the meter's data fields named by code: numeric categories (`MEASURE`, `INCOME`,
`COST`) are doubles, the others strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meterbell.domain.calc import CalcError, Calculation, compile_calculation
from meterbell.domain.errors import InvalidRequest

CATEGORIES = ("WHO", "WHERE", "WHAT", "OTHER", "METADATA", "MEASURE", "INCOME", "COST")
NUMERIC_CATEGORIES = frozenset({"MEASURE", "INCOME", "COST"})
# m3ter allows any letter (`^[\p{L}_$][\p{L}_$0-9]*$`); calculations name fields by code, and
# the calculation language's names are ASCII, so codes are too.
FIELD_CODE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def calc_type(category: str) -> str:
    """The calculation-language type of a field of this category."""
    return "double" if category in NUMERIC_CATEGORIES else "string"


def _fields(meter: Mapping[str, Any], key: str) -> Sequence[Mapping[str, Any]]:
    fields = meter.get(key)
    return fields if isinstance(fields, list) else []


def _check_codes(meter: Mapping[str, Any]) -> None:
    seen: dict[str, str] = {}
    for key in ("dataFields", "derivedFields"):
        for index, field in enumerate(_fields(meter, key)):
            where, code = f"{key}[{index}].code", str(field["code"])
            if not FIELD_CODE.fullmatch(code):
                raise InvalidRequest(
                    f"'{where}' must start with a letter, _ or $ and contain only letters, "
                    f"digits, _ and $ (got '{code}')"
                )
            if code in seen:
                raise InvalidRequest(
                    f"'{where}' is '{code}', already the code of {seen[code]}: "
                    "field codes must be unique within a meter"
                )
            seen[code] = where


def field_codes(meter: Mapping[str, Any]) -> list[str]:
    """Codes of the meter's data fields, then of its derived fields, in meter order."""
    return [
        str(field["code"])
        for key in ("dataFields", "derivedFields")
        for field in _fields(meter, key)
        if isinstance(field, Mapping) and "code" in field
    ]


def data_field_types(meter: Mapping[str, Any]) -> dict[str, str]:
    """`{code: type}` of the meter's data fields, as derived field calculations see them."""
    return {str(f["code"]): calc_type(str(f["category"])) for f in _fields(meter, "dataFields")}


def check_meter(meter: Mapping[str, Any]) -> None:
    """Field codes and derived field calculations of a meter body already checked against
    m3ter's schema (categories, required keys, lengths); InvalidRequest naming the fault."""
    _check_codes(meter)
    types = data_field_types(meter)
    for index, field in enumerate(_fields(meter, "derivedFields")):
        try:
            compile_calculation(str(field["calculation"]), mode="value", fields=types)
        except CalcError as exc:
            raise InvalidRequest(
                f"'derivedFields[{index}].calculation' does not compile: {exc}"
            ) from exc


@dataclass(frozen=True)
class DerivedField:
    """A derived field ready to evaluate: `calculation` is None when it does not compile
    (a meter stored before it was checked), and `problem` then says why."""

    code: str
    numeric: bool
    calculation: Calculation | None
    problem: str | None


@dataclass(frozen=True)
class MeterPlan:
    """What validating a measurement of one meter version needs."""

    id: str
    version: int
    data_fields: tuple[tuple[str, str], ...]
    """(measurement map, code) of each data field: `("measure", "requests")`."""
    derived_fields: tuple[DerivedField, ...]


def _derived_field(field: Mapping[str, Any], types: Mapping[str, str]) -> DerivedField:
    code, numeric = str(field["code"]), str(field["category"]) in NUMERIC_CATEGORIES
    try:
        calculation = compile_calculation(str(field["calculation"]), mode="value", fields=types)
    except CalcError as exc:
        return DerivedField(code, numeric, None, f"the calculation does not compile: {exc}")
    return DerivedField(code, numeric, calculation, None)


def meter_plan(meter: Mapping[str, Any]) -> MeterPlan:
    types = data_field_types(meter)
    return MeterPlan(
        id=str(meter["id"]),
        version=int(meter["version"]),
        data_fields=tuple(
            (str(f["category"]).lower(), str(f["code"])) for f in _fields(meter, "dataFields")
        ),
        derived_fields=tuple(_derived_field(f, types) for f in _fields(meter, "derivedFields")),
    )
