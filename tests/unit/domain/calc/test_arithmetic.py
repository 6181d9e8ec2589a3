"""Arithmetic over fields compiled as a number region (see compiler._NumberArithmetic).

Nested ``+ - * / %`` and unary minus over fields and literals get a fast path for all-number
fields and another for numbers and nulls. Random trees over random values prove them exact:
the result equals the reference interpreter's (value and type, or an error from both), and
the error, when there is one, is the step-by-step code's to the letter (message and place).
"""

from __future__ import annotations

import ast
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from meterbell.domain.calc import (
    CalcEvaluationError,
    CalcTypeError,
    Mode,
    compile_calculation,
    compiler,
)
from meterbell.domain.calc.parser import parse

from . import reference
from .reference import Failure, Tree, to_text

pytestmark = pytest.mark.filterwarnings("error")

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PATHS = [("new", "a"), ("new", "b"), ("old", "a"), ("old", "b"), ("x",)]

# -- trees --------------------------------------------------------------------------------------

number_literals = st.one_of(
    st.integers(0, 12),
    st.sampled_from([0, 0.0, 1, 7, 97, 1000, 0.5, 2.5, 1e-3, 1e300, 10**20, 2**70, 2**1100]),
).map(lambda value: ("num", value))
field_references = st.sampled_from(PATHS).map(lambda path: ("ref", path))
region_leaves = st.one_of(field_references, field_references, number_literals)
any_leaves = st.one_of(region_leaves, region_leaves, st.just(("null",)))


@st.composite
def arithmetic(
    draw: st.DrawFn, leaves: st.SearchStrategy[Tree], depth: int = 4, operators: str = "+-*/%"
) -> Tree:
    """A tree of mostly binary ``operators``, ``depth`` deep at most."""
    shapes = ["leaf"] * 4 + ["bin"] * 12 + ["neg"] * 4 + ["pos"]
    if leaves is any_leaves:
        shapes.append("join")
    shape = draw(st.sampled_from(shapes))
    if depth == 0 or shape == "leaf":
        return draw(leaves)
    operand = arithmetic(leaves, depth - 1, operators)
    if shape == "bin":
        return ("bin", draw(st.sampled_from(operators)), draw(operand), draw(operand))
    if shape == "join":  # text joined to a number
        return ("bin", "+", ("str", "a"), draw(operand))
    return (shape, draw(operand))


def compiles(source: str, mode: Mode) -> bool:
    """Whether the checker accepts ``source``: it refuses what literals make wrong (``"a" * 2``)."""
    try:
        compile_calculation(source, mode=mode)
    except CalcTypeError:
        return False
    return True


def checked(tree: Tree) -> Tree:
    if not compiles(to_text(tree), "value"):
        reject()
    return tree


trees = st.one_of(arithmetic(region_leaves), arithmetic(any_leaves)).map(checked)
"""Mostly number regions (fields and number literals only), else with null and text too."""


# -- contexts -------------------------------------------------------------------------------------

plain_numbers = st.one_of(
    st.integers(-50, 50),
    st.sampled_from([96, -98, 7, -7, 3, -3, 1000, -1000, 999.5, -2.5, 0.5]),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
)
zeros = st.sampled_from([0, 0.0, -0.0, 1, -1])  # -1 % 97 + 1 is 0 too
extreme_numbers = st.sampled_from([10**20, -(10**20), 2**70, 10**400, -(10**400), 1e308, -1e308])
odd_values = st.sampled_from(["", "a", "7", True, False, [1], {"a": 1}])
values = st.one_of(plain_numbers, plain_numbers, zeros, st.none(), extreme_numbers, odd_values)
non_finite = st.sampled_from([math.inf, -math.inf, math.nan])


def objects(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a map with both fields, sometimes one missing; now and then null or no map."""
    both = st.fixed_dictionaries({"a": value, "b": value})
    one = st.fixed_dictionaries({}, optional={"a": value, "b": value})
    return st.one_of(both, both, both, one, st.none(), value)


def contexts(value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    new_and_old = {"new": objects(value), "old": objects(value)}
    return st.fixed_dictionaries(new_and_old, optional={"x": value})


# -- outcomes -------------------------------------------------------------------------------------


def compiled(text: str, context: dict[str, Any], mode: Mode = "value") -> tuple[str, Any]:
    try:
        return "value", compile_calculation(text, mode=mode).evaluate(context)
    except CalcEvaluationError as error:
        return "error", str(error)


def step_by_step(text: str, context: dict[str, Any], mode: Mode = "value") -> tuple[str, Any]:
    """The outcome of the code compiled without number regions (each operator on its own)."""
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(compiler, "_is_number_region", lambda node: False)
        function = compiler.compile_tree(parse(text), mode, text)
    try:
        return "value", function(context)
    except CalcEvaluationError as error:
        return "error", str(error)


def referenced(tree: Tree, context: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "value", reference.evaluate(tree, context, "value")
    except Failure:
        return "error", None


def identical(left: tuple[str, Any], right: tuple[str, Any]) -> bool:
    """Same status and, for a value, the same type and value (NaN equal to NaN)."""
    if left[0] != right[0] or type(left[1]) is not type(right[1]):
        return False
    if isinstance(left[1], float) and math.isnan(left[1]):
        return math.isnan(right[1])
    return bool(left[1] == right[1])


# -- properties -----------------------------------------------------------------------------------


@SETTINGS
@given(tree=trees, context=contexts(values))
def test_nested_arithmetic_agrees_with_the_reference_interpreter(
    tree: Tree, context: dict[str, Any]
) -> None:
    expected = referenced(tree, context)
    for full in (False, True):
        text = to_text(tree, full_parentheses=full)
        status, result = compiled(text, context)
        actual = (status, result if status == "value" else None)
        assert identical(actual, expected), f"{text!r}: compiled {actual}, reference {expected}"


@settings(SETTINGS, max_examples=1500)
@given(tree=trees, context=contexts(st.one_of(values, non_finite)))
def test_nested_arithmetic_fails_exactly_as_step_by_step(
    tree: Tree, context: dict[str, Any]
) -> None:
    """Values, and errors to the message and place, including infinities and NaN; as a value,
    as a rule (which must give true or false) and compared in a rule."""
    text = to_text(tree)
    uses: list[tuple[str, Mode]] = [
        (text, "value"),
        (text, "boolean"),
        (f"({text}) >= 1", "boolean"),
    ]
    for source, mode in uses:
        if not compiles(source, mode):  # a rule certain to give a number is refused
            continue
        actual = compiled(source, context, mode)
        expected = step_by_step(source, context, mode)
        assert identical(actual, expected), f"{source!r}: {actual}, step by step {expected}"


@SETTINGS
@given(
    tree=arithmetic(region_leaves, depth=3),
    context=contexts(st.sampled_from([10**400, -(10**400), 2**70, 2.5, -1e308, 3, None])),
)
def test_a_whole_number_too_large_for_a_decimal_fails_in_any_part(
    tree: Tree, context: dict[str, Any]
) -> None:
    """Mixed with a decimal (``+ - *``, or ``/``, ``%``), even when another field is null."""
    text = to_text(tree)
    actual, expected = compiled(text, context), step_by_step(text, context)
    assert identical(actual, expected), f"{text!r}: compiled {actual}, step by step {expected}"


# -- examples -------------------------------------------------------------------------------------

NESTED = "-(new.amountSpent % 1000) * 3 / (new.amount % 97 + 1) + -old.amount * 2 % 7"


def value(source: str, context: dict[str, Any]) -> Any:
    return compile_calculation(source, mode="value").evaluate(context)


def error(source: str, context: dict[str, Any]) -> str:
    with pytest.raises(CalcEvaluationError) as raised:
        value(source, context)
    return str(raised.value)


def test_the_nested_rule_is_compiled_as_one_region_without_the_remainder_helper() -> None:
    code = ast.unparse(compiler.build_module(parse(NESTED), "value", NESTED))
    fast = code.split(" else ")[0]
    assert "_fmod(_v1, 1000)" in code
    assert "_remainder" not in fast


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        ({"amountSpent": 2500.5, "amount": 100}, {"amount": 4}, -1501.5 / 4 + -1),
        ({"amountSpent": 7, "amount": 96}, {"amount": 3}, -21 / 97 + -6),
        ({"amountSpent": 1e3, "amount": 96.5}, {"amount": 2.5}, -0.0 / 97.5 + -5.0),
        ({"amountSpent": None, "amount": 96}, {"amount": 3}, None),
        ({"amountSpent": 7, "amount": 96}, {}, None),
    ],
)
def test_the_nested_rule_computes_java_remainders(
    new: dict[str, Any], old: dict[str, Any], expected: float | None
) -> None:
    result = value(NESTED, {"new": new, "old": old})
    assert result == expected
    assert type(result) is type(expected)


def test_the_nested_rule_divides_by_zero_where_the_divisor_is_zero() -> None:
    context = {"new": {"amountSpent": 7, "amount": -1}, "old": {"amount": 3}}  # -1 % 97 + 1
    assert error(NESTED, context).startswith("division by zero (line 1, column 31)")
    assert error(NESTED, {**context, "old": None}).startswith("division by zero")


def test_whole_numbers_stay_whole_and_keep_the_sign_of_the_dividend() -> None:
    source = "new.a % 7 + new.b % -7 - 0"
    assert value(source, {"new": {"a": -15, "b": 15}}) == -1 + 1
    assert type(value(source, {"new": {"a": -15, "b": 15}})) is int
    assert value(source, {"new": {"a": 10**30 + 3, "b": -(10**30) - 3}}) == (10**30 + 3) % 7 - (
        (10**30 + 3) % 7
    )
    assert value(source, {"new": {"a": -15.5, "b": 15}}) == -1.5 + 1


def test_a_part_without_nulls_still_fails_when_another_field_is_null() -> None:
    source = "new.a / (new.b % 97 + 1) + old.c"
    assert value(source, {"new": {"a": 5, "b": 3}}) is None
    assert error(source, {"new": {"a": 5, "b": -1}}).startswith("division by zero")
    assert value(source, {"new": {"a": None, "b": -1}}) is None  # null / 0 is null


def test_a_remainder_by_zero_and_a_type_error_keep_their_messages() -> None:
    assert error("new.a % (new.b - 1) * 2", {"new": {"a": 5, "b": 1}}).startswith(
        "remainder of a division by zero (line 1, column 7)"
    )
    assert error("-(new.a * 2) + 1", {"new": {"a": "x"}}).startswith(
        '* needs two numbers, but got a string ("x") and a number (2) (line 1, column 9)'
    )
    assert error("-(new.a * 2) + 1", {"new": {"a": True}}).startswith("* needs two numbers")
    assert value("-(new.a * 2) + 1", {"new": {"a": None}}) is None


def test_overflows_are_refused_as_before() -> None:
    assert error("new.a * 10 + 1", {"new": {"a": 1e308}}).startswith(
        "the result is not a finite number (inf)"
    )
    assert error("new.a % 7 + 1", {"new": {"a": math.inf}}).startswith("evaluation failed")
    assert error("(new.a + 0.5) * 2 + old.b", {"new": {"a": 10**400}}).startswith(
        "evaluation failed: int too large to convert to float"
    )


def test_a_region_larger_than_sixteen_operators_is_split_and_still_exact() -> None:
    source = " + ".join(f"new.a % {n}" for n in range(2, 12))
    context = {"new": {"a": -1234}}
    assert value(source, context) == sum(-(1234 % n) for n in range(2, 12))
    assert value(source, {"new": {"a": None}}) is None
