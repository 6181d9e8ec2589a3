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
from meterbell.console.session import SignedIn, SignInRequired
from meterbell.domain.errors import MeterbellError
from meterbell.store.orgs import OrganizationRow

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


def _page_org(request: Request, signed: SignedIn | None) -> OrganizationRow | None:
    """The organization of the page asked for, when the signed-in user is one of its own."""
    wanted = request.path_params.get("org_id")
    if signed is None or wanted is None:
        return None
    return next((org for org in signed.user.organizations if org.id == wanted), None)


def error_page(request: Request, exc: MeterbellError) -> Response:
    """The service's own message: a page (with the console's navigation when someone is
    signed in), or for htmx a fragment for the page's alert area."""
    if is_htmx(request):
        return render(
            request,
            "_problem.html",
            status_code=exc.status,
            headers=exc.headers,
            message=exc.message,
        )
    signed: SignedIn | None = getattr(request.state, "signed", None)
    return render(
        request,
        "error.html",
        signed=signed,
        org=_page_org(request, signed),
        status_code=exc.status,
        headers=exc.headers,
        message=exc.message,
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
