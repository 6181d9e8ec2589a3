"""The Events API: `/organizations/{orgId}/events`, its types and its fields."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from meterbell.api.deps import CurrentOrg, QueryLists, StateDep, requested_page_size
from meterbell.api.responses import JSONResponse
from meterbell.services import events

router = APIRouter(prefix="/organizations/{orgId}/events", tags=["Events"])


@router.get("", summary="List events, newest first")
async def list_events(org: CurrentOrg, state: StateDep, query: QueryLists) -> Response:
    size = requested_page_size(query, events.MAX_PAGE_SIZE)
    page = await events.list_events(state.db, org.org_id, query, page_size=size)
    return JSONResponse(page.to_json())


@router.get("/types", summary="Event types rules can be written for")
async def event_types(org: CurrentOrg, state: StateDep) -> Response:
    return JSONResponse({"events": await events.event_types(state.db, org.org_id)})


@router.get("/fields", summary="Fields of each event type, with their types")
async def event_fields(
    org: CurrentOrg,
    state: StateDep,
    eventName: str | None = None,
) -> Response:
    fields = await events.event_fields(state.db, org.org_id, eventName)
    return JSONResponse({"events": fields})


@router.get("/{eventId}", summary="Get one event")
async def get_event(org: CurrentOrg, state: StateDep, eventId: str) -> Response:
    return JSONResponse(await events.get_event(state.db, org.org_id, eventId))


@router.post("/{eventId}/action", summary="Mark an event handled (sets dtActioned)")
async def action_event(org: CurrentOrg, state: StateDep, eventId: str) -> Response:
    return JSONResponse(await events.set_actioned(state.db, org.org_id, eventId, actioned=True))


@router.delete("/{eventId}/action", summary="Clear an event's handled mark")
async def clear_event_action(org: CurrentOrg, state: StateDep, eventId: str) -> Response:
    return JSONResponse(await events.set_actioned(state.db, org.org_id, eventId, actioned=False))
