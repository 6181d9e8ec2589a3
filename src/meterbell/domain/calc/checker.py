"""Compile-time checks: unknown fields and type errors that are certain.

Without a field-type map every field may hold any kind, so only literals can make an error
certain (``"abc" * 2``). With a map (``{"new.amount": "double", ...}``) fields get kinds too.
A field that is declared may still be missing from an event, so null is always possible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal as Kind

from meterbell.domain.calc import kinds as k
from meterbell.domain.calc.errors import CalcTypeError, did_you_mean
from meterbell.domain.calc.nodes import Binary, Call, Literal, Node, Reference, Ternary, Unary

Mode = Kind["boolean", "value"]

_NEEDS = {
    "number": "numbers",
    "+": "numbers or strings",
    "ordering": "two numbers or two strings",
    "boolean": "true/false values",
}
_SUBJECTS = {"-x": "unary -", "+x": "unary +", "?": "the condition of '?'"}
_VERBS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "take the remainder of"}


def check(tree: Node, source: str, mode: Mode, fields: Mapping[str, str] | None) -> k.Kinds:
    """Raise CalcTypeError for the first certain mistake; return the kinds the result may have."""
    checker = _Checker(source, fields)
    result = checker.kinds(tree)
    if mode == "boolean" and k.certainly_invalid_operand("?", result):
        raise checker.error(
            f"a rule must give true or false, but this calculation gives {k.describe(result)}",
            tree,
        )
    return result


class _Checker:
    def __init__(self, source: str, fields: Mapping[str, str] | None) -> None:
        self.source = source
        self.fields = fields

    def kinds(self, node: Node) -> k.Kinds:
        match node:
            case Literal():
                return frozenset({k.of_value(node.value)})
            case Reference():
                return self.field_kinds(node)
            case Unary():
                return self.unary(node)
            case Binary():
                return self.binary(node)
            case Ternary():
                self.require("?", node.condition, "boolean")
                return self.kinds(node.then) | self.kinds(node.otherwise)
            case Call():
                return self.call(node)

    # -- operators ------------------------------------------------------------------------------

    def unary(self, node: Unary) -> k.Kinds:
        op = "NOT" if node.op == "NOT" else node.op + "x"
        operand = self.require(op, node.operand, "boolean" if node.op == "NOT" else "number")
        return k.unary_result(node.op, operand)

    def binary(self, node: Binary) -> k.Kinds:
        need = _need_of(node.op)
        left = self.require(node.op, node.left, need)
        right = self.require(node.op, node.right, need)
        if k.certainly_invalid_pair(node.op, left, right):
            raise self.error(self.pair_message(node, left, right), node)
        return k.binary_result(node.op, left, right)

    def call(self, node: Call) -> k.Kinds:
        if node.function in k.NUMERIC_FUNCTIONS:
            args = [self.require(node.function, arg, "number") for arg in node.args]
        else:
            args = [self.kinds(arg) for arg in node.args]
        return k.call_result(node.function, args)

    def require(self, op: str, operand: Node, need: str | None) -> k.Kinds:
        """The operand's kinds, after checking ``op`` can accept at least one of them."""
        kinds = self.kinds(operand)
        if need is not None and k.certainly_invalid_operand(op, kinds):
            subject = _SUBJECTS.get(op, op)
            raise self.error(
                f"{subject} needs {_NEEDS[need]}, but {self.phrase(operand, kinds)}", operand
            )
        return kinds

    def pair_message(self, node: Binary, left: k.Kinds, right: k.Kinds) -> str:
        both = f"{self.phrase(node.left, left)} and {self.phrase(node.right, right)}"
        if node.op in k.ORDERING:
            return f"{node.op} compares two numbers or two strings, but {both}"
        return f"cannot {_VERBS.get(node.op, 'combine with ' + node.op)} these values: {both}"

    def phrase(self, operand: Node, kinds: k.Kinds) -> str:
        """``new.currency is a string`` / ``"abc" is a string`` for messages."""
        text = " ".join(self.source[operand.start : operand.end].split())
        if len(text) > 40:
            text = text[:37] + "..."
        if isinstance(operand, Reference) and self.fields is not None:
            declared = self.declared_type(operand.dotted)
            if declared is not None:
                return f"{text} is {k.with_article(declared)}"
        return f"{text} is {k.describe(kinds)}"

    # -- fields ---------------------------------------------------------------------------------

    def field_kinds(self, node: Reference) -> k.Kinds:
        if self.fields is None:
            return k.ANY
        path = node.dotted
        declared = self.declared_type(path)
        if declared is not None:
            return k.FIELD_TYPE_KINDS.get(declared, k.ANY)
        parent = self.nearest_declared_parent(node.path)
        if parent is None:
            raise self.error(self.unknown_field_message(path), node)
        parent_path, parent_type = parent
        if parent_type == "map" or parent_type not in k.FIELD_TYPE_KINDS:
            return k.ANY
        child = path[len(parent_path) + 1 :]
        raise self.error(
            f"{parent_path} is {k.with_article(parent_type)}, so it has no field {child}", node
        )

    def declared_type(self, path: str) -> str | None:
        assert self.fields is not None
        return self.fields.get(path)

    def nearest_declared_parent(self, path: tuple[str, ...]) -> tuple[str, str] | None:
        for length in range(len(path) - 1, 0, -1):
            prefix = ".".join(path[:length])
            declared = self.declared_type(prefix)
            if declared is not None:
                return prefix, declared
        return None

    def unknown_field_message(self, path: str) -> str:
        assert self.fields is not None
        roots = {name.split(".", 1)[0] for name in self.fields}
        root, _, rest = path.partition(".")
        if root == "old" and "old" not in roots and "new" in roots:
            hint = did_you_mean(f"new.{rest}", self.fields)
            return f"old.* fields do not exist on a created event{hint}"
        if root == "new" and "new" not in roots and "old" in roots:
            hint = did_you_mean(f"old.{rest}", self.fields)
            return f"new.* fields do not exist on a deleted event{hint}"
        return f"unknown field {path}{did_you_mean(path, self.fields)}"

    def error(self, message: str, node: Node) -> CalcTypeError:
        return CalcTypeError(message, source=self.source, start=node.start, end=node.end)


def _need_of(op: str) -> str | None:
    if op in k.ARITHMETIC:
        return "number"
    if op == "+":
        return "+"
    if op in k.ORDERING:
        return "ordering"
    if op in k.LOGICAL:
        return "boolean"
    return None
