"""Dead letters (extension): `/organizations/{orgId}/deadletters`, work set aside after repeated
failures inside meterbell, and its replay."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from meterbell.api.deps import CurrentOrg, QueryLists, StateDep, requested_page_size
from meterbell.api.responses import JSONResponse
from meterbell.services import deadletters

router = APIRouter(prefix="/organizations/{orgId}/deadletters", tags=["Dead letters (extension)"])


@router.get("", summary="List dead letters, newest first")
async def list_dead_letters(org: CurrentOrg, state: StateDep, query: QueryLists) -> Response:
    size = requested_page_size(query, deadletters.MAX_PAGE_SIZE)
    page = await deadletters.list_dead_letters(state.db, org.org_id, query, page_size=size)
    return JSONResponse(page.to_json())


@router.get("/{id}", summary="Get a dead letter")
async def get_dead_letter(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await deadletters.get_dead_letter(state.db, org.org_id, id))


@router.post("/{id}/replay", summary="Put the item back for its worker (once)")
async def replay(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await deadletters.replay(state.db, org.org_id, id, org.actor))
