"""Kinds of values, and what each operator accepts and gives.

A static type is the set of kinds a sub-expression may produce. The checker derives it from
literals and the field-type map (to reject certain mistakes); the compiler derives it from the
tree alone (to leave out run-time checks that cannot fail).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import product
from typing import Final

NULL: Final = "null"
NUMBER: Final = "number"
STRING: Final = "string"
BOOLEAN: Final = "boolean"
MAP: Final = "map"
ARRAY: Final = "array"

Kinds = frozenset[str]

ANY: Final[Kinds] = frozenset({NULL, NUMBER, STRING, BOOLEAN, MAP, ARRAY})
ONLY_NULL: Final[Kinds] = frozenset({NULL})
ONLY_BOOLEAN: Final[Kinds] = frozenset({BOOLEAN})
ONLY_NUMBER: Final[Kinds] = frozenset({NUMBER})

FIELD_TYPE_KINDS: Final[Mapping[str, Kinds]] = {
    "string": frozenset({STRING, NULL}),
    "double": frozenset({NUMBER, NULL}),
    "int": frozenset({NUMBER, NULL}),
    "long": frozenset({NUMBER, NULL}),
    "boolean": frozenset({BOOLEAN, NULL}),
    "map": frozenset({MAP, NULL}),
    "array": frozenset({ARRAY, NULL}),
}
"""m3ter's field type words (as served by /events/fields); any other word means any kind."""

ARITHMETIC: Final = frozenset({"-", "*", "/", "%", "^"})
ORDERING: Final = frozenset({"<", ">", "<=", ">="})
EQUALITY: Final = frozenset({"==", "!="})
LOGICAL: Final = frozenset({"AND", "OR"})
NUMERIC_FUNCTIONS: Final = frozenset(
    {"Math.max", "Math.min", "Math.floor", "Math.ceil", "Math.round", "Math.pow", "Math.abs"}
)

_CONCATENABLE: Final = frozenset({STRING, NUMBER, BOOLEAN})


def of_value(value: object) -> str:
    """The kind of a run-time value (JSON-shaped); other Python types get their type name."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, Mapping):
        return MAP
    if isinstance(value, list | tuple):
        return ARRAY
    return type(value).__name__


def with_article(kind: str) -> str:
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


def non_null(kinds: Kinds) -> Kinds:
    return kinds - ONLY_NULL


def nullable_if_any(result: Kinds, operands: Sequence[Kinds]) -> Kinds:
    """``result``, plus null when any operand may be null (null in, null out)."""
    return result | ONLY_NULL if any(NULL in kinds for kinds in operands) else result


def binary_pair_ok(op: str, left: str, right: str) -> bool:
    """Whether a binary operator accepts one non-null kind on each side."""
    if op in ARITHMETIC:
        return left == NUMBER and right == NUMBER
    if op == "+":
        both_numbers = left == NUMBER and right == NUMBER
        concatenation = STRING in (left, right) and {left, right} <= _CONCATENABLE
        return both_numbers or concatenation
    if op in ORDERING:
        return left == right and left in (NUMBER, STRING)
    if op in LOGICAL:
        return left == BOOLEAN and right == BOOLEAN
    return True  # == and != compare anything


def operand_ok(op: str, kind: str) -> bool:
    """Whether an operator or function accepts one non-null kind as an operand at all."""
    if op in ARITHMETIC or op in ("-x", "+x") or op in NUMERIC_FUNCTIONS:
        return kind == NUMBER
    if op == "+":
        return kind in _CONCATENABLE
    if op in ORDERING:
        return kind in (NUMBER, STRING)
    if op in LOGICAL or op in ("NOT", "?"):
        return kind == BOOLEAN
    return True


def certainly_invalid_pair(op: str, left: Kinds, right: Kinds) -> bool:
    """True when every non-null combination of operand kinds is refused by ``op``."""
    lefts, rights = non_null(left), non_null(right)
    if not lefts or not rights:
        return False
    return not any(binary_pair_ok(op, a, b) for a, b in product(lefts, rights))


def certainly_invalid_operand(op: str, kinds: Kinds) -> bool:
    """True when the operand may be non-null and no non-null kind it may have is accepted."""
    present = non_null(kinds)
    return bool(present) and not any(operand_ok(op, kind) for kind in present)


def binary_result(op: str, left: Kinds, right: Kinds) -> Kinds:
    if op in ARITHMETIC:
        return nullable_if_any(ONLY_NUMBER, (left, right))
    if op == "+":
        return nullable_if_any(_plus_result(left, right), (left, right))
    return ONLY_BOOLEAN


def _plus_result(left: Kinds, right: Kinds) -> Kinds:
    if STRING not in left and STRING not in right:
        return ONLY_NUMBER
    if non_null(left) == {STRING} or non_null(right) == {STRING}:
        return frozenset({STRING})
    return frozenset({NUMBER, STRING})


def unary_result(op: str, operand: Kinds) -> Kinds:
    if op == "NOT":
        return ONLY_BOOLEAN
    return nullable_if_any(ONLY_NUMBER, (operand,))


def call_result(function: str, args: Sequence[Kinds]) -> Kinds:
    if function == "isnull":
        return ONLY_BOOLEAN if len(args) == 1 else non_null(args[0]) | args[1]
    if function == "IN":
        return ONLY_BOOLEAN
    return nullable_if_any(ONLY_NUMBER, args)


def describe(kinds: Kinds) -> str:
    """``a number``, ``a number or a string`` ... for messages."""
    return " or ".join(with_article(kind) for kind in sorted(non_null(kinds)) or [NULL])
