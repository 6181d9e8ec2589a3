"""The Ingest page: `ingest.validation.failure` events with their failure type and meter,
each with the failed-ingest download (the same signed link as the API's
`failedIngest/getDownloadUrl`). The Scheduled events page: the configurations (paged as the
API pages them), and a form that creates one through the same service as
`POST /scheduledevents/configurations`, with the service's message beside the field it
concerns. A dead letter's page (where its alert links): the work set aside, and why."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from meterbell.api.deps import QueryLists, StateDep
from meterbell.api.routes.measurements import DOWNLOAD_ROUTE
from meterbell.console.rendering import PAGE_SIZE, page_links, render
from meterbell.console.routing import ConsoleRoute, org_page, see_other
from meterbell.console.session import SignedIn, SignedInDep, checked_form
from meterbell.domain.clock import utcnow
from meterbell.domain.errors import InvalidRequest, MeterbellError
from meterbell.domain.measurements import INGEST_FAILURE
from meterbell.services import deadletters, events, ingest, scheduled

SCHEDULED_FIELDS = ("name", "entity", "field", "offset")
WHOLE_NUMBER = re.compile(r"-?\d{1,12}")

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def field_of(message: str, names: tuple[str, ...]) -> str:
    """The form field a service's message is about: the first one it quotes ('' if none)."""
    places = {name: message.find(f"'{name}'") for name in names}
    quoted = [(place, name) for name, place in places.items() if place >= 0]
    return min(quoted)[1] if quoted else ""


def problem_context(problem: MeterbellError | None, fields: tuple[str, ...]) -> dict[str, Any]:
    """What a form page shows of the service's refusal: its message, the field it is about,
    and the page's status code."""
    message = problem.message if problem else ""
    return {
        "problem": message,
        "problem_field": field_of(message, fields),
        "status_code": problem.status if problem else 200,
    }


def _scheduled_body(form: dict[str, str]) -> dict[str, Any]:
    """The form as the API's body: `offset` a number when it reads as one (else the
    service says what is wrong with it)."""
    body: dict[str, Any] = {name: form.get(name, "").strip() for name in SCHEDULED_FIELDS}
    if WHOLE_NUMBER.fullmatch(body["offset"]):
        body["offset"] = int(body["offset"])
    return body


async def _scheduled_page(
    request: Request,
    state: StateDep,
    signed: SignedIn,
    org_id: str,
    query: QueryLists,
    *,
    form: dict[str, str] | None = None,
    problem: InvalidRequest | None = None,
) -> Response:
    org = signed.user.organization(org_id)
    page = await scheduled.list_configurations(state.db, org.id, query, page_size=PAGE_SIZE)
    return render(
        request,
        "scheduled_events.html",
        signed=signed,
        org=org,
        section="scheduled-events",
        rows=page.data,
        form=form or {},
        **page_links(org_page(org.id, "scheduled-events"), {}, query, page),
        **problem_context(problem, SCHEDULED_FIELDS),
    )


@router.get("/console/orgs/{org_id}/scheduled-events")
async def scheduled_events(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, query: QueryLists
) -> Response:
    return await _scheduled_page(request, state, signed, org_id, query)


@router.post("/console/orgs/{org_id}/scheduled-events")
async def create_scheduled_event(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str
) -> Response:
    form = await checked_form(request, state, signed.session_token)
    org = signed.user.organization(org_id)
    try:
        await scheduled.create_configuration(
            state.db, org.id, _scheduled_body(form), signed.user.id
        )
    except InvalidRequest as exc:
        return await _scheduled_page(request, state, signed, org.id, {}, form=form, problem=exc)
    return see_other(request, org_page(org.id, "scheduled-events"))


def failure_details(event: dict[str, Any]) -> dict[str, Any]:
    """What the validator wrote of a failure: type, reason, meter, account, getDownloadUrl."""
    details = event.get("m3terEvent", {}).get("eventData", {}).get("newDto", {})
    return details if isinstance(details, dict) else {}


@router.get("/console/orgs/{org_id}/ingest")
async def ingest_page(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, query: QueryLists
) -> Response:
    org = signed.user.organization(org_id)
    paging = {"eventName": [INGEST_FAILURE], **{k: v for k, v in query.items() if k == "nextToken"}}
    page = await events.list_events(state.db, org.id, paging, page_size=PAGE_SIZE)
    return render(
        request,
        "ingest.html",
        signed=signed,
        org=org,
        section="ingest",
        failures=[(event, failure_details(event)) for event in page.data],
        **page_links(org_page(org.id, "ingest"), {}, query, page),
    )


@router.get("/console/orgs/{org_id}/ingest/download")
async def ingest_download(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, file: str = ""
) -> Response:
    """To the failed measurement, by a fresh 5-minute link signed as the API signs it."""
    org = signed.user.organization(org_id)
    link = await ingest.download_link(state.db, org.id, file, state.downloads, utcnow())
    url = request.url_for(DOWNLOAD_ROUTE, orgId=org.id).include_query_params(**link)
    return RedirectResponse(str(url), status_code=303)


@router.get("/console/orgs/{org_id}/dead-letters/{letter_id}")
async def dead_letter_page(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, letter_id: str
) -> Response:
    org = signed.user.organization(org_id)
    letter = await deadletters.get_dead_letter(state.db, org.id, letter_id)
    return render(
        request, "dead_letter.html", signed=signed, org=org, section="alerts", letter=letter
    )
