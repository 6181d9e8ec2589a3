"""Compile a checked tree into a Python function.

The function is built as a Python syntax tree, node by node, and compiled; user text only
ever becomes ``ast.Constant`` values (field names, string literals), never code or names, so
nothing outside the language is reachable. No ``eval``/``exec`` is used: the function object
is made directly from the compiled code. Its globals hold only the helpers it calls, and no
builtins.

Shape of the generated function (``ast.unparse(build_module(...))`` shows a real one)::

    def calculation(context):
        try:
            _v0 = context.get("new")       # each field is read once, before it is first
            _m0 = _v0 or _EMPTY            # needed (see ``_Builder.take_fetches``)
            _v1 = _m0.get("amount")
            return <the expression, over _v1 ...>
        except _CalcEvaluationError as _error:
            raise _error.located("<the calculation's source>") from None

Operators are inlined with their null checks and a fast path for the common kinds (numbers
with numbers), falling back to ``runtime`` helpers for everything else. The kinds a
sub-expression can produce (see ``kinds``) let checks that cannot fail be left out.

A number region, arithmetic over fields and number literals (``+ - * / %`` and unary minus,
2 to 16 operators), is compiled three times over (see ``_Builder.number_region``): for when
every field it reads is a number, with no null or type checks between steps and Java's ``%``
inlined; for numbers and nulls, giving null after computing the parts that may still fail;
and step by step as above for everything else, which gives the exact result or error::

    -(_fmod(_v1, 7) if _k0 is _float else ...) if _v1 is not None and (
        (_k0 := _type(_v1)) is _float or _k0 is _int) else (
        None if _v1 is None or ... else <step by step>)
"""

from __future__ import annotations

import ast
import math
import operator
import types
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from itertools import count
from typing import Any, Final
from typing import Literal as Kind

from meterbell.domain.calc import kinds as k
from meterbell.domain.calc import runtime
from meterbell.domain.calc.errors import CalcEvaluationError
from meterbell.domain.calc.nodes import (
    Binary,
    Call,
    Literal,
    Node,
    Reference,
    Ternary,
    Unary,
    Value,
)

Mode = Kind["boolean", "value"]
CompiledFunction = Callable[[Any], Any]

_HELPERS: Final[dict[str, object]] = {
    "_type": type,
    "_dict": dict,
    "_bool": bool,
    "_str": str,
    "_float": float,
    "_int": int,
    "_ORD": runtime.ORDERABLE_TYPE_PAIRS,
    "_isfinite": math.isfinite,
    "_EMPTY": runtime.EMPTY_MAP,
    "_CalcEvaluationError": CalcEvaluationError,
    "_FAILURES": runtime.PYTHON_FAILURES,
    "_evaluation_failure": runtime.evaluation_failure,
    "_AttributeError": AttributeError,
    "_as_map": runtime.as_map,
    "_equals": runtime.equals,
    "_add_non_numbers": runtime.add_non_numbers,
    "_divide": runtime.divide,
    "_remainder": runtime.remainder,
    "_fmod": math.fmod,
    "_power": runtime.power,
    "_extreme": runtime.extreme,
    "_absolute": runtime.absolute,
    "_floor": runtime.floor,
    "_ceil": runtime.ceil,
    "_round": runtime.round_half_up,
    "_operand_error": runtime.operand_error,
    "_arithmetic_error": runtime.arithmetic_error,
    "_order_error": runtime.order_error,
    "_truth_error": runtime.truth_error,
    "_not_boolean": runtime.not_boolean,
    "_not_finite": runtime.not_finite,
}
_GLOBALS: Final[dict[str, object]] = {"__builtins__": {}, **_HELPERS}

_ARITHMETIC_AST: Final[dict[str, ast.operator]] = {
    "+": ast.Add(),
    "-": ast.Sub(),
    "*": ast.Mult(),
    "/": ast.Div(),
}
_FOLDERS: Final[dict[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_HELPER_OPERATORS: Final = {"%": "_remainder", "^": "_power"}
_NUMBER_REGION_OPERATORS: Final = frozenset({"+", "-", "*", "/", "%"})
_NUMBER_REGION_OPERATORS_RANGE: Final = range(2, 17)
"""Operators in a number region: one gains nothing from it; more than 16 make the code for a
null among the fields (which repeats parts) grow too large, so a bigger tree is split."""
_COMPARE_AST: Final[dict[str, ast.cmpop]] = {
    "<": ast.Lt(),
    ">": ast.Gt(),
    "<=": ast.LtE(),
    ">=": ast.GtE(),
    "==": ast.Eq(),
    "!=": ast.NotEq(),
}
_NEGATED_COMPARE: Final[dict[type[ast.cmpop], ast.cmpop]] = {
    ast.Eq: ast.NotEq(),
    ast.Is: ast.IsNot(),
}
_ROUNDING_FUNCTIONS: Final = {"Math.floor": "_floor", "Math.ceil": "_ceil", "Math.round": "_round"}
_NULLABLE_BOOLEAN: Final = frozenset({k.BOOLEAN, k.NULL})
_STRINGS: Final = frozenset({k.STRING})


@dataclass(frozen=True, slots=True)
class _Code:
    """A compiled sub-expression and the kinds of value it can produce."""

    expr: ast.expr
    kinds: k.Kinds

    @property
    def simple(self) -> bool:
        """Cheap to repeat and cannot fail: a constant or an already bound variable."""
        return isinstance(self.expr, ast.Constant | ast.Name)

    @property
    def numbers_only(self) -> bool:
        """When not null, certainly a number."""
        return bool(k.non_null(self.kinds)) and k.non_null(self.kinds) <= k.ONLY_NUMBER


def compile_tree(tree: Node, mode: Mode, source: str) -> CompiledFunction:
    """Build the Python function computing ``tree`` from a context mapping.

    The function raises only CalcEvaluationError, located in ``source``.
    """
    module_code = compile(build_module(tree, mode, source), "<calculation>", "exec")
    function_code = next(c for c in module_code.co_consts if isinstance(c, types.CodeType))
    return types.FunctionType(function_code, _GLOBALS, "calculation")


def build_module(tree: Node, mode: Mode, source: str) -> ast.Module:
    """The Python syntax tree of ``def calculation(context): ...`` (``ast.unparse`` shows it)."""
    builder = _Builder()
    if isinstance(tree, Binary) and tree.op in k.LOGICAL:
        computation = _logical_statements(builder, tree)
    else:
        result = builder.result(tree, mode)
        computation = [*builder.take_fetches(), ast.Return(result)]
    body: list[ast.stmt] = [ast.Try(computation, _error_handlers(source), [], [])]
    function = ast.FunctionDef(
        name="calculation",
        args=ast.arguments(
            posonlyargs=[],
            args=[ast.arg("context")],
            kwonlyargs=[],
            kw_defaults=[],
            defaults=[],
        ),
        body=body,
        decorator_list=[],
    )
    return _located(ast.Module(body=[function], type_ignores=[]))


def _located(module: ast.Module) -> ast.Module:
    """Give every node the one location, line 1 (``compile`` needs one).

    Like ``ast.fix_missing_locations``, but visiting a node shared by several branches once:
    a number region's code shares its parts (see ``_NumberArithmetic``).
    """
    seen: set[int] = set()
    pending: list[ast.AST] = [module]
    while pending:
        node = pending.pop()
        if "lineno" in node._attributes:
            node.lineno = node.end_lineno = 1  # type: ignore[attr-defined]
            node.col_offset = node.end_col_offset = 0  # type: ignore[attr-defined]
        for child in _children(node):
            if id(child) not in seen:
                seen.add(id(child))
                pending.append(child)
    return module


def _children(node: ast.AST) -> list[ast.AST]:
    found: list[ast.AST] = []
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, list):
            found.extend(item for item in value if isinstance(item, ast.AST))
        elif isinstance(value, ast.AST):
            found.append(value)
    return found


def _logical_statements(builder: _Builder, tree: Binary) -> list[ast.stmt]:
    """A top-level AND/OR chain as statements returning early, as a person would write it.

    Each operand's fields are fetched only once the operands before it did not decide the
    result, so ``cheap_test AND (...)`` skips the rest's field reads too.
    """
    operands = _chain(tree, tree.op)
    decided = tree.op == "OR"  # the result an early operand can settle
    statements: list[ast.stmt] = []
    for index, operand in enumerate(operands):
        test = builder.truth(builder.emit(operand), tree.op, tree.op_start)
        statements.extend(builder.take_fetches())
        if index == len(operands) - 1:
            statements.append(ast.Return(test))
        else:
            condition = test if decided else ast.UnaryOp(ast.Not(), test)
            statements.append(ast.If(condition, [ast.Return(ast.Constant(decided))], []))
    return statements


def _chain(node: Node, op: str) -> list[Node]:
    """The operands of ``a op b op c`` (left-nested) in order."""
    if isinstance(node, Binary) and node.op == op:
        return [*_chain(node.left, op), node.right]
    return [node]


def _error_handlers(source: str) -> list[ast.ExceptHandler]:
    """Locate our errors in ``source``; turn Python's own (overflow...) into ours."""
    located = _method_call(_load("_error"), "located", ast.Constant(source))
    translated = _call("_evaluation_failure", _load("_error"), ast.Constant(source))
    return [
        ast.ExceptHandler(_load("_CalcEvaluationError"), "_error", [ast.Raise(located, _none())]),
        ast.ExceptHandler(_load("_FAILURES"), "_error", [ast.Raise(translated, _load("_error"))]),
    ]


def _checked_result(result: _Code, mode: Mode, tree: Node) -> ast.expr:
    """Wrap the result so boolean mode only ever gives True/False/None and value mode no inf."""
    if mode == "boolean":
        if result.kinds <= _NULLABLE_BOOLEAN:
            return result.expr
        return _guard_value(result, "_not_boolean", tree.start, _is_boolean_or_null)
    if k.NUMBER not in result.kinds:
        return result.expr
    return _guard_value(result, "_not_finite", tree.start, _is_not_infinite)


def _checked_number(number: _Number, mode: Mode, tree: Node) -> ast.expr:
    """``_checked_result`` of a number region's fast path: a float needs no type test."""
    if mode == "value" and number.floats is None:
        value = _load("_result")
        bound = ast.NamedExpr(_store("_result"), number.expr)
        failure = _call("_not_finite", ast.Constant(tree.start), value)
        return ast.IfExp(_call("_isfinite", bound), value, failure)
    return _checked_result(_Code(number.expr, k.ONLY_NUMBER), mode, tree)


def _guard_value(
    result: _Code, failure: str, at: int, accept: Callable[[ast.expr], ast.expr]
) -> ast.expr:
    target = "_result"
    bound = ast.NamedExpr(_store(target), result.expr)
    value = _load(target)
    return ast.IfExp(
        ast.BoolOp(ast.Or(), [ast.Compare(bound, [ast.Is()], [_none()]), accept(value)]),
        value,
        _call(failure, ast.Constant(at), value),
    )


def _is_boolean_or_null(value: ast.expr) -> ast.expr:
    return ast.BoolOp(ast.Or(), [_is(value, True), _is(value, False)])


def _is_not_infinite(value: ast.expr) -> ast.expr:
    return ast.BoolOp(
        ast.Or(),
        [
            ast.Compare(_type_of(value), [ast.IsNot()], [_load("_float")]),
            _call("_isfinite", value),
        ],
    )


class _Builder:
    def __init__(self) -> None:
        self.pending: list[_Fetch] = []
        self.values: dict[tuple[str, ...], str] = {}
        self.containers: dict[tuple[str, ...], str] = {}
        self.counter = count()
        self.in_number_region = False

    def emit(self, node: Node) -> _Code:
        if not self.in_number_region and _is_number_region(node):
            return self.number_region(node)
        match node:
            case Literal():
                return _Code(ast.Constant(node.value), frozenset({k.of_value(node.value)}))
            case Reference():
                return _Code(_load(self.field_variable(node.path)), k.ANY)
            case Unary():
                return self.unary(node)
            case Binary():
                return self.binary(node)
            case Ternary():
                condition = self.truth(self.emit(node.condition), "'?'", node.start)
                then, otherwise = self.emit(node.then), self.emit(node.otherwise)
                return _Code(
                    ast.IfExp(condition, then.expr, otherwise.expr), then.kinds | otherwise.kinds
                )
            case Call():
                return self.call(node)

    # -- fields ---------------------------------------------------------------------------------

    def field_variable(self, path: tuple[str, ...]) -> str:
        """The local holding the value at ``path``, fetched once before first needed."""
        if path not in self.values:
            source = "context" if len(path) == 1 else self.container(path[:-1])
            name = f"_v{len(self.values)}"
            self.pending.append(_Fetch(name, source, path[-1]))
            self.values[path] = name
        return self.values[path]

    def container(self, path: tuple[str, ...]) -> str:
        """The local holding the map at ``path``: an empty map when the value is no map."""
        if path not in self.containers:
            value = self.field_variable(path)
            name = f"_m{len(self.containers)}"
            self.pending.append(_Fetch(name, value, None))
            self.containers[path] = name
        return self.containers[path]

    def take_fetches(self) -> list[ast.stmt]:
        """Statements fetching the fields used since the last call.

        The fast path reads maps with ``get``; a value on the way that is not a map (so has
        no ``get``) sends the group down the safe path, which reads the same fields again.
        """
        fetches, self.pending = self.pending, []
        fast = [fetch.fast() for fetch in fetches]
        if all(fetch.key is not None for fetch in fetches):
            return fast  # only ``context.get``: nothing can lack ``get``
        safe = [fetch.safe() for fetch in fetches]
        return [ast.Try(fast, [ast.ExceptHandler(_load("_AttributeError"), None, safe)], [], [])]

    # -- temporaries ------------------------------------------------------------------------------

    def bind(self, code: _Code) -> tuple[ast.expr, ast.expr]:
        """(first use, later uses) of a value needed more than once: bound to a temporary."""
        if code.simple:
            return code.expr, code.expr
        if isinstance(code.expr, ast.NamedExpr):
            return code.expr, _load(code.expr.target.id)
        name = f"_t{next(self.counter)}"
        return ast.NamedExpr(_store(name), code.expr), _load(name)

    def null_guarded(
        self,
        operands: Sequence[_Code],
        on_null: ast.expr,
        body: Callable[[list[ast.expr]], ast.expr],
    ) -> ast.expr:
        """``on_null`` if any operand is null (all are evaluated in order), else ``body``."""
        test: ast.expr | None = None
        values: list[ast.expr] = []
        for code in operands:
            first, later = self.bind(code)
            values.append(later)
            if _never_null(code):
                continue
            is_null = ast.Compare(first, [ast.Is()], [_none()])
            if test is None:
                test = is_null
            elif code.simple:
                test = ast.BoolOp(ast.Or(), [test, is_null])
            else:  # evaluate it even when an earlier operand is null: it may fail
                test = ast.BinOp(test, ast.BitOr(), is_null)
        if test is None:
            return body(values)
        return ast.IfExp(test, on_null, body(values))

    # -- arithmetic over numbers ----------------------------------------------------------------

    def result(self, tree: Node, mode: Mode) -> ast.expr:
        """``tree``'s value, checked as a result (see ``_checked_result``)."""
        if _is_number_region(tree):
            return self.number_region(tree, result_of=mode).expr
        return _checked_result(self.emit(tree), mode, tree)

    def number_region(self, node: Node, result_of: Mode | None = None) -> _Code:
        """Arithmetic over fields and number literals, in three versions (see the module doc).

        The tests choosing one only read the fields, which cannot fail; and the step-by-step
        version on numbers, or numbers and nulls, computes what the other two do, in the same
        order, failures included. ``result_of``: check each version as the result in that mode
        (null, the value with a null, needs no check).
        """
        self.in_number_region = True
        step_by_step = self.emit(node)
        self.in_number_region = False
        numbers = _NumberArithmetic(self)
        fast = numbers.value(node)
        fast_expr, step_expr = fast.expr, step_by_step.expr
        if result_of is not None:
            fast_expr = _checked_number(fast, result_of, node)
            step_expr = _checked_result(step_by_step, result_of, node)
        present = [_is_not(_load(field), None) for field in numbers.kinds]
        with_a_null = numbers.with_a_null(node)
        otherwise = ast.IfExp(numbers.numbers_or_nulls(), with_a_null, step_expr)
        expr = ast.IfExp(_all([*present, *numbers.all_numbers()]), fast_expr, otherwise)
        return _Code(expr, step_by_step.kinds)

    # -- operators --------------------------------------------------------------------------------

    def unary(self, node: Unary) -> _Code:
        operand = self.emit(node.operand)
        kinds = k.unary_result(node.op, operand.kinds)
        if node.op == "NOT":
            return _Code(ast.UnaryOp(ast.Not(), self.truth(operand, "NOT", node.start)), kinds)
        at = ast.Constant(node.start)

        def negate_or_keep(values: list[ast.expr]) -> ast.expr:
            value = values[0]
            result = ast.UnaryOp(ast.USub(), value) if node.op == "-" else value
            if operand.numbers_only:
                return _folded(result)
            failure = _call("_operand_error", at, ast.Constant(f"unary {node.op}"), value)
            return ast.IfExp(_is_number(value), result, failure)

        return _Code(self.null_guarded([operand], _none(), negate_or_keep), kinds)

    def binary(self, node: Binary) -> _Code:
        if node.op in k.LOGICAL:
            return self.logical(node)
        left, right = self.emit(node.left), self.emit(node.right)
        if node.op in k.EQUALITY:
            return _Code(self.equality(node.op, left, right), k.ONLY_BOOLEAN)
        at = ast.Constant(node.op_start)
        kinds = k.binary_result(node.op, left.kinds, right.kinds)
        if node.op in k.ORDERING:
            expr = self.null_guarded(
                [left, right], ast.Constant(False), _ordering(node.op, at, left, right)
            )
        elif node.op in _HELPER_OPERATORS:
            helper = _HELPER_OPERATORS[node.op]
            expr = self.null_guarded([left, right], _none(), lambda v: _call(helper, at, *v))
        else:
            expr = self.null_guarded([left, right], _none(), _arithmetic(node.op, at, left, right))
        return _Code(expr, kinds)

    def logical(self, node: Binary) -> _Code:
        left = self.truth(self.emit(node.left), node.op, node.op_start)
        right = self.truth(self.emit(node.right), node.op, node.op_start)
        operator = ast.And() if node.op == "AND" else ast.Or()
        return _Code(ast.BoolOp(operator, [left, right]), k.ONLY_BOOLEAN)

    def truth(self, code: _Code, op: str, at: int) -> ast.expr:
        """A Python bool from a language value: true is true, false and null are false."""
        if code.kinds == k.ONLY_BOOLEAN:
            return code.expr
        if code.kinds <= _NULLABLE_BOOLEAN:
            return _is(code.expr, True)
        first, later = self.bind(code)
        failure = _call("_truth_error", ast.Constant(at), ast.Constant(op), later)
        otherwise_false = ast.BoolOp(
            ast.And(),
            [
                ast.Compare(later, [ast.IsNot()], [ast.Constant(False)]),
                ast.Compare(later, [ast.IsNot()], [_none()]),
                failure,
            ],
        )
        return ast.BoolOp(ast.Or(), [_is(first, True), otherwise_false])

    def equality(self, op: str, left: _Code, right: _Code) -> ast.expr:
        if isinstance(left.expr, ast.Constant) and isinstance(right.expr, ast.Constant):
            equal: ast.expr = ast.Constant(runtime.equals(left.expr.value, right.expr.value))
        elif isinstance(right.expr, ast.Constant):
            equal = self.equals_constant(left, _constant_value(right.expr))
        elif isinstance(left.expr, ast.Constant):
            equal = self.equals_constant(right, _constant_value(left.expr))
        elif _directly_comparable(left.kinds, right.kinds):
            equal = ast.Compare(left.expr, [ast.Eq()], [right.expr])
        else:
            equal = _call("_equals", left.expr, right.expr)
        return equal if op == "==" else _negate(equal)

    def equals_constant(self, code: _Code, constant: Value) -> ast.expr:
        """``code == constant`` specialised: null and booleans by identity, true never 1."""
        if constant is None or isinstance(constant, bool):
            return _is(code.expr, constant)
        equal = ast.Compare(code.expr, [ast.Eq()], [ast.Constant(constant)])
        if constant not in (0, 1) or k.BOOLEAN not in code.kinds:
            return equal
        first, later = self.bind(code)
        return ast.BoolOp(
            ast.And(),
            [
                ast.Compare(first, [ast.Eq()], [ast.Constant(constant)]),
                ast.Compare(_type_of(later), [ast.IsNot()], [_load("_bool")]),
            ],
        )

    # -- functions --------------------------------------------------------------------------------

    def call(self, node: Call) -> _Code:
        if node.function == "isnull":
            return self.isnull(node)
        if node.function == "IN":
            return self.contains(node)
        args = [self.emit(arg) for arg in node.args]
        kinds = k.call_result(node.function, [arg.kinds for arg in args])
        at = ast.Constant(node.start)
        exprs = [arg.expr for arg in args]
        if node.function in ("Math.max", "Math.min"):
            return _Code(_call("_extreme", at, ast.Constant(node.function), *exprs), kinds)
        if node.function in _ROUNDING_FUNCTIONS:
            return _Code(_call(_ROUNDING_FUNCTIONS[node.function], at, *exprs), kinds)
        if node.function == "Math.abs":
            return _Code(_call("_absolute", at, *exprs), kinds)
        power = self.null_guarded(args, _none(), lambda v: _call("_power", at, *v))
        return _Code(power, kinds)  # Math.pow

    def isnull(self, node: Call) -> _Code:
        value = self.emit(node.args[0])
        if len(node.args) == 1:
            return _Code(_is(value.expr, None), k.ONLY_BOOLEAN)
        if k.NULL not in value.kinds:
            return value  # the fallback would never be evaluated
        fallback = self.emit(node.args[1])
        kinds = k.call_result("isnull", [value.kinds, fallback.kinds])
        first, later = self.bind(value)
        test = ast.Compare(first, [ast.IsNot()], [_none()])
        return _Code(ast.IfExp(test, later, fallback.expr), kinds)

    def contains(self, node: Call) -> _Code:
        subject = self.emit(node.args[0])
        first, later = self.bind(subject)
        tests = []
        for index, candidate in enumerate(node.args[1:]):
            value = _Code(first if index == 0 else later, subject.kinds)
            tests.append(self.equality("==", value, self.emit(candidate)))
        expr = tests[0] if len(tests) == 1 else ast.BoolOp(ast.Or(), tests)
        return _Code(expr, k.ONLY_BOOLEAN)


def _is_number_region(node: Node) -> bool:
    """Arithmetic over fields and number literals, reading a field, with 2 to 16 operators."""
    operators, fields = 0, 0
    pending = [node]
    while pending and operators <= _NUMBER_REGION_OPERATORS_RANGE[-1]:
        current = pending.pop()
        if _is_region_operator(current):
            operators += 1
            pending.extend(_operands(current))
        elif isinstance(current, Reference):
            fields += 1
        elif not _is_number_literal(current):
            return False
    return fields > 0 and operators in _NUMBER_REGION_OPERATORS_RANGE


def _is_region_operator(node: Node) -> bool:
    if isinstance(node, Unary):
        return node.op in ("-", "+")
    return isinstance(node, Binary) and node.op in _NUMBER_REGION_OPERATORS


def _operands(node: Node) -> list[Node]:
    if isinstance(node, Unary):
        return [node.operand]
    if isinstance(node, Binary):
        return [node.left, node.right]
    return []


def _is_number_literal(node: Node) -> bool:
    return isinstance(node, Literal) and type(node.value) in runtime.NUMBER_TYPES


@dataclass(frozen=True, slots=True)
class _Number:
    """Fast-path code for a number computed from fields known to be numbers.

    ``fields``: the field variables it reads. ``floats``: when it is a float: always (None),
    or when one of the fields whose type variables it names is (never, when empty).
    ``may_fail``: whether computing it can raise (a zero divisor, ``fmod`` of an infinity, an
    int too large to mix with a float...).
    """

    expr: ast.expr
    fields: tuple[str, ...]
    floats: tuple[str, ...] | None
    may_fail: bool

    def is_float(self) -> ast.expr:
        """A test true when the value is a float (for a value not certainly a float)."""
        assert self.floats is not None
        tests: list[ast.expr] = [_is(_load(kind), "_float") for kind in self.floats]
        if not tests:
            return ast.Constant(False)
        return tests[0] if len(tests) == 1 else ast.BoolOp(ast.Or(), tests)

    @property
    def whole_constant(self) -> bool:
        """A whole-number constant that mixes with a float without failing."""
        if not (isinstance(self.expr, ast.Constant) and type(self.expr.value) is int):
            return False
        return abs(self.expr.value) < _FLOAT_LIMIT


_FLOAT_LIMIT: Final = 2**1023


class _NumberArithmetic:
    """The code of a number region when all its fields are numbers, or numbers and nulls.

    With numbers only, Python's own ``+ - * /`` and unary minus are the language's (whole
    numbers stay whole, ``/`` gives a float) and Java's ``%`` is inlined; ``/`` and ``%`` by
    zero call the step-by-step code's helpers, so they fail the same way.

    With a null among them the result is null, unless a part whose fields are all numbers
    fails first: those parts are computed, left to right, for their failures only.
    """

    def __init__(self, builder: _Builder) -> None:
        self.builder = builder
        self.kinds: dict[str, str] = {}  # field variable -> its type variable
        self.numbers: dict[int, _Number] = {}  # id(node) -> its code

    # -- the tests --------------------------------------------------------------------------

    def all_numbers(self) -> list[ast.expr]:
        """``(_k0 := _type(_v1)) is _float or _k0 is _int`` for each field read."""
        return [self.is_number(value, kind) for value, kind in self.kinds.items()]

    def numbers_or_nulls(self) -> ast.expr:
        """``(_v1 is None or (_k0 := _type(_v1)) is _float or _k0 is _int) and ...``."""
        tests = [
            ast.BoolOp(ast.Or(), [_is(_load(value), None), is_number])
            for value, is_number in zip(self.kinds, self.all_numbers(), strict=True)
        ]
        return _all(tests)

    @staticmethod
    def is_number(value: str, kind: str) -> ast.expr:
        bound = ast.NamedExpr(_store(kind), _type_of(_load(value)))
        is_float = ast.Compare(bound, [ast.Is()], [_load("_float")])
        return ast.BoolOp(ast.Or(), [is_float, _is(_load(kind), "_int")])

    # -- with a null among the fields ------------------------------------------------------

    def with_a_null(self, node: Node) -> ast.expr:
        """Null, after computing the parts of ``node`` whose fields are all numbers."""
        failures = self.parts(node)
        if not failures:
            return _none()
        return ast.BoolOp(ast.And(), [ast.Tuple(failures, ast.Load()), _none()])

    def parts(self, node: Node) -> list[ast.expr]:
        """Code computing the parts of ``node`` that may fail, for ``node`` with a null field.

        An operand reading the same fields has a null too: its own parts are looked at.
        """
        fields = set(self.numbers[id(node)].fields)
        found = []
        for operand in _operands(node):
            number = self.numbers[id(operand)]
            if not number.may_fail:
                continue
            if set(number.fields) == fields:
                found.extend(self.parts(operand))
            elif not number.fields:
                found.append(number.expr)
            else:
                present = _all([_is_not(_load(field), None) for field in number.fields])
                otherwise = self.parts(operand)
                alternative = ast.Tuple(otherwise, ast.Load()) if otherwise else _none()
                found.append(ast.IfExp(present, number.expr, alternative))
        return found

    # -- with numbers only -----------------------------------------------------------------

    def value(self, node: Node) -> _Number:
        number = self.compute(node)
        self.numbers[id(node)] = number
        return number

    def compute(self, node: Node) -> _Number:
        match node:
            case Literal():
                floats = None if type(node.value) is float else ()
                return _Number(ast.Constant(node.value), (), floats, may_fail=False)
            case Reference():
                variable = self.builder.field_variable(node.path)
                kind = self.kinds.setdefault(variable, f"_k{next(self.builder.counter)}")
                return _Number(_load(variable), (variable,), (kind,), may_fail=False)
            case Unary():
                operand = self.value(node.operand)
                if node.op == "+":
                    return operand
                negated = _folded(ast.UnaryOp(ast.USub(), operand.expr))
                return _Number(negated, operand.fields, operand.floats, operand.may_fail)
            case Binary():
                return self.binary(node)
        raise AssertionError(f"not in a number region: {node!r}")

    def binary(self, node: Binary) -> _Number:
        left, right = self.value(node.left), self.value(node.right)
        at = ast.Constant(node.op_start)
        fields = _union(left.fields, right.fields)
        operands_may_fail = left.may_fail or right.may_fail
        if node.op == "/":
            expr, may_fail = self.divide(at, left, right)
            return _Number(expr, fields, None, operands_may_fail or may_fail)
        floats = None
        if left.floats is not None and right.floats is not None:
            floats = _union(left.floats, right.floats)
        if node.op == "%":
            expr, may_fail = self.remainder(at, left, right, floats)
            return _Number(expr, fields, floats, operands_may_fail or may_fail)
        expr = _folded(ast.BinOp(left.expr, _ARITHMETIC_AST[node.op], right.expr))
        mixes_safely = floats == () or left.whole_constant or right.whole_constant
        mixes_safely = mixes_safely or (left.floats is None and right.floats is None)
        return _Number(expr, fields, floats, operands_may_fail or not mixes_safely)

    def divide(self, at: ast.expr, left: _Number, right: _Number) -> tuple[ast.expr, bool]:
        """``a / b``, or ``_divide`` (which fails) when ``b`` is zero; ``a`` evaluated first."""
        if isinstance(right.expr, ast.Constant):
            if right.expr.value:
                quotient = _folded(ast.BinOp(left.expr, ast.Div(), right.expr))
                return quotient, left.floats is not None or not right.whole_constant
            return _call("_divide", at, left.expr, right.expr), True
        builder = self.builder
        divisor_first, divisor = builder.bind(_Code(right.expr, k.ONLY_NUMBER))
        dividend_first, dividend = builder.bind(_Code(left.expr, k.ONLY_NUMBER))
        test = divisor_first
        if dividend_first is not dividend:  # bind the dividend first: it may fail first
            evaluated = _is_not(dividend_first, None)
            test = ast.BoolOp(ast.And(), [evaluated, divisor_first])
        quotient = ast.BinOp(dividend, ast.Div(), divisor)
        return ast.IfExp(test, quotient, _call("_divide", at, dividend, divisor)), True

    def remainder(
        self, at: ast.expr, left: _Number, right: _Number, floats: tuple[str, ...] | None
    ) -> tuple[ast.expr, bool]:
        """Java's ``%``: ``fmod`` on floats; on whole numbers by a constant, inline."""
        divisor = right.expr
        if not (isinstance(divisor, ast.Constant) and divisor.value):
            return _call("_remainder", at, left.expr, divisor), True
        if isinstance(left.expr, ast.Constant):
            with suppress(ArithmeticError, ValueError):  # fmod(inf): leave it to fail at run time
                folded = runtime.remainder(0, left.expr.value, divisor.value)
                return ast.Constant(folded), False
        if floats is None:
            return _call("_fmod", left.expr, divisor), True
        magnitude = ast.Constant(abs(_constant_number(divisor)))
        first, later = self.builder.bind(_Code(left.expr, k.ONLY_NUMBER))
        positive = ast.BinOp(later, ast.Mod(), magnitude)
        negative = ast.UnaryOp(
            ast.USub(), ast.BinOp(ast.UnaryOp(ast.USub(), later), ast.Mod(), magnitude)
        )
        whole = ast.IfExp(ast.Compare(first, [ast.GtE()], [ast.Constant(0)]), positive, negative)
        is_float = _Number(left.expr, (), floats, may_fail=False).is_float()
        return ast.IfExp(is_float, _call("_fmod", left.expr, divisor), whole), True


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return first + tuple(name for name in second if name not in first)


@dataclass(frozen=True, slots=True)
class _Fetch:
    """``name = source.get(key)``, or for ``key`` None a container: ``name`` as a map."""

    name: str
    source: str
    key: str | None

    def fast(self) -> ast.stmt:
        if self.key is None:
            return _assign(self.name, ast.BoolOp(ast.Or(), [_load(self.source), _load("_EMPTY")]))
        return _assign(self.name, _method_call(_load(self.source), "get", ast.Constant(self.key)))

    def safe(self) -> ast.stmt:
        if self.key is None:
            return _assign(self.name, _call("_as_map", _load(self.source)))
        return self.fast()


def _arithmetic(
    op: str, at: ast.expr, left: _Code, right: _Code
) -> Callable[[list[ast.expr]], ast.expr]:
    def body(values: list[ast.expr]) -> ast.expr:
        a, b = values
        if op == "+" and _STRINGS in (k.non_null(left.kinds), k.non_null(right.kinds)):
            return _call("_add_non_numbers", at, a, b)
        result = ast.BinOp(a, _ARITHMETIC_AST[op], b)
        checks = [_is_number(v) for v, c in ((a, left), (b, right)) if not c.numbers_only]
        if op == "/" and not (isinstance(b, ast.Constant) and b.value):
            checks.append(b)  # numbers are true unless zero
        if not checks:
            return _folded(result)
        if op == "+":
            fallback = _call("_add_non_numbers", at, a, b)
        elif op == "/":
            fallback = _call("_divide", at, a, b)
        else:
            fallback = _call("_arithmetic_error", at, ast.Constant(op), a, b)
        return ast.IfExp(_all(checks), result, fallback)

    return body


def _ordering(
    op: str, at: ast.expr, left: _Code, right: _Code
) -> Callable[[list[ast.expr]], ast.expr]:
    def body(values: list[ast.expr]) -> ast.expr:
        a, b = values
        result = ast.Compare(a, [_COMPARE_AST[op]], [b])
        if left.numbers_only and right.numbers_only:
            return result
        if k.non_null(left.kinds) == _STRINGS and k.non_null(right.kinds) == _STRINGS:
            return result
        if left.numbers_only or right.numbers_only:
            check = _all([_is_number(v) for v, c in ((a, left), (b, right)) if not c.numbers_only])
        elif _STRINGS in (k.non_null(left.kinds), k.non_null(right.kinds)):
            check = _all([_is_string(v) for v in (a, b)])
        else:
            pair = ast.Tuple([_type_of(a), _type_of(b)], ast.Load())
            check = ast.Compare(pair, [ast.In()], [_load("_ORD")])
        failure = _call("_order_error", at, ast.Constant(op), a, b)
        return ast.IfExp(check, result, failure)

    return body


def _folded(operation: ast.expr) -> ast.expr:
    """Number arithmetic on constants, computed now (Python would warn on ``5 is None``)."""
    if isinstance(operation, ast.UnaryOp) and isinstance(operation.operand, ast.Constant):
        return ast.Constant(_negative(operation.operand.value))
    if not isinstance(operation, ast.BinOp):
        return operation
    left, right = operation.left, operation.right
    if not (isinstance(left, ast.Constant) and isinstance(right, ast.Constant)):
        return operation
    try:
        return ast.Constant(_FOLDERS[type(operation.op)](left.value, right.value))
    except (ArithmeticError, ValueError):  # e.g. an int too large for a float: leave it to run
        return operation


def _negative(number: Any) -> Any:
    return -number


def _never_null(code: _Code) -> bool:
    """A constant other than null, or a bound value whose kinds exclude null."""
    if isinstance(code.expr, ast.Constant):
        return code.expr.value is not None
    return code.simple and k.NULL not in code.kinds


def _directly_comparable(left: k.Kinds, right: k.Kinds) -> bool:
    """Whether Python ``==`` already means language equality for these operands."""
    nullable = frozenset({k.NULL})
    return any(
        left <= frozenset({kind}) | nullable and right <= frozenset({kind}) | nullable
        for kind in (k.NUMBER, k.STRING, k.BOOLEAN)
    )


def _constant_value(constant: ast.Constant) -> Value:
    value = constant.value
    assert value is None or isinstance(value, bool | int | float | str)
    return value


def _constant_number(constant: ast.Constant) -> int | float:
    value = constant.value
    assert isinstance(value, int | float)
    return value


def _negate(expr: ast.expr) -> ast.expr:
    if isinstance(expr, ast.Compare) and type(expr.ops[0]) in _NEGATED_COMPARE:
        return ast.Compare(expr.left, [_NEGATED_COMPARE[type(expr.ops[0])]], expr.comparators)
    return ast.UnaryOp(ast.Not(), expr)


# -- small AST builders ---------------------------------------------------------------------------


def _load(name: str) -> ast.Name:
    return ast.Name(name, ast.Load())


def _store(name: str) -> ast.Name:
    return ast.Name(name, ast.Store())


def _assign(name: str, value: ast.expr) -> ast.Assign:
    return ast.Assign(targets=[_store(name)], value=value)


def _none() -> ast.Constant:
    return ast.Constant(None)


def _call(helper: str, *args: ast.expr) -> ast.Call:
    return ast.Call(_load(helper), list(args), [])


def _method_call(target: ast.expr, method: str, *args: ast.expr) -> ast.Call:
    return ast.Call(ast.Attribute(target, method, ast.Load()), list(args), [])


def _type_of(value: ast.expr) -> ast.Call:
    return _call("_type", value)


def _is(value: ast.expr, constant: bool | str | None) -> ast.expr:
    """``value is constant`` (a helper's name for a str), decided now for a constant value."""
    if isinstance(constant, str):
        return ast.Compare(value, [ast.Is()], [_load(constant)])
    if isinstance(value, ast.Constant):
        return ast.Constant(value.value is constant)
    return ast.Compare(value, [ast.Is()], [ast.Constant(constant)])


def _is_not(value: ast.expr, constant: None) -> ast.Compare:
    return ast.Compare(value, [ast.IsNot()], [ast.Constant(constant)])


def _is_number(value: ast.expr) -> ast.expr:
    """``(_k := type(value)) is float or _k is int`` (faster than a set lookup; excludes bool).

    ``value`` is always a constant or a bound variable, so one shared ``_k`` suffices.
    """
    kind = ast.NamedExpr(_store("_k"), _type_of(value))
    return ast.BoolOp(
        ast.Or(),
        [
            ast.Compare(kind, [ast.Is()], [_load("_float")]),
            ast.Compare(_load("_k"), [ast.Is()], [_load("_int")]),
        ],
    )


def _is_string(value: ast.expr) -> ast.Compare:
    return ast.Compare(_type_of(value), [ast.Is()], [_load("_str")])


def _all(checks: Sequence[ast.expr]) -> ast.expr:
    return checks[0] if len(checks) == 1 else ast.BoolOp(ast.And(), list(checks))
