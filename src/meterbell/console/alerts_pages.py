"""The Alerts page: a filtered, paged list, and moving an alert along (NEW → IN_PROGRESS →
RESOLVED) through the same service, version check and events as `PUT /alerts/{id}`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from meterbell.api.deps import QueryLists, StateDep
from meterbell.console.rendering import PAGE_SIZE, page_links, query_filters, render
from meterbell.console.routing import ConsoleRoute, is_htmx, org_page, see_other
from meterbell.console.rules_pages import version_of
from meterbell.console.session import SignedInDep, checked_form
from meterbell.domain.alerts import AlertStatus, AlertType, ResourceType, Severity
from meterbell.domain.errors import MeterbellError
from meterbell.services import alerts

FILTERS = {"status": AlertStatus, "severity": Severity, "type": AlertType}
# The statuses a person may move an alert to from each one.
NEXT_STATUSES = {
    AlertStatus.NEW: (AlertStatus.IN_PROGRESS, AlertStatus.RESOLVED),
    AlertStatus.IN_PROGRESS: (AlertStatus.RESOLVED,),
    AlertStatus.RESOLVED: (),
}

# The console page that shows the resource of an alert, by its type: a path under the
# organization's pages, `{id}` standing for the resource's id. A meter's alert (its id names
# the meter and the failure type) goes to the Ingest page, which lists the failures.
RESOURCE_PAGES = {
    ResourceType.INTEGRATION_CONFIGURATION: "integrations?ids={id}",
    ResourceType.NOTIFICATION_RULE: "notifications/{id}",
    ResourceType.METER: "ingest",
    ResourceType.EXPORT_SCHEDULE: "exports?scheduleId={id}",
    ResourceType.EXPORT_JOB: "exports/jobs/{id}",
    ResourceType.DEAD_LETTER: "dead-letters/{id}",
}


@dataclass(frozen=True)
class RowRules:
    """What the template of an alert's row needs besides the alert."""

    next_statuses: Mapping[AlertStatus, tuple[AlertStatus, ...]]
    resource_pages: Mapping[ResourceType, str]


ROW_RULES = RowRules(NEXT_STATUSES, RESOURCE_PAGES)

router = APIRouter(route_class=ConsoleRoute)


@router.get("/console/orgs/{org_id}/alerts")
async def alerts_page(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, query: QueryLists
) -> Response:
    org = signed.user.organization(org_id)
    page = await alerts.list_alerts(state.db, org.id, query, page_size=PAGE_SIZE)
    filters = query_filters(query, FILTERS)
    return render(
        request,
        "alerts.html",
        signed=signed,
        org=org,
        section="alerts",
        alerts=page.data,
        rules=ROW_RULES,
        filters=filters,
        choices=FILTERS,
        this_page=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        **page_links(org_page(org.id, "alerts"), filters, query, page),
    )


def _status_change(fields: dict[str, str]) -> dict[str, Any]:
    """The form as the API's body."""
    return {"status": fields.get("status", ""), "version": version_of(fields)}


def _list_page(org_id: str, back: str) -> str:
    """The list page the form came from (its filters and page kept), if it is one."""
    alerts_list = org_page(org_id, "alerts")
    return back if back.startswith(alerts_list) else alerts_list


@router.post("/console/orgs/{org_id}/alerts/{alert_id}/status")
async def move_alert(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, alert_id: str
) -> Response:
    fields = await checked_form(request, state, signed.session_token)
    org = signed.user.organization(org_id)
    problem = ""
    try:
        alert = await alerts.update_status(
            state.db, org.id, alert_id, _status_change(fields), signed.user.id
        )
    except MeterbellError as exc:
        if not is_htmx(request):
            raise
        problem = exc.message
        alert = await alerts.get_alert(state.db, org.id, alert_id)
    if not is_htmx(request):
        return see_other(request, _list_page(org.id, fields.get("back", "")))
    return render(
        request,
        "_alert_row.html",
        signed=signed,
        org=org,
        alert=alert,
        rules=ROW_RULES,
        this_page=fields.get("back", ""),
        problem=problem,
    )
