"""Every error leaves as `{"message": "..."}` with the right status."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from meterbell.api.responses import error_response
from meterbell.domain.errors import MeterbellError

log = structlog.get_logger(__name__)


def _validation_message(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(
            str(part) for part in error.get("loc", ()) if part not in ("query", "path")
        )
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(problems) or "The request is not valid"


async def _meterbell_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MeterbellError)
    return error_response(exc.status, exc.message, exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, _validation_message(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = str(exc.detail)
    if exc.status_code == 404:
        message = f"No such endpoint: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not supported on {request.url.path}"
    return error_response(exc.status_code, message, dict(exc.headers or {}))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", method=request.method, path=request.url.path)
    return error_response(500, "Internal error: the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MeterbellError, _meterbell_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
