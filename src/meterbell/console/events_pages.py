"""The Events pages: the event log filtered as `GET /events` filters it, each event with its
old and new payloads field by field (the changed ones marked), and Mark as actioned through
the same service as `POST /events/{id}/action`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from meterbell.api.deps import QueryLists, StateDep
from meterbell.console.rendering import PAGE_SIZE, page_links, query_filters, render
from meterbell.console.routing import ConsoleRoute, org_page, see_other
from meterbell.console.session import SignedInDep, checked_form
from meterbell.domain.integrations import DISABLED_ERROR, INTEGRATION_CATEGORY, PERFORM_ERROR
from meterbell.domain.payload_diff import field_changes
from meterbell.services import events

router = APIRouter(route_class=ConsoleRoute)
# The filters of the list, as the API's query parameters, with their labels.
FILTERS = {
    "eventName": "Name",
    "eventType": "Category",
    "resourceId": "Resource id",
    "accountId": "Account id",
}
# includeActioned=false: only the events nobody has marked as actioned.
NOT_ACTIONED = {"includeActioned": "false"}
INTEGRATION_ERRORS = (PERFORM_ERROR, DISABLED_ERROR)


@router.get("/console/orgs/{org_id}/events")
async def events_page(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, query: QueryLists
) -> Response:
    org = signed.user.organization(org_id)
    page = await events.list_events(state.db, org.id, query, page_size=PAGE_SIZE)
    filters = query_filters(query, [*FILTERS, *NOT_ACTIONED])
    return render(
        request,
        "events.html",
        signed=signed,
        org=org,
        section="events",
        events=page.data,
        filters=filters,
        labels=FILTERS,
        integration_errors={"eventType": INTEGRATION_CATEGORY, **NOT_ACTIONED},
        **page_links(org_page(org.id, "events"), filters, query, page),
    )


def _payloads(event: dict[str, Any]) -> dict[str, Any]:
    data = event["m3terEvent"].get("eventData", {})
    return {"old": data.get("oldDto"), "new": data.get("newDto")}


@router.get("/console/orgs/{org_id}/events/{event_id}")
async def event_page(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, event_id: str
) -> Response:
    org = signed.user.organization(org_id)
    event = await events.get_event(state.db, org.id, event_id)
    payloads = _payloads(event)
    is_integration_error = event["eventName"] in INTEGRATION_ERRORS
    return render(
        request,
        "event.html",
        signed=signed,
        org=org,
        section="events",
        event=event,
        changes=field_changes(payloads["old"], payloads["new"]),
        integration=(payloads["new"] or {}) if is_integration_error else None,
    )


@router.post("/console/orgs/{org_id}/events/{event_id}/action")
async def mark_actioned(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, event_id: str
) -> Response:
    await checked_form(request, state, signed.session_token)
    org = signed.user.organization(org_id)
    await events.set_actioned(state.db, org.id, event_id, actioned=True)
    return see_other(request, org_page(org.id, f"events/{event_id}"))
