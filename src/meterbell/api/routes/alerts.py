"""System alerts (extension): `/organizations/{orgId}/alerts`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from meterbell.api.deps import CurrentOrg, JsonBody, QueryLists, StateDep, requested_page_size
from meterbell.api.responses import JSONResponse
from meterbell.services import alerts

router = APIRouter(prefix="/organizations/{orgId}/alerts", tags=["Alerts (extension)"])


@router.get("", summary="List alerts, newest first")
async def list_alerts(org: CurrentOrg, state: StateDep, query: QueryLists) -> Response:
    size = requested_page_size(query, alerts.MAX_PAGE_SIZE)
    page = await alerts.list_alerts(state.db, org.org_id, query, page_size=size)
    return JSONResponse(page.to_json())


@router.get("/{id}", summary="Get an alert")
async def get_alert(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await alerts.get_alert(state.db, org.org_id, id))


@router.put("/{id}", summary="Move an alert to another status (NEW, IN_PROGRESS, RESOLVED)")
async def update_alert(org: CurrentOrg, state: StateDep, id: str, body: JsonBody) -> Response:
    return JSONResponse(await alerts.update_status(state.db, org.org_id, id, body, org.actor))
