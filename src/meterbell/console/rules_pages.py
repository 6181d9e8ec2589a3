"""The Notifications pages: rules listed and paged, a rule's details (its recorded errors and
its runs), and the create/edit form, whose calculation is checked as it is typed and can be
tried on the newest event of its type. Saving calls the services `notifications/configurations`
calls, with the same validation and events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from meterbell.api.deps import QueryLists, StateDep
from meterbell.console.rendering import PAGE_SIZE, page_links, query_filters, render
from meterbell.console.routing import ConsoleRoute, is_htmx, org_page, see_other
from meterbell.console.session import SignedIn, SignedInDep, checked_form
from meterbell.domain.errors import MeterbellError, NotFound
from meterbell.domain.integrations import NOTIFICATION_ENTITY
from meterbell.services import events, notifications, runs
from meterbell.store.db import Database
from meterbell.store.orgs import OrganizationRow

SECTION = "notifications"
RULE_FIELDS = ("name", "code", "description", "eventName", "calculation")
FLAGS = ("active", "alwaysFireEvent")
# Words of a service message that tie it to a form field when it does not quote the field.
FIELD_HINTS = {"calculation": ("calculation",), "eventName": ("event type",)}
RECENT_ERRORS = 20

router = APIRouter(route_class=ConsoleRoute)


def field_of(message: str, names: tuple[str, ...], hints: Mapping[str, tuple[str, ...]]) -> str:
    """The form field a service message is about: the one it quotes ('name', or
    'credentials.secret' for `secret`), else the one its words point at; "" for the form."""
    for name in names:
        if f"'{name}'" in message or f".{name}'" in message:
            return name
    lowered = message.lower()
    return next((name for name, words in hints.items() if any(w in lowered for w in words)), "")


def version_of(fields: Mapping[str, str]) -> int | str:
    """The form's `version` as the API's body carries it: a number when it reads as one."""
    version = fields.get("version", "")
    return int(version) if version.isdigit() else version


def _rule_body(fields: Mapping[str, str]) -> dict[str, Any]:
    """The form as the API's rule body (an empty calculation is none, as in the API)."""
    body: dict[str, Any] = {name: fields.get(name, "") for name in RULE_FIELDS}
    body["calculation"] = body["calculation"] or None
    body.update({flag: flag in fields for flag in FLAGS})
    if "version" in fields:
        body["version"] = version_of(fields)
    return body


@router.get("/console/orgs/{org_id}/notifications")
async def rules_page(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, query: QueryLists
) -> Response:
    org = signed.user.organization(org_id)
    page = await notifications.list_rules(state.db, org.id, query, page_size=PAGE_SIZE)
    # `ids`: one rule, where an alert links to it.
    only = query_filters(query, ("ids",))
    return render(
        request,
        "rules.html",
        signed=signed,
        org=org,
        section=SECTION,
        rules=page.data,
        only=only.get("ids"),
        **page_links(org_page(org.id, SECTION), only, query, page),
    )


async def _form_page(
    request: Request,
    db: Database,
    signed: SignedIn,
    org: OrganizationRow,
    rule: Mapping[str, Any],
    *,
    problem: str = "",
    tried: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    event_types = await events.event_types(db, org.id)
    return render(
        request,
        "rule_form.html",
        signed=signed,
        org=org,
        section=SECTION,
        rule=rule,
        event_types=event_types,
        problem=problem,
        problem_field=field_of(problem, (*RULE_FIELDS, *FLAGS), FIELD_HINTS),
        tried=tried,
        status_code=status_code,
    )


@router.get("/console/orgs/{org_id}/notifications/new")
async def new_rule_form(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str
) -> Response:
    org = signed.user.organization(org_id)
    return await _form_page(request, state.db, signed, org, {"active": True})


@router.post("/console/orgs/{org_id}/notifications/new")
async def create_rule(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str
) -> Response:
    fields = await checked_form(request, state, signed.session_token)
    org = signed.user.organization(org_id)
    body = _rule_body(fields)
    try:
        rule = await notifications.create_rule(state.db, org.id, body, signed.user.id)
    except MeterbellError as exc:
        return await _form_page(
            request, state.db, signed, org, body, problem=exc.message, status_code=exc.status
        )
    return see_other(request, f"{org_page(org.id, SECTION)}/{rule['id']}")


@router.post("/console/orgs/{org_id}/notifications/check")
async def check_calculation(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str
) -> Response:
    """The live check of the form's calculation (an htmx fragment)."""
    fields = await checked_form(request, state, signed.session_token)
    org = signed.user.organization(org_id)
    check = await notifications.check_calculation(
        state.db, org.id, fields.get("eventName", ""), fields.get("calculation", "")
    )
    return render(
        request,
        "_calculation_check.html",
        check=check,
        blank=not fields.get("calculation", "").strip(),
    )


@router.post("/console/orgs/{org_id}/notifications/test")
async def test_calculation(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str
) -> Response:
    """Test: the form's (unsaved) calculation on the newest event of its type; an htmx
    fragment, or without JavaScript the form again with the answer."""
    fields = await checked_form(request, state, signed.session_token)
    org = signed.user.organization(org_id)
    event_name = fields.get("eventName", "")
    tried = {
        "eventName": event_name,
        "answer": await notifications.evaluate_on_latest(
            state.db, org.id, event_name, fields.get("calculation", "")
        ),
    }
    if is_htmx(request):
        return render(request, "_rule_test.html", org=org, tried=tried)
    return await _form_page(request, state.db, signed, org, _rule_body(fields), tried=tried)


async def _last_run(db: Database, org_id: str, rule_id: str) -> dict[str, Any] | None:
    try:
        return await runs.latest_run(db, org_id, NOTIFICATION_ENTITY, [rule_id])
    except NotFound:
        return None


@router.get("/console/orgs/{org_id}/notifications/{rule_id}")
async def rule_page(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, rule_id: str
) -> Response:
    org = signed.user.organization(org_id)
    rule = await notifications.get_rule(state.db, org.id, rule_id)
    errors = await notifications.rule_errors(state.db, org.id, rule_id, {}, page_size=RECENT_ERRORS)
    return render(
        request,
        "rule.html",
        signed=signed,
        org=org,
        section=SECTION,
        rule=rule,
        errors=errors.data,
        last_run=await _last_run(state.db, org.id, rule_id),
    )


@router.get("/console/orgs/{org_id}/notifications/{rule_id}/edit")
async def edit_rule_form(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, rule_id: str
) -> Response:
    org = signed.user.organization(org_id)
    rule = await notifications.get_rule(state.db, org.id, rule_id)
    return await _form_page(request, state.db, signed, org, rule)


@router.post("/console/orgs/{org_id}/notifications/{rule_id}/edit")
async def update_rule(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, rule_id: str
) -> Response:
    fields = await checked_form(request, state, signed.session_token)
    org = signed.user.organization(org_id)
    body = _rule_body(fields)
    try:
        await notifications.update_rule(state.db, org.id, rule_id, body, signed.user.id)
    except MeterbellError as exc:
        if isinstance(exc, NotFound):
            raise
        rule = {**body, "id": rule_id}
        return await _form_page(
            request, state.db, signed, org, rule, problem=exc.message, status_code=exc.status
        )
    return see_other(request, f"{org_page(org.id, SECTION)}/{rule_id}")
