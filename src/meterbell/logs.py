"""Structured logs on stderr via structlog: key=value lines, or one JSON object a line
(MB_LOG_FORMAT=json), for structlog's loggers and the standard library's (uvicorn) alike.

Lines about an event, a run or an attempt carry their ids (orgId, eventId, ruleId, runId,
attempt), bound with structlog.contextvars (merged into every line here) or on the logger."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import Processor


def _json(value: Any, **_options: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _rendering(log_format: str) -> list[Processor]:
    if log_format == "json":
        return [
            structlog.processors.format_exc_info,  # the traceback as the "exception" field
            structlog.processors.JSONRenderer(serializer=_json),
        ]
    return [
        structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    ]


def configure_logging(
    level: str, log_format: str = "console", stream: TextIO | None = None
) -> None:
    """Log at `level` and above to `stream` (stderr), as `log_format` ("console" or "json")."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    output = stream or sys.stderr
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    rendering = _rendering(log_format)
    handler = logging.StreamHandler(output)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
    logging.captureWarnings(True)  # Python's warnings become log lines too
    structlog.configure(
        processors=[*shared, *rendering],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(output),
    )
