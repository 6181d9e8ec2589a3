"""The syntax tree of a parsed calculation.

Every node records the source offsets it covers (``start`` inclusive, ``end`` exclusive) so
errors can point at it, and its ``depth`` (1 for a leaf) so the parser can bound nesting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Value = None | bool | int | float | str
"""A value a literal can hold."""


@dataclass(frozen=True, slots=True)
class Literal:
    value: Value
    start: int
    end: int
    depth: int = 1


@dataclass(frozen=True, slots=True)
class Reference:
    """A field path such as ``new.amount`` or a bare data field name such as ``memoryMb``."""

    path: tuple[str, ...]
    start: int
    end: int
    depth: int = 1

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Unary:
    """``-x``, ``+x`` or ``NOT x`` (``op`` is ``"-"``, ``"+"`` or ``"NOT"``)."""

    op: str
    operand: Node
    start: int
    end: int
    depth: int


@dataclass(frozen=True, slots=True)
class Binary:
    """An infix operation; ``op`` is canonical (``&&`` is stored as ``AND``, ``||`` as ``OR``)."""

    op: str
    left: Node
    right: Node
    op_start: int
    start: int
    end: int
    depth: int


@dataclass(frozen=True, slots=True)
class Ternary:
    condition: Node
    then: Node
    otherwise: Node
    start: int
    end: int
    depth: int


@dataclass(frozen=True, slots=True)
class Call:
    """A call of a known function (the parser rejects unknown names and wrong arities)."""

    function: str
    args: tuple[Node, ...]
    start: int
    end: int
    depth: int


Node = Literal | Reference | Unary | Binary | Ternary | Call


@dataclass(frozen=True, slots=True)
class Arity:
    """How many arguments a function takes (``most`` is None for "any number")."""

    least: int
    most: int | None

    def accepts(self, count: int) -> bool:
        return count >= self.least and (self.most is None or count <= self.most)

    def describe(self) -> str:
        if self.most is None:
            return f"at least {self.least} arguments"
        if self.least == self.most:
            return f"exactly {self.least} argument{'s' if self.least != 1 else ''}"
        return f"{self.least} or {self.most} arguments"


FUNCTIONS: dict[str, Arity] = {
    "Math.max": Arity(2, None),
    "Math.min": Arity(2, None),
    "Math.floor": Arity(1, 2),
    "Math.ceil": Arity(1, 2),
    "Math.round": Arity(1, 2),
    "Math.pow": Arity(2, 2),
    "Math.abs": Arity(1, 1),
    "isnull": Arity(1, 2),
    "IN": Arity(2, None),
}
"""Every function of the language, by the exact (case-sensitive) name used to call it."""

TS_FMT = "yyyy-MM-dd'T'HH:mm:ss.SSSX"

CONSTANTS: dict[str, Value] = {"Math.PI": math.pi, "DateTime.TS_FMT": TS_FMT}
"""Named constants; their first segment (``Math``, ``DateTime``) is reserved."""

RESERVED_ROOTS = frozenset({"Math", "DateTime"})


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of ``node``, left to right."""
    match node:
        case Unary():
            return (node.operand,)
        case Binary():
            return (node.left, node.right)
        case Ternary():
            return (node.condition, node.then, node.otherwise)
        case Call():
            return node.args
        case _:
            return ()


def references(node: Node) -> frozenset[str]:
    """Every field path the tree reads, dotted (``"new.amount"``)."""
    found: set[str] = set()
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, Reference):
            found.add(current.dotted)
        pending.extend(children(current))
    return frozenset(found)
