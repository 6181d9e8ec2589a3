"""The calculation language, operator by operator and function by function."""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

import pytest

from meterbell.domain.calc import CalcEvaluationError, compile_calculation

pytestmark = pytest.mark.filterwarnings("error")

M3TER_THRESHOLD_RULE = (
    "(new.amountSpent >= ((new.amount*90)/100)) \nAND ((old.amountSpent <= ((old.amount*90)/100))"
    " OR (old.amountSpent == null))"
)
M3TER_ACCOUNT_RULE = 'new.accountId == "df41d216-XXXX-470f-YYYY-79b16059a96f"'


def value(source: str, context: dict[str, Any] | None = None) -> Any:
    return compile_calculation(source, mode="value").evaluate(context or {})


def rule(source: str, context: dict[str, Any] | None = None) -> Any:
    return compile_calculation(source, mode="boolean").evaluate(context or {})


def fails(source: str, context: dict[str, Any] | None = None) -> str:
    """The message of the evaluation error ``source`` raises."""
    with pytest.raises(CalcEvaluationError) as raised:
        value(source, context)
    return raised.value.message


def same(actual: Any, expected: Any) -> bool:
    return type(actual) is type(expected) and actual == expected


# -- the documented m3ter examples --------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "fires"),
    [
        pytest.param(
            {
                "new": {"amountSpent": 950, "amount": 1000},
                "old": {"amountSpent": 800, "amount": 1000},
            },
            True,
            id="crosses 90%",
        ),
        pytest.param(
            {
                "new": {"amountSpent": 960, "amount": 1000},
                "old": {"amountSpent": 950, "amount": 1000},
            },
            False,
            id="already above",
        ),
        pytest.param(
            {
                "new": {"amountSpent": 100, "amount": 1000},
                "old": {"amountSpent": 50, "amount": 1000},
            },
            False,
            id="still below",
        ),
        pytest.param(
            {"new": {"amountSpent": 900.0, "amount": 1000.0}, "old": {"amount": 1000.0}},
            True,
            id="old amountSpent missing counts as not yet crossed",
        ),
        pytest.param(
            {"new": {"amountSpent": 900, "amount": 1000}, "old": {"amountSpent": None}},
            True,
            id="old amountSpent null",
        ),
        pytest.param({"new": {"amountSpent": 900, "amount": 1000}}, True, id="created: no old"),
        pytest.param({"new": {"amount": 1000}, "old": {}}, False, id="new amountSpent missing"),
        pytest.param({}, False, id="empty event"),
    ],
)
def test_m3ter_threshold_example(context: dict[str, Any], fires: bool) -> None:
    calculation = compile_calculation(M3TER_THRESHOLD_RULE, mode="boolean")
    assert calculation.fires(context) is fires
    assert calculation.references == {
        "new.amountSpent",
        "new.amount",
        "old.amountSpent",
        "old.amount",
    }


def test_m3ter_single_account_example() -> None:
    calculation = compile_calculation(M3TER_ACCOUNT_RULE, mode="boolean")
    assert calculation.fires({"new": {"accountId": "df41d216-XXXX-470f-YYYY-79b16059a96f"}})
    assert not calculation.fires({"new": {"accountId": "another"}})
    assert not calculation.fires({"new": {}})
    assert calculation.references == {"new.accountId"}
    assert calculation.source == M3TER_ACCOUNT_RULE


# -- literals, constants and references ----------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("90", 90),
        ("0.9", 0.9),
        ("1e3", 1000.0),
        ("2.5E-1", 0.25),
        ('"text"', "text"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"back\\slash"', "back\\slash"),
        (r'"two\nlines"', "two\nlines"),
        ('""', ""),
        ("true", True),
        ("false", False),
        ("null", None),
        ("Math.PI", math.pi),
        ("DateTime.TS_FMT", "yyyy-MM-dd'T'HH:mm:ss.SSSX"),
    ],
)
def test_literals_and_constants(source: str, expected: Any) -> None:
    assert same(value(source), expected)


@pytest.mark.parametrize(
    ("source", "context", "expected"),
    [
        ("new.amount", {"new": {"amount": 5}}, 5),
        ("old.customFields.tier", {"old": {"customFields": {"tier": "gold"}}}, "gold"),
        ("memoryMb", {"memoryMb": 512}, 512),
        ("$x_1", {"$x_1": 1}, 1),
        ("new.amount", {"new": {}}, None),
        ("old.amount", {"new": {"amount": 1}}, None),
        ("old.customFields.tier", {"old": {"customFields": None}}, None),
        ("old.customFields.tier", {"old": {"customFields": "not a map"}}, None),
        ("new.a.b.c", {"new": {"a": [1, 2]}}, None),
        ("new.a.b", {"new": 7}, None),
        ("new.amount", MappingProxyType({"new": MappingProxyType({"amount": 3})}), 3),
        ("new.list", {"new": {"list": [1, 2]}}, [1, 2]),
    ],
)
def test_references_read_paths_and_a_missing_key_is_null(
    source: str, context: Any, expected: Any
) -> None:
    assert same(value(source, context), expected)


def test_references_are_the_dotted_paths_read() -> None:
    calculation = compile_calculation(
        "isnull(new.customFields.tier, old.x) == memoryMb + Math.PI", mode="value"
    )
    assert calculation.references == {"new.customFields.tier", "old.x", "memoryMb"}


def test_a_path_and_its_parent_can_both_be_read() -> None:
    source = "new.cf == null ? 0 : isnull(new.cf.tier, 1)"
    assert value(source, {"new": {"cf": {"tier": 3}}}) == 3
    assert value(source, {"new": {"cf": {}}}) == 1
    assert value(source, {"new": {}}) == 0


def test_whitespace_and_newlines_are_insignificant() -> None:
    assert value("\n  1\t+\r\n 2 *\n3  ") == 7
    assert value("new . amount", {"new": {"amount": 4}}) == 4


# -- precedence and associativity ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true ? 1 : 2 + 3", 1),
        ("false ? 1 : 2 + 3", 5),
        ("true OR false AND false", True),
        ("(true OR false) AND false", False),
        ("false AND false OR true", True),
        ("1 == 1 AND 2 == 2", True),
        ("1 < 2 == true", True),
        ("1 + 2 < 4", True),
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 - 4 % 3", 6),
        ("2 * 3 ^ 2", 18),
        ("-2 ^ 2", 4),
        ("2 ^ -1", 0.5),
        ("-(2 ^ 2)", -4),
        ("NOT false AND false", False),
        ("NOT (false AND false)", True),
        ("1 + -2", -1),
        ("--3", 3),
        ("+-3", -3),
    ],
)
def test_precedence(source: str, expected: Any) -> None:
    assert same(value(source), expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("10 - 4 - 3", 3),
        ("100 / 10 / 5", 2.0),
        ("2 ^ 3 ^ 2", 512),
        ("17 % 10 % 4", 3),
        ("false ? 1 : true ? 2 : 3", 2),
        ("true ? false ? 1 : 2 : 3", 2),
        ('"a" + 1 + 2', "a12"),
        ('1 + 2 + "a"', "3a"),
    ],
)
def test_associativity(source: str, expected: Any) -> None:
    assert same(value(source), expected)


@pytest.mark.parametrize("word", ["AND", "and", "And", "&&"])
def test_and_spellings(word: str) -> None:
    assert rule(f"true {word} false") is False
    assert rule(f"true {word} true") is True


@pytest.mark.parametrize("word", ["OR", "or", "oR", "||"])
def test_or_spellings(word: str) -> None:
    assert rule(f"false {word} true") is True
    assert rule(f"false {word} false") is False


@pytest.mark.parametrize("word", ["NOT ", "not ", "Not ", "!"])
def test_not_spellings(word: str) -> None:
    assert rule(f"{word}false") is True
    assert rule(f"{word}true") is False


# -- arithmetic ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("2 + 3", 5),
        ("2.5 + 1", 3.5),
        ("2 - 3", -1),
        ("2 * 3", 6),
        ("2 * 0.5", 1.0),
        ("7 / 2", 3.5),
        ("6 / 3", 2.0),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("7 % -3", 1),
        ("7.5 % 2", 1.5),
        ("-7.5 % 2", -1.5),
        ("2 ^ 10", 1024),
        ("2 ^ 0.5", math.sqrt(2)),
        ("4 ^ -1", 0.25),
        ("-3", -3),
        ("+3", 3),
        ("10000000000000000000000 * 10", 100000000000000000000000),
    ],
)
def test_arithmetic(source: str, expected: Any) -> None:
    assert same(value(source), expected)


@pytest.mark.parametrize(
    "source",
    ["x + 1", "1 - x", "x * x", "x / 2", "2 % x", "x ^ 2", "-x", "+x", '"a" + x', "x + y"],
)
def test_arithmetic_with_null_gives_null(source: str) -> None:
    assert value(source, {"y": 1}) is None
    assert value(source.replace("x", "null"), {"y": 1}) is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('"a" + "b"', "ab"),
        ('"n=" + 5', "n=5"),
        ('5 + "!"', "5!"),
        ('"x" + 1.5', "x1.5"),
        ('"x" + 2.0', "x2.0"),
        ('"flag: " + true', "flag: true"),
        ('false + ""', "false"),
    ],
)
def test_plus_with_a_string_concatenates(source: str, expected: str) -> None:
    assert value(source) == expected


@pytest.mark.parametrize(
    ("source", "context", "message"),
    [
        ("x / 0", {"x": 1}, "division by zero"),
        ("x / y", {"x": 1, "y": 0.0}, "division by zero"),
        ("x % 0", {"x": 1}, "remainder of a division by zero"),
        ("x * 2", {"x": "a"}, '* needs two numbers, but got a string ("a") and a number (2)'),
        ("x - 1", {"x": True}, "- needs two numbers, but got a boolean (true) and a number (1)"),
        ("x / 2", {"x": [1]}, "/ needs two numbers, but got an array and a number (2)"),
        ("x ^ 2", {"x": {}}, "^ needs two numbers, but got a map and a number (2)"),
        ("x % 2", {"x": "7"}, '% needs two numbers, but got a string ("7") and a number (2)'),
        (
            "x + 1",
            {"x": True},
            "+ needs two numbers or a string, but got a boolean (true) and a number (1)",
        ),
        ('x + "a"', {"x": [1]}, "+ cannot join an array to a string"),
        ("-x", {"x": "a"}, 'unary - needs a number, but got a string ("a")'),
        ("x ^ 2000", {"x": 10}, "the power is too large"),
        ("x ^ 2000", {"x": 10.0}, "the power is too large"),
        ("x ^ -1", {"x": 0}, "zero cannot be raised to a negative power"),
        ("x ^ 0.5", {"x": -8}, "a number (-8) to the power 0.5 is not a real number"),
    ],
)
def test_arithmetic_errors(source: str, context: dict[str, Any], message: str) -> None:
    assert fails(source, context) == message


def test_a_non_finite_value_is_an_error() -> None:
    assert fails("x * x", {"x": 1e200}) == "the result is not a finite number (inf)"
    assert rule("x * x > 1", {"x": 1e200}) is True


def test_operands_are_evaluated_before_null_wins() -> None:
    assert fails("x + 1 / y", {"y": 0}) == "division by zero"
    with pytest.raises(CalcEvaluationError, match="division by zero"):
        rule("x < 1 / y", {"y": 0})


# -- comparisons ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 < 2", True),
        ("2 < 1", False),
        ("2 > 1", True),
        ("1 <= 1.0", True),
        ("1 >= 1.5", False),
        ('"2024-01-02" > "2024-01-01T23:59"', True),
        ('"a" < "b"', True),
        ('"B" < "a"', True),
        ("null < 1", False),
        ("1 > null", False),
        ("null <= null", False),
        ('null >= "a"', False),
    ],
)
def test_ordering(source: str, expected: bool) -> None:
    assert rule(source) is expected


@pytest.mark.parametrize(
    ("context", "message"),
    [
        (
            {"x": 1, "y": "1"},
            '< compares two numbers or two strings, but got a number (1) and a string ("1")',
        ),
        (
            {"x": True, "y": 1},
            "< compares two numbers or two strings, but got a boolean (true) and a number (1)",
        ),
        (
            {"x": [1], "y": [2]},
            "< compares two numbers or two strings, but got an array and an array",
        ),
        (
            {"x": True, "y": False},
            "< compares two numbers or two strings, but got a boolean (true) and a boolean (false)",
        ),
    ],
)
def test_ordering_errors(context: dict[str, Any], message: str) -> None:
    assert fails("x < y", context) == message


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (None, None, True),
        (None, 0, False),
        (0, None, False),
        (1, 1.0, True),
        (True, 1, False),
        (False, 0, False),
        (True, True, True),
        ("1", 1, False),
        ("a", "a", True),
        ([1, 2], [1, 2], True),
        ([1, True], [1, 1], False),
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": 1}, {"b": 1}, False),
        ([1], {"a": 1}, False),
        ({"a": [0]}, {"a": [False]}, False),
    ],
)
def test_equality_compares_any_values(left: Any, right: Any, expected: bool) -> None:
    context = {"new": {"a": left, "b": right}}
    assert rule("new.a == new.b", context) is expected
    assert rule("new.a != new.b", context) is (not expected)


@pytest.mark.parametrize(
    ("source", "context", "expected"),
    [
        ("x == null", {}, True),
        ("x == null", {"x": 0}, False),
        ("x != null", {"x": False}, True),
        ("x == 1", {"x": True}, False),
        ("x == 1", {"x": 1.0}, True),
        ("x == 0", {"x": False}, False),
        ("0 == x", {"x": 0}, True),
        ("x == 2", {"x": 2.0}, True),
        ("x == true", {"x": 1}, False),
        ("x == true", {"x": True}, True),
        ("x != false", {"x": 0}, True),
        ('x == "1"', {"x": 1}, False),
        ('x != "a"', {"x": "a"}, False),
        ("1 == 1.0", {}, True),
        ("null == null", {}, True),
        ("null == 0", {}, False),
        ("true == 1", {}, False),
    ],
)
def test_equality_with_constants(source: str, context: dict[str, Any], expected: bool) -> None:
    assert rule(source, context) is expected


# -- logic and the ternary -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true AND true", True),
        ("true AND false", False),
        ("true AND null", False),
        ("null AND true", False),
        ("false OR true", True),
        ("null OR false", False),
        ("null OR true", True),
        ("NOT null", True),
        ("NOT true", False),
        ("null ? true : false", False),
    ],
)
def test_null_counts_as_false_in_logic(source: str, expected: bool) -> None:
    assert rule(source) is expected


def test_and_or_short_circuit() -> None:
    assert rule("false AND 1 / x > 0", {"x": 0}) is False
    assert rule("true OR 1 / x > 0", {"x": 0}) is True
    assert rule("x == null OR x > 1", {}) is True


@pytest.mark.parametrize(
    ("source", "context", "message"),
    [
        ("x AND true", {"x": 1}, "AND needs true or false, but got a number (1)"),
        ("true AND x", {"x": "yes"}, 'AND needs true or false, but got a string ("yes")'),
        ("x OR false", {"x": [True]}, "OR needs true or false, but got an array"),
        ("NOT x", {"x": 0}, "NOT needs true or false, but got a number (0)"),
        ("x ? 1 : 2", {"x": "true"}, "'?' needs true or false, but got a string (\"true\")"),
    ],
)
def test_logic_on_non_booleans_is_an_error(
    source: str, context: dict[str, Any], message: str
) -> None:
    assert fails(source, context) == message


def test_the_ternary_evaluates_one_branch() -> None:
    assert value("x > 1 ? 1 / 0 : 7", {"x": 0}) == 7
    assert value('x ? "yes" : "no"', {"x": True}) == "yes"
    assert value('x ? "yes" : "no"', {"x": False}) == "no"
    assert value('IN("completed", "succeeded") ? "true" : "false"') == "false"


# -- functions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Math.max(1, 2)", 2),
        ("Math.max(3, 2.5, -1)", 3),
        ("Math.max(1, 1.0)", 1),
        ("Math.min(1, 2)", 1),
        ("Math.min(3, 2.5, 4)", 2.5),
        ("Math.max(1, null)", None),
        ("Math.min(null, 1, 2)", None),
        ("Math.floor(2.7)", 2),
        ("Math.floor(-2.1)", -3),
        ("Math.floor(2.789, 2)", 2.78),
        ("Math.floor(1234, -2)", 1200),
        ("Math.floor(-1234, -2)", -1300),
        ("Math.ceil(2.1)", 3),
        ("Math.ceil(-2.7)", -2),
        ("Math.ceil(2.781, 2)", 2.79),
        ("Math.ceil(1201, -2)", 1300),
        ("Math.round(2.5)", 3),
        ("Math.round(-2.5)", -2),
        ("Math.round(-2.6)", -3),
        ("Math.round(2.4)", 2),
        ("Math.round(0.49999999999999994)", 0),
        ("Math.round(1.005, 2)", 1.01),
        ("Math.round(2.675, 2)", 2.68),
        ("Math.round(-1.005, 2)", -1.0),
        ("Math.round(-1.0051, 2)", -1.01),
        ("Math.round(1250, -2)", 1300),
        ("Math.round(-1250, -2)", -1200),
        ("Math.round(1249.9, -2)", 1200),
        ("Math.round(7, 2)", 7),
        ("Math.round(7.25, 2.0)", 7.25),
        ("Math.round(null)", None),
        ("Math.round(1.5, null)", None),
        ("Math.pow(2, 10)", 1024),
        ("Math.pow(2, -2)", 0.25),
        ("Math.pow(null, 2)", None),
        ("Math.abs(-2)", 2),
        ("Math.abs(-2.5)", 2.5),
        ("Math.abs(null)", None),
        ("isnull(null, 5)", 5),
        ("isnull(3, 5)", 3),
        ("isnull(false, true)", False),
        ("isnull(null)", True),
        ("isnull(0)", False),
        ('IN("b", "a", "b", "c")', True),
        ('IN("z", "a", "b")', False),
        ("IN(1, 1.0)", True),
        ("IN(true, 1)", False),
        ("IN(null, 1, null)", True),
        ('IN(1, "1")', False),
    ],
)
def test_functions(source: str, expected: Any) -> None:
    assert same(value(source), expected)


def test_isnull_and_in_evaluate_lazily() -> None:
    assert value("isnull(x, 1 / y)", {"x": 4, "y": 0}) == 4
    assert rule("IN(x, 1, 1 / y)", {"x": 1, "y": 0}) is True
    assert value("isnull(x, y)", {"y": "fallback"}) == "fallback"
    assert rule("isnull(new.amount) AND isnull(old)", {"new": {}}) is True


@pytest.mark.parametrize(
    ("source", "context", "message"),
    [
        ("Math.max(x, 1)", {"x": "9"}, 'Math.max needs a number, but got a string ("9")'),
        ("Math.min(1, x)", {"x": True}, "Math.min needs a number, but got a boolean (true)"),
        ("Math.floor(x)", {"x": "1.5"}, 'Math.floor needs a number, but got a string ("1.5")'),
        ("Math.abs(x)", {"x": [1]}, "Math.abs needs a number, but got an array"),
        (
            "Math.round(1.5, x)",
            {"x": 0.5},
            "the scale of Math.round must be a whole number, but got a number (0.5)",
        ),
        (
            "Math.ceil(1.5, x)",
            {"x": True},
            "the scale of Math.ceil must be a whole number, but got a boolean (true)",
        ),
        ("Math.round(1.5, x)", {"x": 401}, "the scale of Math.round must be between -400 and 400"),
        (
            "Math.pow(x, 2)",
            {"x": "2"},
            '^ needs two numbers, but got a string ("2") and a number (2)',
        ),
    ],
)
def test_function_errors(source: str, context: dict[str, Any], message: str) -> None:
    assert fails(source, context) == message


# -- modes -------------------------------------------------------------------------------------


def test_boolean_mode_gives_true_false_or_null() -> None:
    calculation = compile_calculation("x", mode="boolean")
    assert calculation.evaluate({"x": True}) is True
    assert calculation.evaluate({"x": False}) is False
    assert calculation.evaluate({}) is None
    with pytest.raises(
        CalcEvaluationError,
        match=r"a rule must give true or false, but this one gave a number \(1\)",
    ):
        calculation.evaluate({"x": 1})  # fmt: skip


def test_fires_only_on_true() -> None:
    calculation = compile_calculation("x", mode="boolean")
    assert calculation.fires({"x": True}) is True
    assert calculation.fires({"x": False}) is False
    assert calculation.fires({"x": None}) is False
    with pytest.raises(CalcEvaluationError):
        calculation.fires({"x": "true"})


def test_fires_needs_boolean_mode() -> None:
    with pytest.raises(ValueError, match="only a boolean-mode calculation can fire"):
        compile_calculation("1", mode="value").fires({})


def test_value_mode_returns_any_value() -> None:
    assert value("x", {"x": {"a": 1}}) == {"a": 1}
    assert value("x > 1", {"x": 2}) is True


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode must be 'boolean' or 'value'"):
        compile_calculation("1", mode="number")  # type: ignore[arg-type]


# -- the compile cache ---------------------------------------------------------------------------


def test_compilation_is_cached_by_source_mode_and_fields() -> None:
    first = compile_calculation("new.amount > 1", mode="boolean")
    assert compile_calculation("new.amount > 1", mode="boolean") is first
    assert compile_calculation("new.amount > 1", mode="value") is not first
    typed = compile_calculation("new.amount > 1", mode="boolean", fields={"new.amount": "double"})
    assert typed is not first
    reordered = {"new.x": "int", "new.amount": "double"}
    same_map = compile_calculation("new.amount > 1", mode="boolean", fields=reordered)
    assert same_map is compile_calculation(
        "new.amount > 1", mode="boolean", fields=dict(reversed(list(reordered.items())))
    )
