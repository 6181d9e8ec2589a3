"""A small, obviously-correct tree-walking interpreter of the calculation language.

It works on its own tuple trees (not the package's parser output), written straight from the
documented rules in docs/calculations.md, with exact rational arithmetic for the rounding
functions. The property tests compare the compiled evaluator against it, and ``to_text`` prints
its trees as calculation text with either minimal or full parentheses.

Trees::

    ("num", 5) ("str", "a") ("bool", True) ("null",) ("ref", ("new", "amount"))
    ("neg", x) ("pos", x) ("not", x) ("bin", op, left, right) ("tern", c, a, b)
    ("call", name, (args...))
"""

from __future__ import annotations

import math
import operator
from fractions import Fraction
from typing import Any

Tree = tuple[Any, ...]

MAX_SCALE = 400

_ORDERINGS = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}


class Failure(Exception):
    """The reference's evaluation error."""


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def evaluate(tree: Tree, context: dict[str, Any], mode: str) -> Any:
    """The value of ``tree``; raises Failure where evaluation must fail."""
    try:
        result = _eval(tree, context)
    except (OverflowError, ZeroDivisionError, ValueError) as error:
        raise Failure(str(error)) from error
    if mode == "boolean" and not (result is True or result is False or result is None):
        raise Failure("a rule must give true, false or null")
    if mode == "value" and isinstance(result, float) and not math.isfinite(result):
        raise Failure("not finite")
    return result


def truth(value: object) -> bool:
    if value is True:
        return True
    if value is False or value is None:
        return False
    raise Failure("not a boolean")


def equal(left: object, right: object) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if left is None or right is None:
        return left is None and right is None
    if is_number(left) and is_number(right):
        return left == right
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return set(left) == set(right) and all(equal(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(
            equal(a, b) for a, b in zip(left, right, strict=True)
        )
    return False


def _eval(tree: Tree, context: dict[str, Any]) -> Any:
    tag = tree[0]
    if tag in ("num", "str", "bool"):
        return tree[1]
    if tag == "null":
        return None
    if tag == "ref":
        value: Any = context
        for key in tree[1]:
            value = value.get(key) if isinstance(value, dict) else None
        return value
    if tag in ("neg", "pos"):
        operand = _eval(tree[1], context)
        if operand is None:
            return None
        if not is_number(operand):
            raise Failure("unary needs a number")
        return -operand if tag == "neg" else operand
    if tag == "not":
        return not truth(_eval(tree[1], context))
    if tag == "tern":
        branch = tree[2] if truth(_eval(tree[1], context)) else tree[3]
        return _eval(branch, context)
    if tag == "bin":
        return _binary(tree[1], tree[2], tree[3], context)
    return _call(tree[1], tree[2], context)


def _binary(op: str, left_tree: Tree, right_tree: Tree, context: dict[str, Any]) -> Any:
    if op == "AND":
        return truth(_eval(left_tree, context)) and truth(_eval(right_tree, context))
    if op == "OR":
        return truth(_eval(left_tree, context)) or truth(_eval(right_tree, context))
    left, right = _eval(left_tree, context), _eval(right_tree, context)
    if op == "==":
        return equal(left, right)
    if op == "!=":
        return not equal(left, right)
    if op in ("<", ">", "<=", ">="):
        return _compare(op, left, right)
    if left is None or right is None:
        return None
    if op == "+":
        return _plus(left, right)
    if not (is_number(left) and is_number(right)):
        raise Failure("arithmetic needs numbers")
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        if right == 0:
            raise Failure("division by zero")
        return left / right
    if op == "%":
        return _java_remainder(left, right)
    return _power(left, right)


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    both_numbers = is_number(left) and is_number(right)
    both_strings = isinstance(left, str) and isinstance(right, str)
    if not (both_numbers or both_strings):
        raise Failure("cannot order")
    return bool(_ORDERINGS[op](left, right))


def text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    raise Failure("cannot join")


def _plus(left: Any, right: Any) -> Any:
    if is_number(left) and is_number(right):
        return left + right
    if isinstance(left, str) or isinstance(right, str):
        return text(left) + text(right)
    raise Failure("cannot add")


def _java_remainder(left: Any, right: Any) -> Any:
    if right == 0:
        raise Failure("remainder by zero")
    if isinstance(left, float) or isinstance(right, float):
        left, right = float(left), float(right)  # mixed arithmetic works on decimals
    if isinstance(right, float) and math.isinf(right) and math.isfinite(left):
        return left  # Java: a finite x % ±Infinity is x
    exact = Fraction(left) - Fraction(right) * math.trunc(Fraction(left) / Fraction(right))
    if isinstance(left, int) and isinstance(right, int):
        return int(exact)
    return float(exact)


def _power(base: Any, exponent: Any) -> Any:
    if isinstance(base, int) and isinstance(exponent, int) and exponent >= 0:
        if base in (-1, 0, 1) or base.bit_length() * exponent < 1024:
            return base**exponent
        raise Failure("too large")
    if base == 0 and exponent < 0:
        raise Failure("zero to a negative power")
    result = float(base) ** float(exponent)
    if isinstance(result, complex):
        raise Failure("not real")
    return result


def _call(name: str, arg_trees: tuple[Tree, ...], context: dict[str, Any]) -> Any:
    if name == "isnull":
        first = _eval(arg_trees[0], context)
        if len(arg_trees) == 1:
            return first is None
        return first if first is not None else _eval(arg_trees[1], context)
    if name == "IN":
        subject = _eval(arg_trees[0], context)
        return any(equal(subject, _eval(tree, context)) for tree in arg_trees[1:])
    args = [_eval(tree, context) for tree in arg_trees]
    if name == "Math.pow":
        return None if None in args else _power(*_numbers(args))
    if any(arg is None for arg in args):
        return None
    numbers = _numbers(args)
    if name == "Math.abs":
        return abs(numbers[0])
    if name in ("Math.max", "Math.min"):
        best = numbers[0]
        for number in numbers[1:]:
            if (number > best) if name == "Math.max" else (number < best):
                best = number
        return best
    return _rescale(name, numbers[0], numbers[1] if len(numbers) > 1 else 0)


def _numbers(args: list[Any]) -> list[Any]:
    if not all(is_number(arg) for arg in args):
        raise Failure("needs numbers")
    return args


def _rescale(name: str, value: Any, scale: Any) -> Any:
    if isinstance(scale, float) and scale.is_integer():
        scale = int(scale)
    if not isinstance(scale, int) or abs(scale) > MAX_SCALE:
        raise Failure("bad scale")
    if isinstance(value, int) and scale >= 0:
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise Failure("not finite")
    exact = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
    scaled = exact * Fraction(10) ** scale
    if name == "Math.floor":
        whole = math.floor(scaled)
    elif name == "Math.ceil":
        whole = math.ceil(scaled)
    else:  # Java Math.round: halves go toward positive infinity
        whole = math.floor(scaled + Fraction(1, 2))
    result = Fraction(whole) / Fraction(10) ** scale
    return int(result) if scale <= 0 else float(result)


# -- printing -------------------------------------------------------------------------------------

_PRECEDENCE = {
    "OR": 1,
    "AND": 2,
    "==": 3,
    "!=": 3,
    "<": 4,
    ">": 4,
    "<=": 4,
    ">=": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
    "^": 7,
}
_UNARY = 8
_PRIMARY = 9


def to_text(tree: Tree, *, full_parentheses: bool = False) -> str:
    """Calculation text for ``tree``: minimal parentheses by precedence, or all of them."""
    return _print(tree, full_parentheses)[0]


def _print(tree: Tree, full: bool) -> tuple[str, int]:
    tag = tree[0]
    if tag == "num":
        return (str(tree[1]) if isinstance(tree[1], int) else repr(tree[1])), _PRIMARY
    if tag == "str":
        escaped = tree[1].replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"', _PRIMARY
    if tag == "bool":
        return ("true" if tree[1] else "false"), _PRIMARY
    if tag == "null":
        return "null", _PRIMARY
    if tag == "ref":
        return ".".join(tree[1]), _PRIMARY
    if tag in ("neg", "pos", "not"):
        symbol = {"neg": "-", "pos": "+", "not": "NOT "}[tag]
        return f"{symbol}{_wrap(tree[1], _UNARY, full)}", _UNARY
    if tag == "tern":
        condition = _wrap(tree[1], 1, full)
        then, otherwise = _wrap(tree[2], 0, full), _wrap(tree[3], 0, full)
        return f"{condition} ? {then} : {otherwise}", 0
    if tag == "bin":
        op, precedence = tree[1], _PRECEDENCE[tree[1]]
        right_associative = op == "^"
        left = _wrap(tree[2], precedence + (1 if right_associative else 0), full)
        right = _wrap(tree[3], precedence + (0 if right_associative else 1), full)
        return f"{left} {op} {right}", precedence
    args = ", ".join(_print(arg, full)[0] for arg in tree[2])
    return f"{tree[1]}({args})", _PRIMARY


def _wrap(tree: Tree, least: int, full: bool) -> str:
    """The text of ``tree``, parenthesised when its precedence is below ``least``."""
    text_, precedence = _print(tree, full)
    needs = precedence < least or (full and precedence < _PRIMARY)
    return f"({text_})" if needs else text_
