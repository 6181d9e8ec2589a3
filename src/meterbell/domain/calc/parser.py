"""Recursive-descent (precedence-climbing) parser producing the tree in ``nodes``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

from meterbell.domain.calc.errors import CalcSyntaxError, did_you_mean
from meterbell.domain.calc.lexer import Token, tokenize
from meterbell.domain.calc.nodes import (
    CONSTANTS,
    FUNCTIONS,
    RESERVED_ROOTS,
    Binary,
    Call,
    Literal,
    Node,
    Reference,
    Ternary,
    Unary,
)

MAX_LENGTH = 5000
"""Longest accepted calculation, in characters."""

MAX_DEPTH = 64
"""Deepest accepted nesting: tree depth, and parentheses/calls/unary operators open at once."""

_WORD_OPERATORS = {"or": "OR", "and": "AND"}
_SYMBOL_OPERATORS = {"||": "OR", "&&": "AND"}
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
_RIGHT_ASSOCIATIVE = frozenset({"^"})
_T = TypeVar("_T")
_N = TypeVar("_N", Literal, Reference, Unary, Binary, Ternary, Call)

_LITERAL_WORDS: dict[str, bool | None] = {"true": True, "false": False, "null": None}


def parse(source: str) -> Node:
    """Parse a whole calculation; raise CalcSyntaxError with the place of the first problem."""
    if len(source) > MAX_LENGTH:
        raise CalcSyntaxError(
            f"the calculation is {len(source)} characters long; the limit is {MAX_LENGTH}",
            source=source,
            start=MAX_LENGTH,
        )
    if not source.strip():
        raise CalcSyntaxError("the calculation is empty", source=source, start=0)
    return _Parser(source).parse_all()


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.index = 0
        self.open = 0

    # -- entry points -------------------------------------------------------------------------

    def parse_all(self) -> Node:
        node = self.expression()
        token = self.peek()
        if token.kind != "end":
            raise self.error(
                f"unexpected {_describe(token)}; expected an operator or the end", token
            )
        return node

    def expression(self) -> Node:
        """ternary := binary ('?' expression ':' expression)?"""
        condition = self.binary(1)
        if not self.at_op("?"):
            return condition
        self.advance()
        then = self.nested(self.expression)
        self.expect(":", "to separate the two results of '?'")
        otherwise = self.nested(self.expression)
        return self.checked(
            Ternary(
                condition,
                then,
                otherwise,
                condition.start,
                otherwise.end,
                _depth(condition, then, otherwise),
            )
        )

    def binary(self, min_precedence: int) -> Node:
        left = self.unary()
        while True:
            token = self.peek()
            op = _binary_operator(token)
            if op is None or _PRECEDENCE[op] < min_precedence:
                return left
            self.advance()
            next_min = _PRECEDENCE[op] + (0 if op in _RIGHT_ASSOCIATIVE else 1)
            right = self.nested(partial(self.binary, next_min))
            left = self.checked(
                Binary(op, left, right, token.start, left.start, right.end, _depth(left, right))
            )

    def unary(self) -> Node:
        token = self.peek()
        op = _unary_operator(token)
        if op is None:
            return self.primary()
        self.advance()
        operand = self.nested(self.unary)
        return self.checked(Unary(op, operand, token.start, operand.end, _depth(operand)))

    def primary(self) -> Node:
        token = self.peek()
        if token.kind in ("number", "string"):
            self.advance()
            return Literal(token.value, token.start, token.end)
        if token.kind == "name":
            return self.name_expression()
        if self.at_op("("):
            self.advance()
            inner = self.nested(self.expression)
            self.expect(")", "to close '('")
            return inner
        raise self.error(f"expected a value but found {_describe(token)}", token)

    # -- names: literals, references, constants and calls ------------------------------------

    def name_expression(self) -> Node:
        first = self.peek()
        if first.text in _LITERAL_WORDS:
            self.advance()
            return Literal(_LITERAL_WORDS[first.text], first.start, first.end)
        if first.text.lower() in _WORD_OPERATORS:
            raise self.error(f"expected a value but found {_describe(first)}", first)
        path, end = self.path()
        if self.at_op("("):
            return self.call(".".join(path), first)
        if path[0] in RESERVED_ROOTS:
            return self.constant(".".join(path), first.start, end)
        return Reference(path, first.start, end)

    def path(self) -> tuple[tuple[str, ...], int]:
        names = [self.advance().text]
        end = self.tokens[self.index - 1].end
        while self.at_op("."):
            self.advance()
            token = self.peek()
            if token.kind != "name":
                raise self.error(f"expected a field name after '.' but found {_describe(token)}")
            names.append(self.advance().text)
            end = token.end
        return tuple(names), end

    def constant(self, name: str, start: int, end: int) -> Literal:
        if name in CONSTANTS:
            return Literal(CONSTANTS[name], start, end)
        raise CalcSyntaxError(
            f"unknown constant {name}{did_you_mean(name, CONSTANTS)}",
            source=self.source,
            start=start,
            end=end,
        )

    def call(self, name: str, first: Token) -> Call:
        name_end = self.tokens[self.index - 1].end
        if name not in FUNCTIONS:
            raise CalcSyntaxError(
                f"unknown function {name}{did_you_mean(name, FUNCTIONS)}",
                source=self.source,
                start=first.start,
                end=name_end,
            )
        self.advance()  # '('
        args = self.arguments()
        closing = self.expect(")", f"to close the arguments of {name}")
        arity = FUNCTIONS[name]
        if not arity.accepts(len(args)):
            raise CalcSyntaxError(
                f"{name} takes {arity.describe()}, but {len(args)} "
                f"{'was' if len(args) == 1 else 'were'} given",
                source=self.source,
                start=first.start,
                end=name_end,
            )
        return self.checked(Call(name, args, first.start, closing.end, _depth(*args)))

    def arguments(self) -> tuple[Node, ...]:
        if self.at_op(")"):
            return ()
        args = [self.nested(self.expression)]
        while self.at_op(","):
            self.advance()
            args.append(self.nested(self.expression))
        return tuple(args)

    # -- helpers ------------------------------------------------------------------------------

    def nested(self, parse_part: Callable[[], _T]) -> _T:
        """Parse a part one nesting level down, refusing to go deeper than MAX_DEPTH."""
        self.open += 1
        if self.open > MAX_DEPTH:
            raise self.error(_too_deep())
        try:
            return parse_part()
        finally:
            self.open -= 1

    def checked(self, node: _N) -> _N:
        if node.depth <= MAX_DEPTH:
            return node
        start = node.op_start if isinstance(node, Binary) else node.start
        raise CalcSyntaxError(_too_deep(), source=self.source, start=start, end=start + 1)

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at_op(self, text: str) -> bool:
        token = self.tokens[self.index]
        return token.kind == "op" and token.text == text

    def expect(self, text: str, purpose: str) -> Token:
        if not self.at_op(text):
            token = self.peek()
            raise self.error(f"expected '{text}' {purpose} but found {_describe(token)}", token)
        return self.advance()

    def error(self, message: str, token: Token | None = None) -> CalcSyntaxError:
        at = token or self.peek()
        return CalcSyntaxError(message, source=self.source, start=at.start, end=at.end)


def _binary_operator(token: Token) -> str | None:
    if token.kind == "op":
        if token.text in _SYMBOL_OPERATORS:
            return _SYMBOL_OPERATORS[token.text]
        return token.text if token.text in _PRECEDENCE else None
    if token.kind == "name":
        return _WORD_OPERATORS.get(token.text.lower())
    return None


def _unary_operator(token: Token) -> str | None:
    if token.kind == "op" and token.text in ("-", "+", "!"):
        return "NOT" if token.text == "!" else token.text
    if token.kind == "name" and token.text.lower() == "not":
        return "NOT"
    return None


def _depth(*children: Node) -> int:
    return 1 + max((child.depth for child in children), default=0)


def _too_deep() -> str:
    return f"the calculation is nested too deeply (more than {MAX_DEPTH} levels)"


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "the end of the calculation"
    text = token.text if len(token.text) <= 30 else token.text[:27] + "..."
    return f"'{text}'"
