"""Turn calculation text into tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal as Kind

from meterbell.domain.calc.errors import CalcSyntaxError
from meterbell.domain.calc.nodes import Value

TokenKind = Kind["number", "string", "name", "op", "end"]

MAX_INT_DIGITS = 4000
"""Longest whole-number literal accepted (Python refuses to parse much longer ones)."""

_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_OPERATORS = ("==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "+", "-", "*", "/", "%", "^")
_PUNCTUATION = frozenset("(),?:.")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n"}
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$")
_MISTAKES = {
    "=": "use == to compare",
    "&": "use AND (or &&)",
    "|": "use OR (or ||)",
    "'": 'strings are written in double quotes: "text"',
}


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    value: Value
    start: int
    end: int


def tokenize(source: str) -> list[Token]:
    """Split ``source`` into tokens ending with an ``end`` token; raise CalcSyntaxError."""
    tokens: list[Token] = []
    position = 0
    while True:
        position = _skip_whitespace(source, position)
        if position == len(source):
            tokens.append(Token("end", "", None, position, position))
            return tokens
        token = _read_token(source, position)
        tokens.append(token)
        position = token.end


def _skip_whitespace(source: str, position: int) -> int:
    while position < len(source) and source[position].isspace():
        position += 1
    return position


def _read_token(source: str, position: int) -> Token:
    char = source[position]
    if char.isdigit() and char.isascii():
        return _read_number(source, position)
    if char == '"':
        return _read_string(source, position)
    name = _NAME.match(source, position)
    if name:
        return Token("name", name.group(), None, position, name.end())
    for operator in _OPERATORS:
        if source.startswith(operator, position):
            return Token("op", operator, None, position, position + len(operator))
    if char in _PUNCTUATION:
        return Token("op", char, None, position, position + 1)
    hint = _MISTAKES.get(char)
    message = f"unexpected character {char!r}" + (f"; {hint}" if hint else "")
    raise CalcSyntaxError(message, source=source, start=position)


def _read_number(source: str, position: int) -> Token:
    match = _NUMBER.match(source, position)
    assert match is not None  # the caller saw a digit
    end = match.end()
    if end < len(source) and (source[end] in _NAME_CHARS or source[end] == "."):
        bad_end = _NAME.match(source, end)
        raise CalcSyntaxError(
            f"malformed number {source[position : bad_end.end() if bad_end else end + 1]!r}",
            source=source,
            start=position,
            end=bad_end.end() if bad_end else end + 1,
        )
    text = match.group()
    return Token("number", text, _number_value(text, source, position, end), position, end)


def _number_value(text: str, source: str, start: int, end: int) -> int | float:
    if text.isdigit():
        if len(text) > MAX_INT_DIGITS:
            raise CalcSyntaxError(
                f"number is too long (more than {MAX_INT_DIGITS} digits)",
                source=source,
                start=start,
                end=end,
            )
        return int(text)
    value = float(text)
    if value == float("inf"):
        raise CalcSyntaxError("number is too large", source=source, start=start, end=end)
    return value


def _read_string(source: str, position: int) -> Token:
    chars: list[str] = []
    index = position + 1
    while index < len(source):
        char = source[index]
        if char == '"':
            text = source[position : index + 1]
            return Token("string", text, "".join(chars), position, index + 1)
        if char == "\n":
            break
        if char == "\\":
            if source[index + 1 : index + 2] in ("", "\n"):
                break
            chars.append(_escape(source, index))
            index += 2
            continue
        chars.append(char)
        index += 1
    raise CalcSyntaxError(
        "unterminated string (a string must close on the line it opens; write \\n for a newline)",
        source=source,
        start=position,
    )


def _escape(source: str, backslash: int) -> str:
    code = source[backslash + 1 : backslash + 2]
    if code in _ESCAPES:
        return _ESCAPES[code]
    raise CalcSyntaxError(
        f'unknown escape \\{code} in a string; only \\", \\\\ and \\n are allowed',
        source=source,
        start=backslash,
        end=backslash + 2,
    )
