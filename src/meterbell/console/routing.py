"""What every console route shares: errors become pages (or, for htmx, fragments), a missing
session becomes a trip to the sign-in page, and pages of an organization check membership."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from meterbell.console.rendering import render
from meterbell.console.session import SignInRequired
from meterbell.domain.errors import MeterbellError

SIGN_IN_PATH = "/console/sign-in"


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def see_other(request: Request, location: str) -> Response:
    """Go to `location` after a change: a 303, or, for htmx, a full-page redirect it follows."""
    if is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def to_sign_in(request: Request) -> Response:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    after = f"?next={quote(here, safe='')}" if request.method == "GET" else ""
    return see_other(request, SIGN_IN_PATH + after)


def error_page(request: Request, exc: MeterbellError) -> Response:
    """The service's own message: a page, or for htmx a fragment for the page's alert area."""
    template = "_problem.html" if is_htmx(request) else "error.html"
    return render(
        request, template, status_code=exc.status, headers=exc.headers, message=exc.message
    )


class ConsoleRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return to_sign_in(request)
            except MeterbellError as exc:
                return error_page(request, exc)

        return console_handler


def org_page(org_id: str, section: str) -> str:
    return f"/console/orgs/{org_id}/{section}"
