"""External mappings: `/organizations/{orgId}/externalmappings`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from meterbell.api.deps import CurrentOrg, JsonBody, QueryLists, StateDep, requested_page_size
from meterbell.api.responses import JSONResponse
from meterbell.services import external_mappings

router = APIRouter(prefix="/organizations/{orgId}/externalmappings", tags=["External mappings"])


@router.get("", summary="List external mappings")
async def list_mappings(org: CurrentOrg, state: StateDep, query: QueryLists) -> Response:
    size = requested_page_size(query, external_mappings.MAX_PAGE_SIZE)
    page = await external_mappings.list_mappings(state.db, org.org_id, query, page_size=size)
    return JSONResponse(page.to_json())


@router.post("", summary="Create an external mapping")
async def create_mapping(org: CurrentOrg, state: StateDep, body: JsonBody) -> Response:
    return JSONResponse(
        await external_mappings.create_mapping(state.db, org.org_id, body, org.actor)
    )


@router.get("/external/{entity}/{m3terId}", summary="The external mappings of an m3ter entity")
async def mappings_of_entity(
    org: CurrentOrg, state: StateDep, entity: str, m3terId: str, query: QueryLists
) -> Response:
    size = requested_page_size(query, external_mappings.MAX_PAGE_SIZE)
    page = await external_mappings.mappings_of_entity(
        state.db, org.org_id, entity, m3terId, query, page_size=size
    )
    return JSONResponse(page.to_json())


@router.get(
    "/externalid/{system}/{externalTable}/{externalId}",
    summary="The external mappings of a record of an external system",
)
async def mappings_of_external_record(
    org: CurrentOrg,
    state: StateDep,
    system: str,
    externalTable: str,
    externalId: str,
    query: QueryLists,
) -> Response:
    size = requested_page_size(query, external_mappings.MAX_PAGE_SIZE)
    page = await external_mappings.mappings_of_external_record(
        state.db, org.org_id, system, externalTable, externalId, query, page_size=size
    )
    return JSONResponse(page.to_json())


@router.get("/{id}", summary="Get an external mapping")
async def get_mapping(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await external_mappings.get_mapping(state.db, org.org_id, id))


@router.put("/{id}", summary="Update an external mapping")
async def update_mapping(org: CurrentOrg, state: StateDep, id: str, body: JsonBody) -> Response:
    return JSONResponse(
        await external_mappings.update_mapping(state.db, org.org_id, id, body, org.actor)
    )


@router.delete("/{id}", summary="Delete an external mapping")
async def delete_mapping(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await external_mappings.delete_mapping(state.db, org.org_id, id))
