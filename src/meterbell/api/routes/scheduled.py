"""Scheduled event configurations: `/organizations/{orgId}/scheduledevents/configurations`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from meterbell.api.deps import CurrentOrg, JsonBody, QueryLists, StateDep, requested_page_size
from meterbell.api.responses import JSONResponse
from meterbell.services import scheduled

router = APIRouter(prefix="/organizations/{orgId}/scheduledevents", tags=["Scheduled events"])


@router.get("/configurations", summary="List scheduled event configurations")
async def list_configurations(org: CurrentOrg, state: StateDep, query: QueryLists) -> Response:
    size = requested_page_size(query, scheduled.MAX_PAGE_SIZE)
    page = await scheduled.list_configurations(state.db, org.org_id, query, page_size=size)
    return JSONResponse(page.to_json())


@router.post("/configurations", summary="Create a scheduled event configuration")
async def create_configuration(org: CurrentOrg, state: StateDep, body: JsonBody) -> Response:
    configuration = await scheduled.create_configuration(state.db, org.org_id, body, org.actor)
    return JSONResponse(configuration)


@router.get("/configurations/{id}", summary="Get a scheduled event configuration")
async def get_configuration(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await scheduled.get_configuration(state.db, org.org_id, id))


@router.put("/configurations/{id}", summary="Update a scheduled event configuration")
async def update_configuration(
    org: CurrentOrg, state: StateDep, id: str, body: JsonBody
) -> Response:
    configuration = await scheduled.update_configuration(state.db, org.org_id, id, body, org.actor)
    return JSONResponse(configuration)


@router.delete("/configurations/{id}", summary="Delete a scheduled event configuration")
async def delete_configuration(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await scheduled.delete_configuration(state.db, org.org_id, id))
