"""Property-based and fuzz tests of the calculation language.

Random well-formed trees are printed to text (with minimal and with full parentheses),
compiled, and evaluated on random contexts; the result must be exactly the reference
interpreter's (same value and type, or an evaluation error from both). Random and mutated
strings must compile or raise a compile error, never anything else.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterbell.domain.calc import (
    CalcEvaluationError,
    CalcSyntaxError,
    CalcTypeError,
    compile_calculation,
)

from . import reference
from .reference import Failure, Tree, to_text

pytestmark = pytest.mark.filterwarnings("error")

NUMBER_PATHS = [("new", "a"), ("new", "b"), ("old", "a"), ("old", "b"), ("x",)]
STRING_PATHS = [("new", "s"), ("old", "s")]
BOOLEAN_PATHS = [("new", "flag"), ("old", "flag")]
ALL_PATHS = [*NUMBER_PATHS, *STRING_PATHS, *BOOLEAN_PATHS, ("new", "m", "x"), ("new", "m")]

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- contexts ---------------------------------------------------------------------------------

field_values = st.one_of(
    st.none(),
    st.integers(-50, 50),
    st.integers(-(10**20), 10**20),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.5, 2.0, -0.0, 0.1, 1e300, 2.5, -2.5]),
    st.text(alphabet="ab0", max_size=3),
    st.booleans(),
    st.lists(st.integers(0, 2), max_size=2),
    st.fixed_dictionaries({"x": st.integers(0, 2)}),
)
number_values = st.one_of(
    st.integers(-50, 50),
    st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.5, -1.5, 2.5, -2.5, 1.005, 0.0, -0.0]),
)
string_values = st.text(alphabet="ab0", max_size=3)
TYPICAL_VALUES = {"a": number_values, "b": number_values, "s": string_values, "flag": st.booleans()}


def field_value(name: str) -> st.SearchStrategy[Any]:
    """Mostly the kind the name suggests; sometimes null or anything at all."""
    typical = TYPICAL_VALUES[name]
    return st.one_of(typical, typical, typical, field_values)


@st.composite
def objects(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for name in TYPICAL_VALUES:
        if draw(st.integers(0, 9)) > 0:  # a missing key now and then
            obj[name] = draw(field_value(name))
    if draw(st.booleans()):
        obj["m"] = draw(st.one_of(st.fixed_dictionaries({"x": number_values}), field_values))
    return obj


@st.composite
def contexts(draw: st.DrawFn) -> dict[str, Any]:
    context: dict[str, Any] = {"new": draw(objects())}
    old_shape = draw(st.sampled_from(["present", "present", "missing", "null", "not a map"]))
    if old_shape == "present":
        context["old"] = draw(objects())
    elif old_shape == "null":
        context["old"] = None
    elif old_shape == "not a map":
        context["old"] = draw(field_values)
    if draw(st.booleans()):
        context["x"] = draw(field_value("a"))
    return context


# -- well-formed trees, built by the kind they produce ----------------------------------------

numbers = st.one_of(
    st.integers(0, 20), st.sampled_from([0.5, 2.0, 0.1, 1.25, 1e3, 3.75, 100, 0, 1.005])
).map(lambda value: ("num", value))
strings = st.sampled_from(["", "a", "b", "ab", 'q"x', "back\\slash", "two\nlines"]).map(
    lambda value: ("str", value)
)
booleans = st.booleans().map(lambda value: ("bool", value))
nulls = st.just(("null",))


def references(paths: Sequence[tuple[str, ...]]) -> st.SearchStrategy[Tree]:
    return st.sampled_from(paths).map(lambda path: ("ref", path))


number_references = references(NUMBER_PATHS)
LEAVES = {
    "number": st.one_of(numbers, number_references, numbers, number_references, numbers, nulls),
    "string": st.one_of(strings, references(STRING_PATHS)),
    "boolean": st.one_of(booleans, references(BOOLEAN_PATHS), booleans, nulls),
    "any": st.one_of(numbers, strings, booleans, references(ALL_PATHS), nulls),
}


def expressions(kind: str, depth: int) -> st.SearchStrategy[Tree]:
    if depth == 0:
        return LEAVES[kind]
    return st.one_of(LEAVES[kind], st.deferred(lambda: _COMPOSITES[kind](depth - 1)))


def _number_composites(depth: int) -> st.SearchStrategy[Tree]:
    number = expressions("number", depth)
    scale = st.integers(-3, 3).map(lambda value: ("num", value))
    negative_scale = st.integers(1, 3).map(lambda value: ("neg", ("num", value)))
    arithmetic = st.tuples(st.just("bin"), st.sampled_from("+-*/%^"), number, number)
    return st.one_of(
        arithmetic,
        arithmetic,
        arithmetic,
        st.tuples(st.sampled_from(["neg", "pos"]), number),
        st.tuples(st.just("tern"), expressions("boolean", depth), number, number),
        st.tuples(
            st.just("call"),
            st.sampled_from(["Math.max", "Math.min"]),
            st.lists(number, min_size=2, max_size=3).map(tuple),
        ),
        st.tuples(
            st.just("call"),
            st.sampled_from(["Math.floor", "Math.ceil", "Math.round"]),
            st.one_of(
                st.tuples(number),
                st.tuples(number, st.one_of(scale, negative_scale)),
            ),
        ),
        st.tuples(st.just("call"), st.just("Math.pow"), st.tuples(number, number)),
        st.tuples(st.just("call"), st.just("Math.abs"), st.tuples(number)),
        st.tuples(st.just("call"), st.just("isnull"), st.tuples(number, number)),
    )


def _string_composites(depth: int) -> st.SearchStrategy[Tree]:
    string = expressions("string", depth)
    joinable = st.one_of(string, expressions("number", depth), booleans)
    return st.one_of(
        st.tuples(st.just("bin"), st.just("+"), string, joinable),
        st.tuples(st.just("bin"), st.just("+"), joinable, string),
        st.tuples(st.just("tern"), expressions("boolean", depth), string, string),
        st.tuples(st.just("call"), st.just("isnull"), st.tuples(string, string)),
    )


def _boolean_composites(depth: int) -> st.SearchStrategy[Tree]:
    boolean = expressions("boolean", depth)
    number, string = expressions("number", depth), expressions("string", depth)
    anything = expressions("any", depth)
    ordering = st.sampled_from(["<", ">", "<=", ">="])
    return st.one_of(
        st.tuples(st.just("bin"), ordering, number, number),
        st.tuples(st.just("bin"), ordering, string, string),
        st.tuples(st.just("bin"), st.sampled_from(["==", "!="]), anything, anything),
        st.tuples(st.just("bin"), st.sampled_from(["AND", "OR"]), boolean, boolean),
        st.tuples(st.just("not"), boolean),
        st.tuples(st.just("tern"), boolean, boolean, boolean),
        st.tuples(
            st.just("call"),
            st.just("IN"),
            st.lists(anything, min_size=2, max_size=4).map(tuple),
        ),
        st.tuples(st.just("call"), st.just("isnull"), st.tuples(anything)),
    )


def _any_composites(depth: int) -> st.SearchStrategy[Tree]:
    return st.one_of(
        _number_composites(depth), _string_composites(depth), _boolean_composites(depth)
    )


_COMPOSITES = {
    "number": _number_composites,
    "string": _string_composites,
    "boolean": _boolean_composites,
    "any": _any_composites,
}


# -- comparing outcomes -----------------------------------------------------------------------


def compiled_outcome(text: str, mode: str, context: dict[str, Any]) -> tuple[str, Any]:
    calculation = compile_calculation(text, mode=mode)  # type: ignore[arg-type]
    try:
        return "value", calculation.evaluate(context)
    except CalcEvaluationError:
        return "error", None


def reference_outcome(tree: Tree, mode: str, context: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "value", reference.evaluate(tree, context, mode)
    except Failure:
        return "error", None


def same(left: tuple[str, Any], right: tuple[str, Any]) -> bool:
    (left_status, left_value), (right_status, right_value) = left, right
    if left_status != right_status:
        return False
    if type(left_value) is not type(right_value):
        return False
    if isinstance(left_value, float) and math.isnan(left_value):
        return math.isnan(right_value)
    return bool(left_value == right_value)


@SETTINGS
@given(tree=expressions("number", 4), context=contexts())
def test_number_calculations_agree_with_the_reference_interpreter(
    tree: Tree, context: dict[str, Any]
) -> None:
    assert_agrees(tree, "value", context)


@SETTINGS
@given(tree=st.one_of(expressions("any", 3), expressions("string", 3)), context=contexts())
def test_any_calculations_agree_with_the_reference_interpreter(
    tree: Tree, context: dict[str, Any]
) -> None:
    assert_agrees(tree, "value", context)


@SETTINGS
@given(tree=expressions("boolean", 4), context=contexts())
def test_boolean_mode_agrees_with_the_reference_interpreter(
    tree: Tree, context: dict[str, Any]
) -> None:
    assert_agrees(tree, "boolean", context)


def assert_agrees(tree: Tree, mode: str, context: dict[str, Any]) -> None:
    """Minimal and fully parenthesised text both evaluate exactly as the reference does."""
    expected = reference_outcome(tree, mode, context)
    for full in (False, True):
        text = to_text(tree, full_parentheses=full)
        actual = compiled_outcome(text, mode, context)
        assert same(actual, expected), f"{text!r}: compiled {actual}, reference {expected}"


tricky_numbers = st.one_of(
    number_values,
    st.integers(-(10**30), 10**30),
    st.sampled_from([-7, 7, 3, -3, 0, 0.0, 1e308, -1e-308, 2.675, -0.5, 0.5, 1e16 + 1]),
)


@SETTINGS
@given(
    op=st.sampled_from(["+", "-", "*", "/", "%", "^", "<", ">", "<=", ">=", "==", "!="]),
    left=tricky_numbers,
    right=tricky_numbers,
)
def test_binary_operators_on_numbers_agree_with_the_reference(
    op: str, left: float, right: float
) -> None:
    tree = ("bin", op, ("ref", ("new", "a")), ("ref", ("new", "b")))
    assert_agrees(tree, "value", {"new": {"a": left, "b": right}})


@SETTINGS
@given(
    name=st.sampled_from(["Math.floor", "Math.ceil", "Math.round"]),
    value=tricky_numbers,
    scale=st.one_of(st.none(), st.integers(-4, 4), st.sampled_from([2.0, 0.5, 401, -401])),
)
def test_rounding_functions_agree_with_the_reference(
    name: str, value: float, scale: float | None
) -> None:
    args: tuple[Tree, ...] = (("ref", ("new", "a")),)
    if scale is not None:
        args += (("ref", ("new", "b")),)
    assert_agrees(("call", name, args), "value", {"new": {"a": value, "b": scale}})


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), tricky_numbers, st.text(alphabet="ab", max_size=2)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("xy"), inner, max_size=2)
    ),
    max_leaves=6,
)


@SETTINGS
@given(left=json_values, right=json_values, op=st.sampled_from(["==", "!="]))
def test_equality_of_any_values_agrees_with_the_reference(left: Any, right: Any, op: str) -> None:
    tree = ("bin", op, ("ref", ("new", "a")), ("ref", ("new", "b")))
    assert_agrees(tree, "boolean", {"new": {"a": left, "b": right}})
    assert_agrees(
        ("call", "IN", (("ref", ("new", "a")), ("num", 1), ("ref", ("new", "b")))),
        "boolean",
        {"new": {"a": left, "b": right}},
    )


def test_the_reference_printer_round_trips_precedence() -> None:
    tree = ("bin", "*", ("bin", "+", ("num", 1), ("num", 2)), ("num", 3))
    assert to_text(tree) == "(1 + 2) * 3"
    power = ("bin", "^", ("bin", "^", ("num", 2), ("num", 3)), ("num", 2))
    assert to_text(power) == "(2 ^ 3) ^ 2"
    assert compile_calculation(to_text(power), mode="value").evaluate({}) == 64


# -- fuzzing --------------------------------------------------------------------------------------

TOKENS = [
    "new.a", "old.b", "x", "1", "2.5", "1e3", '"s"', "true", "false", "null", "Math.PI",
    "DateTime.TS_FMT", "Math.max(", "Math.round(", "isnull(", "IN(", "AND", "OR", "NOT",
    "&&", "||", "!", "==", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "^", "?",
    ":", "(", ")", ",", ".", " ", "\n",
]  # fmt: skip
SEEDS = [
    "(new.amountSpent >= ((new.amount*90)/100)) \nAND ((old.amountSpent <= ((old.amount*90)/100))"
    " OR (old.amountSpent == null))",
    'new.accountId == "df41d216-XXXX-470f-YYYY-79b16059a96f"',
    'IN(new.status, "completed", "succeeded") ? Math.round(new.amount * 1.2, 2) : -1',
    'isnull(old.amount, 0) ^ 2 % 7 != Math.max(1, 2.5, x) && !(x < "b")',
]
FUZZ_CONTEXT = {"new": {"a": 1, "amount": 2.5, "status": "completed"}, "old": {"b": "s"}}


def compiles_or_reports(text: str) -> None:
    """Compile ``text``; a compile error is fine, anything else fails the test."""
    error: CalcSyntaxError | CalcTypeError | None = None
    try:
        calculation = compile_calculation(text, mode="value")
    except (CalcSyntaxError, CalcTypeError) as raised:
        error = raised
    if error is not None:
        assert error.line is not None
        assert error.message in str(error)
        return
    with contextlib.suppress(CalcEvaluationError):
        calculation.evaluate(FUZZ_CONTEXT)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map("".join))
def test_token_soup_compiles_or_raises_a_compile_error(text: str) -> None:
    compiles_or_reports(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_compiles_or_raises_a_compile_error(text: str) -> None:
    compiles_or_reports(text)


@pytest.mark.parametrize("seed", range(4))
def test_mutated_calculations_compile_or_raise_a_compile_error(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "()\"\\.,?:!&|=<>+-*/%^ aZ0_9$e\n\t'#"
    for _ in range(500):
        chars = list(rng.choice(SEEDS))
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(chars) + 1)
            action = rng.choice(["insert", "delete", "replace"])
            if action == "insert" or not chars:
                chars.insert(position, rng.choice(alphabet))
            elif action == "delete":
                del chars[min(position, len(chars) - 1)]
            else:
                chars[min(position, len(chars) - 1)] = rng.choice(alphabet)
        compiles_or_reports("".join(chars))
