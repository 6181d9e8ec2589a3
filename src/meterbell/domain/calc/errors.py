"""Errors of the calculation language, each able to point at the text it is about."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

SNIPPET_WIDTH = 100
"""Longest stretch of a source line shown in a caret snippet."""


class CalcError(Exception):
    """Base of every calculation error: a message and, where known, a place in the source."""

    def __init__(
        self, message: str, *, source: str | None = None, start: int | None = None, end: int = 0
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.start = start
        self.end = max(end, (start or 0) + 1)

    @property
    def line(self) -> int | None:
        """1-based line of the offending text, or None when the place is unknown."""
        if self.source is None or self.start is None:
            return None
        return self.source.count("\n", 0, self.start) + 1

    @property
    def column(self) -> int | None:
        """1-based column (in characters) of the offending text, or None when unknown."""
        if self.source is None or self.start is None:
            return None
        return self.start - self.source.rfind("\n", 0, self.start)

    def located(self, source: str) -> CalcError:
        """Attach the source text the error's offsets refer to, and return the error."""
        self.source = source
        return self

    def render(self) -> str:
        """The offending source line with carets under the offending text (empty if unknown)."""
        if self.source is None or self.start is None:
            return ""
        line_start = self.source.rfind("\n", 0, self.start) + 1
        line_end = self.source.find("\n", self.start)
        if line_end == -1:
            line_end = len(self.source)
        start = min(self.start, line_end)
        end = min(max(self.end, start + 1), max(line_end, start + 1))
        window_start = max(line_start, start - SNIPPET_WIDTH // 2)
        window_end = min(line_end, window_start + SNIPPET_WIDTH)
        text = self.source[window_start:window_end]
        prefix = "..." if window_start > line_start else ""
        suffix = "..." if window_end < line_end else ""
        indent = "".join(c if c == "\t" else " " for c in self.source[window_start:start])
        carets = "^" * max(1, min(end, window_end) - start)
        return f"  {prefix}{text}{suffix}\n  {' ' * len(prefix)}{indent}{carets}"

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"{self.message} (line {self.line}, column {self.column})\n{self.render()}"


class CalcSyntaxError(CalcError):
    """The text is not a well-formed calculation (including unknown functions and arity)."""


class CalcTypeError(CalcError):
    """The calculation is well-formed but names an unknown field or is certain to misuse a type."""


class CalcEvaluationError(CalcError):
    """Evaluating a calculation on one context failed (for example a division by zero)."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A "; did you mean X?" hint for a misspelt name, or "" when no known name is close."""
    candidates = list(known)
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    if name.lower() in by_lower and by_lower[name.lower()] != name:
        return f"; did you mean {by_lower[name.lower()]}?"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return f"; did you mean {close[0]}?" if close else ""
