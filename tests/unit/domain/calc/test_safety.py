"""Nothing outside the language is reachable, and evaluation is bounded."""

from __future__ import annotations

import ast
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import meterbell.domain.calc as calc
from meterbell.domain.calc import CalcEvaluationError, CalcSyntaxError, compile_calculation
from meterbell.domain.calc.compiler import build_module
from meterbell.domain.calc.parser import parse

PACKAGE = Path(calc.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_the_package_imports_only_the_standard_library_and_itself(path: Path) -> None:
    for name in imported_modules(path):
        root = name.split(".")[0]
        assert root in sys.stdlib_module_names or name.startswith("meterbell.domain.calc"), name


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_the_package_never_calls_eval_or_exec(path: Path) -> None:
    tree = ast.parse(path.read_text())
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not called & {"eval", "exec", "__import__"}


def test_compiled_functions_see_no_builtins() -> None:
    calculation = compile_calculation("x + 1", mode="value")
    assert calculation.evaluate.__globals__["__builtins__"] == {}


@pytest.mark.parametrize(
    "source",
    [
        '__import__("os")',
        "open(x)",
        "eval(x)",
        "x.__class__()",
        "context.get(1)",
        "lambda: 1",
        "[1, 2]",
        "x[0]",
        "x if y else z",
        "f'{x}'",
        "x; y",
    ],
)
def test_python_syntax_is_not_the_language(source: str) -> None:
    with pytest.raises(CalcSyntaxError):
        compile_calculation(source, mode="value")


@pytest.mark.parametrize(
    "name", ["__class__", "__dict__", "get", "keys", "__builtins__", "context", "_v0", "_t0"]
)
def test_field_names_are_only_ever_map_keys(name: str) -> None:
    calculation = compile_calculation(f"new.{name}", mode="value")
    assert calculation.evaluate({"new": {}}) is None
    assert calculation.evaluate({"new": {name: 7}}) == 7
    bare = compile_calculation(name, mode="value")
    assert bare.evaluate({name: "value"}) == "value"
    assert bare.evaluate({}) is None


def test_strings_are_only_ever_values() -> None:
    source = '"\\") + __import__(\\"os\\").getcwd() + (\\""'
    assert (
        compile_calculation(source, mode="value").evaluate({})
        == '") + __import__("os").getcwd() + ("'
    )


@pytest.mark.parametrize(
    "source",
    ["x ^ 100000000", "Math.pow(x, 100000000)", "x ^ 1e9", "Math.round(x, 1000000)"],
)
def test_huge_results_fail_fast_instead_of_allocating(source: str) -> None:
    started = time.perf_counter()
    with pytest.raises(CalcEvaluationError):
        compile_calculation(source, mode="value").evaluate({"x": 7})
    assert time.perf_counter() - started < 1.0


def test_a_context_that_is_not_made_of_maps_is_read_safely() -> None:
    calculation = compile_calculation("new.a.b == null AND old.c == null", mode="boolean")
    for context in ({"new": "text", "old": 5}, {"new": [1], "old": True}, {"new": {"a": 3}}):
        assert calculation.evaluate(context) is True


def generated_python(source: str, mode: str = "boolean") -> ast.Module:
    return build_module(parse(source), mode, source)  # type: ignore[arg-type]


def test_user_text_only_ever_becomes_constants() -> None:
    source = 'new.__import__ == "os" AND evil.system("rm") == null OR exec == eval'
    with pytest.raises(CalcSyntaxError):
        compile_calculation(source, mode="boolean")
    source = "new.__import__ == \"__import__('os')\" AND exec == eval.__class__"
    module = generated_python(source)
    names = {node.id for node in ast.walk(module) if isinstance(node, ast.Name)}
    assert all(name == "context" or name.startswith("_") for name in names), names
    assert set(names) - {"context"} <= set(compiler_globals()) | local_names(module)
    attributes = {node.attr for node in ast.walk(module) if isinstance(node, ast.Attribute)}
    assert attributes <= {"get", "located"}


def compiler_globals() -> dict[str, object]:
    calculation = compile_calculation("x", mode="value")
    return dict(calculation.evaluate.__globals__)


def local_names(module: ast.Module) -> set[str]:
    return {
        node.id
        for node in ast.walk(module)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    } | {"_error"}


class CountingMap(Mapping[str, object]):
    """A map that counts how often it is read."""

    def __init__(self, data: dict[str, object]) -> None:
        self.data = data
        self.reads = 0

    def __getitem__(self, key: str) -> object:
        self.reads += 1
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def test_a_top_level_and_reads_later_fields_only_when_needed() -> None:
    calculation = compile_calculation("new.ok AND old.amount > 1", mode="boolean")
    old = CountingMap({"amount": 5})
    assert calculation.evaluate({"new": {"ok": False}, "old": old}) is False
    assert old.reads == 0
    assert calculation.evaluate({"new": {"ok": True}, "old": old}) is True
    assert old.reads == 1


def test_a_top_level_or_stops_at_the_first_true() -> None:
    calculation = compile_calculation("new.ok OR old.amount > 1 OR old.x", mode="boolean")
    old = CountingMap({"amount": 0, "x": True})
    assert calculation.evaluate({"new": {"ok": True}, "old": old}) is True
    assert old.reads == 0
    assert calculation.evaluate({"new": {"ok": None}, "old": old}) is True
    assert old.reads == 2
