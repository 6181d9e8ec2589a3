"""Log lines: MB_LOG_FORMAT=json gives one JSON object a line (structlog's lines and the
standard library's, exceptions as a field), console gives key=value lines; ids bound with
structlog.contextvars appear on every line; lines below the level are dropped."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from meterbell.logs import configure_logging
from tests.logcapture import logging_to

log = structlog.get_logger(__name__)


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """A stream; the test configures logging to it, and the fixture puts logging back."""
    stream = io.StringIO()
    with logging_to(stream, "warning", "console"):
        yield stream


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_bound_ids_and_exceptions_as_fields(output: io.StringIO) -> None:
    configure_logging("info", "json", stream=output)
    log.debug("below the level")
    with structlog.contextvars.bound_contextvars(orgId="org-1", runId="run-1", attempt=2):
        log.info("webhook delivered", statusCode=200)
        try:
            raise ZeroDivisionError("nothing to share")
        except ZeroDivisionError:
            log.exception("delivery failed inside meterbell")
    log.warning("after the delivery")

    delivered, failed, after = json_lines(output)
    assert delivered["event"] == "webhook delivered"
    assert delivered["level"] == "info"
    assert delivered["timestamp"].endswith("Z")
    assert (delivered["orgId"], delivered["runId"], delivered["attempt"]) == ("org-1", "run-1", 2)
    assert delivered["statusCode"] == 200
    assert failed["level"] == "error"
    assert failed["runId"] == "run-1"
    assert "ZeroDivisionError: nothing to share" in failed["exception"]
    assert "runId" not in after


def test_standard_library_lines_are_json_too(output: io.StringIO) -> None:
    configure_logging("info", "json", stream=output)
    logging.getLogger("uvicorn.error").info("Uvicorn running on %s", "http://127.0.0.1:8400")
    logging.getLogger("uvicorn.error").debug("below the level")

    [line] = json_lines(output)
    assert line["event"] == "Uvicorn running on http://127.0.0.1:8400"
    assert line["level"] == "info"


def test_console_lines_are_key_value(output: io.StringIO) -> None:
    configure_logging("debug", "console", stream=output)
    with structlog.contextvars.bound_contextvars(runId="run-1"):
        log.debug("webhook attempt failed", statusCode=500)

    [line] = output.getvalue().splitlines()
    assert "[debug    ] webhook attempt failed" in line
    assert "runId=run-1" in line
    assert "statusCode=500" in line
