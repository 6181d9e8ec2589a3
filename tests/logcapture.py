"""meterbell's logging pointed at a stream for a while, then put back exactly as it was."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

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
