"""Who is signed in (a session cookie, checked against the store on every request), and the
CSRF token every change must carry (a form field, or the `X-CSRF-Token` header htmx sends)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request
from fastapi.responses import Response

from meterbell.api.deps import StateDep
from meterbell.api.state import AppState
from meterbell.domain.errors import Forbidden, InvalidRequest
from meterbell.domain.request_limits import NUL_REFUSED, urlencoded_holds_nul
from meterbell.domain.sessions import new_token
from meterbell.services.console_users import ConsoleUser, signed_in_user

SESSION_COOKIE = "mb_session"
# Binds the sign-in form's CSRF token to one browser before there is a session.
PRESESSION_COOKIE = "mb_presession"
COOKIE_PATH = "/console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """The request needs a session it does not have: the console sends it to sign in."""


class CsrfRefused(Forbidden):
    def __init__(self) -> None:
        super().__init__(
            "This change was sent without its security (CSRF) token, or with one from another "
            "session: reload the page and try again"
        )


@dataclass(frozen=True)
class SignedIn:
    user: ConsoleUser
    session_token: str
    csrf_token: str


async def signed_in(request: Request, state: StateDep) -> SignedIn:
    token = request.cookies.get(SESSION_COOKIE, "")
    user = await signed_in_user(state.db, token) if token else None
    if user is None:
        raise SignInRequired
    signed = SignedIn(user, token, state.csrf.token_for(token))
    request.state.signed = signed  # for an error page's navigation
    return signed


SignedInDep = Annotated[SignedIn, Depends(signed_in)]


async def form_fields(request: Request) -> dict[str, str]:
    """The url-encoded form of a POST (the last value of each field)."""
    raw = await request.body()
    if urlencoded_holds_nul(raw):
        raise InvalidRequest(f"The form {NUL_REFUSED}")
    form = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[-1] for key, values in form.items()}


async def checked_form(request: Request, state: AppState, binding: str) -> dict[str, str]:
    """The form's fields, once its CSRF token (field or header) matches `binding`."""
    fields = await form_fields(request)
    sent = fields.pop(CSRF_FIELD, "") or request.headers.get(CSRF_HEADER, "")
    if not state.csrf.matches(binding, sent):
        raise CsrfRefused
    return fields


def presession(request: Request) -> str:
    """The browser's pre-session value: its cookie's, or a new one to set."""
    return request.cookies.get(PRESESSION_COOKIE) or new_token()


def set_cookie(
    response: Response, request: Request, state: AppState, name: str, value: str
) -> None:
    """A console cookie: HttpOnly, SameSite=Lax, Secure when the request came over https
    (or the settings say always), for the session's length at most."""
    response.set_cookie(
        name,
        value,
        max_age=int(state.settings.console_session_ttl_s),
        path=COOKIE_PATH,
        secure=request.url.scheme == "https" or state.settings.console_secure_cookies,
        httponly=True,
        samesite="lax",
    )


def forget_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="lax")
