"""Compile-time errors: their messages, places and caret snippets."""

from __future__ import annotations

import inspect
import sys
from typing import Any

import pytest

from meterbell.domain.calc import (
    MAX_DEPTH,
    MAX_LENGTH,
    CalcError,
    CalcEvaluationError,
    CalcSyntaxError,
    CalcTypeError,
    compile_calculation,
)

pytestmark = pytest.mark.filterwarnings("error")

COMMITMENT_UPDATED = {
    "new.amount": "double",
    "new.amountSpent": "double",
    "new.currency": "string",
    "new.billingInterval": "int",
    "new.commitmentFeeBillInAdvance": "boolean",
    "new.customFields": "map",
    "new.productIds": "array",
    "new.version": "long",
    "new.mystery": "somethingNew",
    "old.amount": "double",
    "old.amountSpent": "double",
}
COMMITMENT_CREATED = {key: kind for key, kind in COMMITMENT_UPDATED.items() if key[:4] == "new."}
COMMITMENT_DELETED = {"old.amount": "double", "old.currency": "string"}


def syntax_error(source: str) -> CalcSyntaxError:
    with pytest.raises(CalcSyntaxError) as raised:
        compile_calculation(source, mode="value")
    return raised.value


def type_error(
    source: str, fields: dict[str, str] | None = None, mode: str = "boolean"
) -> CalcTypeError:
    with pytest.raises(CalcTypeError) as raised:
        compile_calculation(source, mode=mode, fields=fields)  # type: ignore[arg-type]
    return raised.value


def caret_line(error: CalcError) -> str:
    return error.render().splitlines()[1]


# -- syntax errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message", "column", "carets"),
    [
        ("1 +", "expected a value but found the end of the calculation", 4, "     ^"),
        ("", "the calculation is empty", 1, "  ^"),
        ("  \n ", "the calculation is empty", 1, "  ^"),
        ("1 2", "unexpected '2'; expected an operator or the end", 3, "    ^"),
        (
            "(1 + 2",
            "expected ')' to close '(' but found the end of the calculation",
            7,
            "        ^",
        ),
        ("1 + 2)", "unexpected ')'; expected an operator or the end", 6, "       ^"),
        ("a = b", "unexpected character '='; use == to compare", 3, "    ^"),
        ("a & b", "unexpected character '&'; use AND (or &&)", 3, "    ^"),
        ("a | b", "unexpected character '|'; use OR (or ||)", 3, "    ^"),
        (
            "'text'",
            'unexpected character "\'"; strings are written in double quotes: "text"',
            1,
            "  ^",
        ),
        ("1 # 2", "unexpected character '#'", 3, "    ^"),
        (
            '"abc',
            "unterminated string (a string must close on the line it opens;"
            " write \\n for a newline)",
            1,
            "  ^",
        ),
        (
            '"ab\ncd"',
            "unterminated string (a string must close on the line it opens;"
            " write \\n for a newline)",
            1,
            "  ^",
        ),
        (
            '"a\\tb"',
            'unknown escape \\t in a string; only \\", \\\\ and \\n are allowed',
            3,
            "    ^^",
        ),
        ("1abc", "malformed number '1abc'", 1, "  ^^^^"),
        ("1.", "malformed number '1.'", 1, "  ^^"),
        ("1e", "malformed number '1e'", 1, "  ^^"),
        ("AND true", "expected a value but found 'AND'", 1, "  ^^^"),
        ("true or", "expected a value but found the end of the calculation", 8, "         ^"),
        (
            "new.",
            "expected a field name after '.' but found the end of the calculation",
            5,
            "      ^",
        ),
        ("new.1", "expected a field name after '.' but found '1'", 5, "      ^"),
        (
            "true ? 1",
            "expected ':' to separate the two results of '?' but found the end of the calculation",
            9,
            "          ^",
        ),
        (
            "Math.max(1, 2",
            "expected ')' to close the arguments of Math.max but found the end of the calculation",
            14,
            "               ^",
        ),
        ("Math.max(1,)", "expected a value but found ')'", 12, "             ^"),
        ("Math.mx(1, 2)", "unknown function Math.mx; did you mean Math.max?", 1, "  ^^^^^^^"),
        ("ISNULL(a)", "unknown function ISNULL; did you mean isnull?", 1, "  ^^^^^^"),
        ("in(a, 1)", "unknown function in; did you mean IN?", 1, "  ^^"),
        ("foo(1)", "unknown function foo", 1, "  ^^^"),
        ("new.amount(1)", "unknown function new.amount", 1, "  ^^^^^^^^^^"),
        ("Math.max(1)", "Math.max takes at least 2 arguments, but 1 was given", 1, "  ^^^^^^^^"),
        ("Math.min()", "Math.min takes at least 2 arguments, but 0 were given", 1, "  ^^^^^^^^"),
        ("Math.abs(1, 2)", "Math.abs takes exactly 1 argument, but 2 were given", 1, "  ^^^^^^^^"),
        ("Math.pow(1)", "Math.pow takes exactly 2 arguments, but 1 was given", 1, "  ^^^^^^^^"),
        (
            "Math.round(1, 2, 3)",
            "Math.round takes 1 or 2 arguments, but 3 were given",
            1,
            "  ^^^^^^^^^^",
        ),
        ("isnull()", "isnull takes 1 or 2 arguments, but 0 were given", 1, "  ^^^^^^"),
        ("IN(1)", "IN takes at least 2 arguments, but 1 was given", 1, "  ^^"),
        ("Math.pi", "unknown constant Math.pi; did you mean Math.PI?", 1, "  ^^^^^^^"),
        ("DateTime.NOW", "unknown constant DateTime.NOW", 1, "  ^^^^^^^^^^^^"),
        ("1e999", "number is too large", 1, "  ^^^^^"),
    ],
)
def test_syntax_errors(source: str, message: str, column: int, carets: str) -> None:
    error = syntax_error(source)
    assert error.message == message
    assert (error.line, error.column) == (1, column)
    assert caret_line(error) == carets


def test_every_function_is_known_and_names_are_case_sensitive() -> None:
    for call in ("Math.max(1, 2)", "Math.floor(1)", "Math.ceil(1, 1)", "Math.abs(1)", "IN(1, 2)"):
        compile_calculation(call, mode="value")
    assert (
        syntax_error("math.max(1, 2)").message
        == "unknown function math.max; did you mean Math.max?"
    )


def test_an_error_on_a_later_line_points_there() -> None:
    error = syntax_error("new.amount > 1\nAND\n  (old.amount <\t)")
    assert (error.line, error.column) == (3, 17)
    assert error.message == "expected a value but found ')'"
    assert error.render() == "    (old.amount <\t)\n                 \t^"


def test_str_of_an_error_is_the_whole_message_with_the_snippet() -> None:
    error = syntax_error("new.amount >> 5")
    assert str(error) == (
        "expected a value but found '>' (line 1, column 13)\n  new.amount >> 5\n              ^"
    )


def test_a_long_line_is_shown_around_the_error() -> None:
    source = "1 + " * 30 + "+ * 2"
    error = syntax_error(source)
    assert error.column == 123
    snippet, carets = error.render().splitlines()
    assert snippet.startswith("  ...")
    assert carets.index("^") == snippet.index("+ * 2") + 2


def test_the_length_limit() -> None:
    compile_calculation("1" + " " * (MAX_LENGTH - 1), mode="value")
    error = syntax_error("1" + " " * MAX_LENGTH)
    assert (
        error.message == f"the calculation is {MAX_LENGTH + 1} characters long; the limit is 5000"
    )
    assert error.column == MAX_LENGTH + 1


@pytest.mark.parametrize(
    "make",
    [
        lambda n: "(" * n + "1" + ")" * n,
        lambda n: "-" * n + "1",
        lambda n: "NOT " * n + "true",
        lambda n: " + ".join(["1"] * (n + 1)),
        lambda n: " ^ ".join(["2"] * (n + 1)),
        lambda n: "Math.abs(" * n + "1" + ")" * n,
        lambda n: "true ? " * n + "1" + " : 2" * n,
    ],
    ids=["parentheses", "unary minus", "NOT", "sum", "power", "calls", "ternaries"],
)
def test_the_depth_limit(make: Any) -> None:
    compile_calculation(make(MAX_DEPTH - 2), mode="value")
    message = "the calculation is nested too deeply (more than 64 levels)"
    assert syntax_error(make(MAX_DEPTH + 1)).message == message


@pytest.mark.parametrize("source", ["(" * 4999, "-" * 4999 + "1", "1" + "^1" * 2499])
def test_deep_input_never_raises_recursion_error(source: str) -> None:
    assert "nested too deeply" in syntax_error(source).message


# -- type errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "fields", "message", "column", "carets"),
    [
        (
            "new.amont > 1",
            COMMITMENT_UPDATED,
            "unknown field new.amont; did you mean new.amount?",
            1,
            "  ^^^^^^^^^",
        ),
        ("new.zzz > 1", COMMITMENT_UPDATED, "unknown field new.zzz", 1, "  ^^^^^^^"),
        (
            "amount > 1",
            COMMITMENT_UPDATED,
            "unknown field amount; did you mean old.amount?",
            1,
            "  ^^^^^^",
        ),
        (
            "old.amount > 1",
            COMMITMENT_CREATED,
            "old.* fields do not exist on a created event; did you mean new.amount?",
            1,
            "  ^^^^^^^^^^",
        ),
        (
            'new.currency == "USD"',
            COMMITMENT_DELETED,
            "new.* fields do not exist on a deleted event; did you mean old.currency?",
            1,
            "  ^^^^^^^^^^^^",
        ),
        (
            "new.amount.value > 1",
            COMMITMENT_UPDATED,
            "new.amount is a double, so it has no field value",
            1,
            "  ^^^^^^^^^^^^^^^^",
        ),
        (
            "new.productIds.first == 1",
            COMMITMENT_UPDATED,
            "new.productIds is an array, so it has no field first",
            1,
            "  ^^^^^^^^^^^^^^^^^^^^",
        ),
        (
            "new.currency * 2 > 1",
            COMMITMENT_UPDATED,
            "* needs numbers, but new.currency is a string",
            1,
            "  ^^^^^^^^^^^^",
        ),
        (
            "1 - new.commitmentFeeBillInAdvance > 0",
            COMMITMENT_UPDATED,
            "- needs numbers, but new.commitmentFeeBillInAdvance is a boolean",
            5,
            "      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        ),
        (
            "new.customFields / 2 > 1",
            COMMITMENT_UPDATED,
            "/ needs numbers, but new.customFields is a map",
            1,
            "  ^^^^^^^^^^^^^^^^",
        ),
        (
            "new.productIds + 1 > 1",
            COMMITMENT_UPDATED,
            "+ needs numbers or strings, but new.productIds is an array",
            1,
            "  ^^^^^^^^^^^^^^",
        ),
        (
            "new.amount > new.currency",
            COMMITMENT_UPDATED,
            "> compares two numbers or two strings,"
            " but new.amount is a double and new.currency is a string",
            1,
            "  ^^^^^^^^^^^^^^^^^^^^^^^^^",
        ),
        (
            "new.commitmentFeeBillInAdvance < true",
            COMMITMENT_UPDATED,
            "< needs two numbers or two strings, but new.commitmentFeeBillInAdvance is a boolean",
            1,
            "  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        ),
        (
            "new.amount AND true",
            COMMITMENT_UPDATED,
            "AND needs true/false values, but new.amount is a double",
            1,
            "  ^^^^^^^^^^",
        ),
        (
            "true OR new.currency",
            COMMITMENT_UPDATED,
            "OR needs true/false values, but new.currency is a string",
            9,
            "          ^^^^^^^^^^^^",
        ),
        (
            "NOT new.billingInterval",
            COMMITMENT_UPDATED,
            "NOT needs true/false values, but new.billingInterval is an int",
            5,
            "      ^^^^^^^^^^^^^^^^^^^",
        ),
        (
            "new.version ? true : false",
            COMMITMENT_UPDATED,
            "the condition of '?' needs true/false values, but new.version is a long",
            1,
            "  ^^^^^^^^^^^",
        ),
        (
            "Math.max(new.currency, 1) > 1",
            COMMITMENT_UPDATED,
            "Math.max needs numbers, but new.currency is a string",
            10,
            "           ^^^^^^^^^^^^",
        ),
        (
            "-new.currency > 1",
            COMMITMENT_UPDATED,
            "unary - needs numbers, but new.currency is a string",
            2,
            "   ^^^^^^^^^^^^",
        ),
        (
            "new.commitmentFeeBillInAdvance + 1 > 1",
            COMMITMENT_UPDATED,
            "cannot add these values:"
            " new.commitmentFeeBillInAdvance is a boolean and 1 is a number",
            1,
            "  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        ),
        (
            "new.amount - old.amount",
            COMMITMENT_UPDATED,
            "a rule must give true or false, but this calculation gives a number",
            1,
            "  ^^^^^^^^^^^^^^^^^^^^^^^",
        ),
        (
            "new.currency",
            COMMITMENT_UPDATED,
            "a rule must give true or false, but this calculation gives a string",
            1,
            "  ^^^^^^^^^^^^",
        ),
        (
            "isnull(new.amount, 0)",
            COMMITMENT_UPDATED,
            "a rule must give true or false, but this calculation gives a number",
            1,
            "  ^^^^^^^^^^^^^^^^^^^^^",
        ),
        ('"abc" * 2 > 1', None, '* needs numbers, but "abc" is a string', 1, "  ^^^^^"),
        (
            "true + 1 > 1",
            None,
            "cannot add these values: true is a boolean and 1 is a number",
            1,
            "  ^^^^^^^^",
        ),
        (
            '1 < "a"',
            None,
            '< compares two numbers or two strings, but 1 is a number and "a" is a string',
            1,
            "  ^^^^^^^",
        ),
        (
            "(1 + 2) AND true",
            None,
            "AND needs true/false values, but 1 + 2 is a number",
            2,
            "   ^^^^^",
        ),
        (
            "1 + 2",
            None,
            "a rule must give true or false, but this calculation gives a number",
            1,
            "  ^^^^^",
        ),
    ],
)
def test_type_errors(
    source: str, fields: dict[str, str] | None, message: str, column: int, carets: str
) -> None:
    error = type_error(source, fields)
    assert error.message == message
    assert (error.line, error.column) == (1, column)
    assert caret_line(error) == carets


@pytest.mark.parametrize(
    "source",
    [
        'new.customFields.tier == "gold"',
        "new.customFields.a.b.c > 1",
        "new.mystery.anything == 1",
        "new.mystery * 2 > 1",
        "new.amount * 90 / 100 >= new.amountSpent",
        'new.currency + "!" == "USD!"',
        "new.currency + 1 == new.currency + true",
        "new.commitmentFeeBillInAdvance AND new.amount > 1",
        "IN(new.currency, 1, true, null)",
        "isnull(new.customFields) OR new.productIds == null",
        "new.commitmentFeeBillInAdvance",
        "new.amount > 1 ? new.amount > 2 : null",
    ],
)
def test_valid_calculations_pass_the_field_map(source: str) -> None:
    compile_calculation(source, mode="boolean", fields=COMMITMENT_UPDATED)


def test_value_mode_accepts_any_result() -> None:
    for source in ("new.amount * 2", "new.currency", "new.amount > 1", "new.customFields"):
        compile_calculation(source, mode="value", fields=COMMITMENT_UPDATED)


def test_derived_field_references_are_bare_names() -> None:
    fields = {"memoryMb": "double", "durationMs": "long"}
    calculation = compile_calculation("memoryMb * durationMs / 1000", mode="value", fields=fields)
    assert calculation.evaluate({"memoryMb": 512, "durationMs": 2000}) == 1024.0
    error = type_error("memoryMB * 2", fields, mode="value")
    assert error.message == "unknown field memoryMB; did you mean memoryMb?"


def test_without_a_field_map_any_field_is_accepted() -> None:
    compile_calculation("old.anything.deep * new.whatever > 1", mode="boolean")


# -- evaluation errors ---------------------------------------------------------------------------


def test_evaluation_errors_point_at_the_operator() -> None:
    calculation = compile_calculation("new.amount >\n  new.total / new.count", mode="boolean")
    with pytest.raises(CalcEvaluationError) as raised:
        calculation.evaluate({"new": {"amount": 1, "total": 5, "count": 0}})
    error = raised.value
    assert error.message == "division by zero"
    assert (error.line, error.column) == (2, 13)
    assert str(error) == (
        "division by zero (line 2, column 13)\n    new.total / new.count\n              ^"
    )


def test_python_failures_become_evaluation_errors() -> None:
    calculation = compile_calculation('"n=" + x', mode="value")
    with pytest.raises(CalcEvaluationError) as raised:
        calculation.evaluate({"x": 10**5000})
    assert raised.value.message.startswith("evaluation failed:")
    assert raised.value.line is None
    assert raised.value.render() == ""
    assert str(raised.value) == raised.value.message


def test_errors_are_calc_errors() -> None:
    assert issubclass(CalcSyntaxError, CalcError)
    assert issubclass(CalcTypeError, CalcError)
    assert issubclass(CalcEvaluationError, CalcError)
    assert not issubclass(CalcTypeError, CalcSyntaxError)


def test_a_deep_call_stack_gives_a_syntax_error_not_a_recursion_error() -> None:
    source = "Math.abs(" * 60 + "1" + ")" * 60
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 200)
    try:
        error = syntax_error(source)
    finally:
        sys.setrecursionlimit(limit)
    assert error.message == "the calculation is nested too deeply to compile here"
    assert compile_calculation(source, mode="value").evaluate({}) == 1
