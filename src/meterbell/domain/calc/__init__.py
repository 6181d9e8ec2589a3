"""The calculation language of notification rules and meter derived fields.

    >>> rule = compile_calculation("new.amount - old.amount >= 1000", mode="boolean")
    >>> rule.fires({"new": {"amount": 5000}, "old": {"amount": 3500}})
    True
    >>> sorted(rule.references)
    ['new.amount', 'old.amount']

A pure package: standard library only, no I/O. See docs/calculations.md for the language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Literal

from meterbell.domain.calc.checker import check
from meterbell.domain.calc.compiler import CompiledFunction, compile_tree
from meterbell.domain.calc.errors import (
    CalcError,
    CalcEvaluationError,
    CalcSyntaxError,
    CalcTypeError,
)
from meterbell.domain.calc.nodes import references
from meterbell.domain.calc.parser import MAX_DEPTH, MAX_LENGTH, parse

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "CalcError",
    "CalcEvaluationError",
    "CalcSyntaxError",
    "CalcTypeError",
    "Calculation",
    "Mode",
    "compile_calculation",
]

Mode = Literal["boolean", "value"]

CACHE_SIZE = 4096
"""Compiled calculations kept, keyed by (source, mode, field-type map)."""

_FieldTypes = tuple[tuple[str, str], ...]


class Calculation:
    """A compiled calculation, safe to share between threads and evaluate many times.

    ``evaluate(context)`` gives the value of the calculation on ``context`` (an event's
    ``{"new": {...}, "old": {...}}`` or a measurement's field map); in boolean mode it is True,
    False or None. It raises CalcEvaluationError when evaluation fails (a division by zero, a
    string where a number is needed, a non-boolean rule result...). ``evaluate`` is the
    compiled function itself rather than a method wrapping it: that saves a call per event.
    """

    __slots__ = ("evaluate", "mode", "references", "source")

    evaluate: Callable[[Mapping[str, Any]], Any]

    def __init__(
        self, source: str, mode: Mode, references: frozenset[str], function: CompiledFunction
    ) -> None:
        self.source = source
        self.mode = mode
        self.references = references
        """The field paths the calculation reads, dotted: ``frozenset({"new.amount"})``."""
        self.evaluate = function

    def fires(self, context: Mapping[str, Any]) -> bool:
        """Whether a boolean-mode rule fires: True only on a ``true`` result (null does not).

        Raises CalcEvaluationError when evaluation fails, so the caller can record why.
        """
        if self.mode != "boolean":
            raise ValueError("only a boolean-mode calculation can fire")
        return self.evaluate(context) is True

    def __repr__(self) -> str:
        return f"Calculation({self.source!r}, mode={self.mode!r})"


def compile_calculation(
    source: str, *, mode: Mode, fields: Mapping[str, str] | None = None
) -> Calculation:
    """Parse, check and compile ``source``; cached by (source, mode, fields).

    ``mode`` is ``"boolean"`` for notification rules and ``"value"`` for derived fields.
    ``fields`` is an optional field-type map such as ``{"new.amount": "double"}``: when given,
    unknown fields and type errors it makes certain are rejected at compile time.

    Raises CalcSyntaxError or CalcTypeError; ``str(error)`` is a complete message for a person
    (with line, column and a caret under the offending text).
    """
    if mode not in ("boolean", "value"):
        raise ValueError(f"mode must be 'boolean' or 'value', not {mode!r}")
    field_types = None if fields is None else tuple(sorted(fields.items()))
    try:
        return _compile_cached(source, mode, field_types)
    except RecursionError:  # only when called from an already very deep stack
        raise CalcSyntaxError(
            "the calculation is nested too deeply to compile here", source=source, start=0
        ) from None


@lru_cache(maxsize=CACHE_SIZE)
def _compile_cached(source: str, mode: Mode, field_types: _FieldTypes | None) -> Calculation:
    tree = parse(source)
    check(tree, source, mode, None if field_types is None else dict(field_types))
    return Calculation(source, mode, references(tree), compile_tree(tree, mode, source))
