"""The Webhooks pages: destinations listed and paged, the create/edit form (the secret is
write-only: an empty field keeps the current one, and it is never rendered), the active
toggle, and Test, a signed test notification to the endpoint. Each calls the service the
`integrationdestinations/webhooks` routes call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from meterbell.api.deps import QueryLists, StateDep
from meterbell.api.state import AppState
from meterbell.console.rendering import PAGE_SIZE, page_links, render
from meterbell.console.routing import ConsoleRoute, is_htmx, org_page, see_other
from meterbell.console.rules_pages import field_of, version_of
from meterbell.console.session import SignedIn, SignedInDep, checked_form
from meterbell.domain.errors import MeterbellError, NotFound
from meterbell.services import webhooks
from meterbell.store.orgs import OrganizationRow

SECTION = "webhooks"
WEBHOOK_FIELDS = ("name", "description", "url", "code")
FORM_FIELDS = (*WEBHOOK_FIELDS, "apiKey", "secret", "active", "ordered", "maxRequestsPerSecond")
# Settings the API takes that the form does not show: an edit keeps them as they are.
API_ONLY_FIELDS = ("headers",)
FIELD_HINTS = {"url": ("resolves to", "private")}
SIGNED_REQUEST = "M3TER_SIGNED_REQUEST"

router = APIRouter(route_class=ConsoleRoute)


def _webhook_body(fields: Mapping[str, str]) -> dict[str, Any]:
    """The form as the API's webhook body: an empty secret is left out (on an edit, the
    current secret stays), as is an empty code."""
    body: dict[str, Any] = {name: fields.get(name, "") for name in WEBHOOK_FIELDS}
    body["code"] = body["code"] or None
    body["active"] = "active" in fields
    body["ordered"] = "ordered" in fields
    if rate := fields.get("maxRequestsPerSecond", "").strip():
        body["maxRequestsPerSecond"] = _number(rate)
    credentials = {"type": SIGNED_REQUEST, "apiKey": fields.get("apiKey", "")}
    if fields.get("secret"):
        credentials["secret"] = fields["secret"]
    body["credentials"] = credentials
    if "version" in fields:
        body["version"] = version_of(fields)
    return body


def _number(text: str) -> float | str:
    """A number typed in the form; left as text when it is none, for the API to refuse."""
    try:
        return float(text)
    except ValueError:
        return text


def _shown(body: Mapping[str, Any]) -> dict[str, Any]:
    """A body as the form shows it again: never its secret."""
    credentials = {k: v for k, v in body["credentials"].items() if k != "secret"}
    return {**body, "credentials": credentials}


@router.get("/console/orgs/{org_id}/webhooks")
async def webhooks_page(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, query: QueryLists
) -> Response:
    org = signed.user.organization(org_id)
    page = await webhooks.list_webhooks(state.db, org.id, query, page_size=PAGE_SIZE)
    return render(
        request,
        "webhooks.html",
        signed=signed,
        org=org,
        section=SECTION,
        webhooks=page.data,
        **page_links(org_page(org.id, SECTION), {}, query, page),
    )


def _form_page(
    request: Request,
    signed: SignedIn,
    org: OrganizationRow,
    webhook: Mapping[str, Any],
    *,
    problem: str = "",
    tried: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "webhook_form.html",
        signed=signed,
        org=org,
        section=SECTION,
        webhook=webhook,
        problem=problem,
        problem_field=field_of(problem, FORM_FIELDS, FIELD_HINTS),
        tried=tried,
        status_code=status_code,
    )


@router.get("/console/orgs/{org_id}/webhooks/new")
async def new_webhook_form(request: Request, signed: SignedInDep, org_id: str) -> Response:
    org = signed.user.organization(org_id)
    return _form_page(request, signed, org, {"active": True, "credentials": {}})


@router.post("/console/orgs/{org_id}/webhooks/new")
async def create_webhook(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str
) -> Response:
    fields = await checked_form(request, state, signed.session_token)
    org = signed.user.organization(org_id)
    body = _webhook_body(fields)
    try:
        webhook = await webhooks.create_webhook(
            state.db,
            state.box,
            org.id,
            body,
            signed.user.id,
            allow_private=state.settings.webhook_allow_private,
            https_only=state.settings.webhook_https_only,
        )
    except MeterbellError as exc:
        return _form_page(
            request, signed, org, _shown(body), problem=exc.message, status_code=exc.status
        )
    return see_other(request, f"{org_page(org.id, SECTION)}/{webhook['id']}")


@router.get("/console/orgs/{org_id}/webhooks/{webhook_id}")
async def webhook_page(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, webhook_id: str
) -> Response:
    org = signed.user.organization(org_id)
    webhook = await webhooks.get_webhook(state.db, org.id, webhook_id)
    return _form_page(request, signed, org, webhook)


@router.post("/console/orgs/{org_id}/webhooks/{webhook_id}")
async def update_webhook(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, webhook_id: str
) -> Response:
    fields = await checked_form(request, state, signed.session_token)
    org = signed.user.organization(org_id)
    stored = await webhooks.get_webhook(state.db, org.id, webhook_id)
    body = _webhook_body(fields) | {k: stored[k] for k in API_ONLY_FIELDS if k in stored}
    try:
        await webhooks.update_webhook(
            state.db,
            state.box,
            org.id,
            webhook_id,
            body,
            signed.user.id,
            allow_private=state.settings.webhook_allow_private,
            https_only=state.settings.webhook_https_only,
        )
    except MeterbellError as exc:
        if isinstance(exc, NotFound):
            raise
        shown = {**_shown(body), "id": webhook_id}
        return _form_page(request, signed, org, shown, problem=exc.message, status_code=exc.status)
    return see_other(request, f"{org_page(org.id, SECTION)}/{webhook_id}")


@router.post("/console/orgs/{org_id}/webhooks/{webhook_id}/active")
async def set_active(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, webhook_id: str
) -> Response:
    fields = await checked_form(request, state, signed.session_token)
    org = signed.user.organization(org_id)
    active = fields.get("active") == "true"
    await webhooks.set_active(state.db, org.id, webhook_id, active, signed.user.id)
    return see_other(request, f"{org_page(org.id, SECTION)}/{webhook_id}")


async def _send_test(state: AppState, org_id: str, webhook_id: str) -> dict[str, Any]:
    return await webhooks.send_test_notification(
        state.db,
        state.box,
        org_id,
        webhook_id,
        timeout_s=state.settings.delivery_timeout_s,
        allow_private=state.settings.webhook_allow_private,
        https_only=state.settings.webhook_https_only,
    )


@router.post("/console/orgs/{org_id}/webhooks/{webhook_id}/test")
async def test_webhook(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, webhook_id: str
) -> Response:
    """Test: a signed test notification; an htmx fragment, or without JavaScript the
    destination's page with the outcome."""
    await checked_form(request, state, signed.session_token)
    org = signed.user.organization(org_id)
    tried = await _send_test(state, org.id, webhook_id)
    if is_htmx(request):
        return render(request, "_webhook_test.html", tried=tried)
    webhook = await webhooks.get_webhook(state.db, org.id, webhook_id)
    return _form_page(request, signed, org, webhook, tried=tried)
