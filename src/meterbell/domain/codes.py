"""m3ter's `code` rule, translated from its Java regex (see reference/m3ter-api.md §1.9).

A code has no leading or trailing whitespace, no control characters and no whitespace inside
other than plain spaces; at most 80 characters.
"""

from __future__ import annotations

import unicodedata

MAX_CODE_LENGTH = 80


def _is_visible(char: str) -> bool:
    return not char.isspace() and unicodedata.category(char) != "Cc"


def code_problem(code: str) -> str | None:
    """Why `code` breaks the rule, or None when it is a valid code."""
    if not code:
        return "must not be empty"
    if len(code) > MAX_CODE_LENGTH:
        return f"must be at most {MAX_CODE_LENGTH} characters (got {len(code)})"
    if not (_is_visible(code[0]) and _is_visible(code[-1])):
        return "must not start or end with whitespace"
    if any(not (_is_visible(c) or c == " ") for c in code):
        return "must not contain control characters, tabs or line breaks"
    return None
