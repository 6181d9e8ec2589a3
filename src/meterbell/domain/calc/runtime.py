"""Run-time helpers called by compiled calculations.

Compiled code handles the common cases inline (nulls, numbers with numbers) and calls these
helpers for the rest. Every helper that can fail takes ``at``, the source offset of the
operator, first, so the error can point at it. Values are JSON-shaped: None, bool, int, float,
str, list and dict (any Mapping counts as a map).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_DOWN, ROUND_HALF_UP, Context, Decimal
from types import MappingProxyType
from typing import NoReturn, TypeGuard

from meterbell.domain.calc.errors import CalcEvaluationError
from meterbell.domain.calc.kinds import of_value, with_article

NUMBER_TYPES = frozenset({int, float})
ORDERABLE_TYPE_PAIRS = frozenset(
    {(int, int), (int, float), (float, int), (float, float), (str, str)}
)

MAX_SCALE = 400
"""Largest scale (in either direction) accepted by Math.floor/ceil/round."""

MAX_EXACT_POWER_BITS = 1024
"""Whole-number powers are exact while the result stays below 2**1024 (beyond: too large)."""

Number = int | float

PYTHON_FAILURES = (ArithmeticError, ValueError, TypeError, RecursionError)
"""Python errors an evaluation may still meet (a float overflow, an int too long to print...)."""


def evaluation_failure(error: Exception, source: str) -> CalcEvaluationError:
    return CalcEvaluationError(f"evaluation failed: {error}", source=source)


def fail(at: int, message: str) -> NoReturn:
    raise CalcEvaluationError(message, start=at)


def show(value: object) -> str:
    """``a string ("abc")``, ``a number (5)``, ``null``... for messages."""
    if value is None:
        return "null"
    kind = of_value(value)
    if isinstance(value, bool):
        return f"{with_article(kind)} ({str(value).lower()})"
    if isinstance(value, int | float | str):
        text = repr(value) if not isinstance(value, str) else f'"{value}"'
        return f"{with_article(kind)} ({text if len(text) <= 40 else text[:37] + '...'})"
    return with_article(kind)


def is_number(value: object) -> TypeGuard[Number]:
    """An int or a float (a bool is not a number here)."""
    return type(value) in NUMBER_TYPES


# -- failures raised from inline fast paths ----------------------------------------------------


def operand_error(at: int, op: str, value: object) -> NoReturn:
    fail(at, f"{op} needs a number, but got {show(value)}")


def arithmetic_error(at: int, op: str, left: object, right: object) -> NoReturn:
    fail(at, f"{op} needs two numbers, but got {show(left)} and {show(right)}")


def order_error(at: int, op: str, left: object, right: object) -> NoReturn:
    fail(at, f"{op} compares two numbers or two strings, but got {show(left)} and {show(right)}")


def truth_error(at: int, op: str, value: object) -> NoReturn:
    fail(at, f"{op} needs true or false, but got {show(value)}")


def not_boolean(at: int, value: object) -> NoReturn:
    fail(at, f"a rule must give true or false, but this one gave {show(value)}")


def not_finite(at: int, value: object) -> NoReturn:
    fail(at, f"the result is not a finite number ({value!r})")


# -- operators ---------------------------------------------------------------------------------


def add_non_numbers(at: int, left: object, right: object) -> str:
    """``+`` when not both operands are numbers: concatenation if one is a string."""
    if isinstance(left, str) or isinstance(right, str):
        return text_of(at, left) + text_of(at, right)
    fail(at, f"+ needs two numbers or a string, but got {show(left)} and {show(right)}")


def text_of(at: int, value: object) -> str:
    """The text a value contributes to a concatenation."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        return repr(value)
    fail(at, f"+ cannot join {show(value)} to a string")


def divide(at: int, left: object, right: object) -> float:
    """``/`` when the inline fast path declined: always a float (``6 / 3`` is ``2.0``)."""
    if not (is_number(left) and is_number(right)):
        arithmetic_error(at, "/", left, right)
    if right == 0:
        fail(at, "division by zero")
    return left / right


def remainder(at: int, left: object, right: object) -> Number:
    """``%`` as in Java: the result has the sign of the dividend (``-7 % 3`` is ``-1``)."""
    if not (is_number(left) and is_number(right)):
        arithmetic_error(at, "%", left, right)
    if right == 0:
        fail(at, "remainder of a division by zero")
    if type(left) is int and type(right) is int:
        magnitude = abs(left) % abs(right)
        return -magnitude if left < 0 else magnitude
    return math.fmod(left, right)


def power(at: int, base: object, exponent: object) -> Number:
    """``^`` and Math.pow: exact for whole numbers (bounded in size), else a float."""
    if not (is_number(base) and is_number(exponent)):
        arithmetic_error(at, "^", base, exponent)
    if type(base) is int and type(exponent) is int and exponent >= 0:
        if base in (-1, 0, 1) or base.bit_length() * exponent < MAX_EXACT_POWER_BITS:
            exact: int = base**exponent
            return exact
        fail(at, "the power is too large")
    if base == 0 and exponent < 0:
        fail(at, "zero cannot be raised to a negative power")
    try:
        return math.pow(base, exponent)
    except OverflowError:
        fail(at, "the power is too large")
    except ValueError:
        fail(at, f"{show(base)} to the power {exponent!r} is not a real number")


def equals(left: object, right: object) -> bool:
    """``==``: any values; numbers by value (1 == 1.0), true is never 1, null only equals null."""
    if type(left) is bool or type(right) is bool:
        return left is right
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(equals(left[key], right[key]) for key in left)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(map(equals, left, right))
    if isinstance(left, Mapping | list | tuple) or isinstance(right, Mapping | list | tuple):
        return False
    return bool(left == right)


# -- functions ---------------------------------------------------------------------------------


def extreme(at: int, name: str, *values: object) -> Number | None:
    """Math.max / Math.min: null if any argument is null; the first of equal extremes."""
    if any(value is None for value in values):
        return None
    for value in values:
        if type(value) not in NUMBER_TYPES:
            operand_error(at, name, value)
    numbers = [value for value in values if isinstance(value, int | float)]
    return max(numbers) if name == "Math.max" else min(numbers)


def absolute(at: int, value: object) -> Number | None:
    if value is None:
        return None
    if is_number(value):
        return abs(value)
    operand_error(at, "Math.abs", value)


def floor(at: int, value: object, scale: object = 0) -> Number | None:
    return _rescale(at, "Math.floor", value, scale, ROUND_FLOOR)


def ceil(at: int, value: object, scale: object = 0) -> Number | None:
    return _rescale(at, "Math.ceil", value, scale, ROUND_CEILING)


def round_half_up(at: int, value: object, scale: object = 0) -> Number | None:
    """Math.round as Java: ties go toward positive infinity (2.5 -> 3, -2.5 -> -2)."""
    return _rescale(at, "Math.round", value, scale, None)


def _rescale(
    at: int, name: str, value: object, scale: object, rounding: str | None
) -> Number | None:
    """Round ``value`` to ``scale`` decimal places (negative: to a power of ten) in decimal."""
    if value is None or scale is None:
        return None
    if not is_number(value):
        operand_error(at, name, value)
    places = _scale_of(at, name, scale)
    if isinstance(value, int) and places >= 0:
        return value
    if not math.isfinite(value):
        fail(at, f"{name} needs a finite number, but got {show(value)}")
    exact = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    if rounding is None:
        rounding = ROUND_HALF_UP if exact >= 0 else ROUND_HALF_DOWN
    digits = max(exact.adjusted(), 0) + max(places, 0) + 2
    rounded = exact.quantize(Decimal(1).scaleb(-places), rounding, Context(prec=max(digits, 28)))
    return int(rounded) if places <= 0 else float(rounded)


def _scale_of(at: int, name: str, scale: object) -> int:
    if type(scale) is float and scale.is_integer():
        scale = int(scale)
    if type(scale) is not int:
        fail(at, f"the scale of {name} must be a whole number, but got {show(scale)}")
    if abs(scale) > MAX_SCALE:
        fail(at, f"the scale of {name} must be between -{MAX_SCALE} and {MAX_SCALE}")
    return scale


# -- field access ------------------------------------------------------------------------------


EMPTY_MAP: Mapping[str, object] = MappingProxyType({})


def as_map(value: object) -> Mapping[str, object]:
    """``value`` when it is a map, else an empty map (so a path through it reads null)."""
    return value if isinstance(value, Mapping) else EMPTY_MAP
