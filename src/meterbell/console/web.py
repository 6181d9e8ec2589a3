"""The console's shell: `/` and `/console`, signing in and out, the organization switcher,
and the pages of each section; `install_console` adds it all to the app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from meterbell.api.deps import StateDep
from meterbell.console import (
    alerts_pages,
    dashboard_pages,
    events_pages,
    exports_pages,
    integrations_pages,
    operations_pages,
    rules_pages,
    webhooks_pages,
)
from meterbell.console.rendering import STATIC_DIR, render
from meterbell.console.routing import SIGN_IN_PATH, ConsoleRoute, org_page, see_other
from meterbell.console.session import (
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    SignedInDep,
    checked_form,
    forget_cookie,
    presession,
    set_cookie,
)
from meterbell.domain.errors import MeterbellError, NotFound, TooManyRequests, Unauthorized
from meterbell.services import console_users

CONSOLE = "/console"
UNKNOWN_ADDRESS = "unknown"

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/")
async def root() -> Response:
    return RedirectResponse(CONSOLE, status_code=302)


@router.get(CONSOLE)
async def home(request: Request, signed: SignedInDep) -> Response:
    if not signed.user.organizations:
        return render(request, "no_organization.html", signed=signed)
    return RedirectResponse(org_page(signed.user.organizations[0].id, "dashboard"), 303)


def _safe_next(target: str) -> str:
    """Where to go after signing in: a console page of this site, never elsewhere."""
    inside = target.startswith(CONSOLE) and not target.startswith(SIGN_IN_PATH)
    return target if inside and "\\" not in target else CONSOLE


def _sign_in_form(
    request: Request,
    state: StateDep,
    *,
    next_page: str,
    email: str = "",
    problem: MeterbellError | None = None,
) -> Response:
    binding = presession(request)
    response = render(
        request,
        "sign_in.html",
        status_code=problem.status if problem else 200,
        headers=problem.headers if problem else None,
        csrf_token=state.csrf.token_for(binding),
        next_page=next_page,
        email=email,
        problem=problem.message if problem else "",
    )
    set_cookie(response, request, state, PRESESSION_COOKIE, binding)
    return response


@router.get(SIGN_IN_PATH)
async def sign_in_page(request: Request, state: StateDep, next: str = CONSOLE) -> Response:
    return _sign_in_form(request, state, next_page=_safe_next(next))


@router.post(SIGN_IN_PATH)
async def sign_in(request: Request, state: StateDep) -> Response:
    fields = await checked_form(request, state, request.cookies.get(PRESESSION_COOKIE, ""))
    email, next_page = fields.get("email", ""), _safe_next(fields.get("next", CONSOLE))
    try:
        token = await console_users.sign_in(
            state.db,
            state.failed_sign_ins,
            email,
            fields.get("password", ""),
            address=request.client.host if request.client else UNKNOWN_ADDRESS,
            ttl_s=state.settings.console_session_ttl_s,
        )
    except (Unauthorized, TooManyRequests) as exc:
        return _sign_in_form(request, state, next_page=next_page, email=email, problem=exc)
    response = see_other(request, next_page)
    set_cookie(response, request, state, SESSION_COOKIE, token)
    forget_cookie(response, PRESESSION_COOKIE)
    return response


@router.post("/console/sign-out")
async def sign_out(request: Request, state: StateDep, signed: SignedInDep) -> Response:
    await checked_form(request, state, signed.session_token)
    await console_users.sign_out(state.db, signed.session_token)
    response = see_other(request, SIGN_IN_PATH)
    forget_cookie(response, SESSION_COOKIE)
    return response


@router.get("/console/switch")
async def switch_organization(signed: SignedInDep, org: str = "") -> Response:
    return RedirectResponse(org_page(signed.user.organization(org).id, "dashboard"), 303)


router.include_router(dashboard_pages.router)
router.include_router(alerts_pages.router)
router.include_router(integrations_pages.router)
router.include_router(events_pages.router)
router.include_router(rules_pages.router)
router.include_router(webhooks_pages.router)
router.include_router(operations_pages.router)
router.include_router(exports_pages.router)


@router.get("/console/orgs/{org_id}/{slug}")
async def missing_page(request: Request, signed: SignedInDep, org_id: str, slug: str) -> Response:
    """No such page: 404 with the organization's navigation (if it is the user's)."""
    signed.user.organization(org_id)
    raise NotFound(f"No console page {request.url.path}")


def install_console(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(f"{CONSOLE}/static", StaticFiles(directory=STATIC_DIR), name="console-static")
