"""meterbell's logging pointed at a stream for a while, then put back exactly as it was; and
the JSON lines written to it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

from meterbell.logs import configure_logging


@contextmanager
def logging_to(stream: TextIO, level: str, log_format: str) -> Iterator[None]:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    configure_logging(level, log_format, stream=stream)
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers = handlers
        root.setLevel(root_level)
        structlog.contextvars.clear_contextvars()


def json_lines(stream: io.StringIO, **match: Any) -> list[dict[str, Any]]:
    """The lines written to `stream` so far that have each of `match`'s keys, with its value."""
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if all(line.get(k) == v for k, v in match.items())]
