"""Notification rules: `/organizations/{orgId}/notifications/…`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from meterbell.api.deps import CurrentOrg, JsonBody, QueryLists, StateDep, requested_page_size
from meterbell.api.responses import JSONResponse
from meterbell.services import backfill, notifications

router = APIRouter(prefix="/organizations/{orgId}/notifications", tags=["Notifications"])


@router.get("/configurations", summary="List notification rules")
async def list_rules(org: CurrentOrg, state: StateDep, query: QueryLists) -> Response:
    size = requested_page_size(query, notifications.MAX_PAGE_SIZE)
    page = await notifications.list_rules(state.db, org.org_id, query, page_size=size)
    return JSONResponse(page.to_json())


@router.post("/configurations", summary="Create a notification rule")
async def create_rule(org: CurrentOrg, state: StateDep, body: JsonBody) -> Response:
    return JSONResponse(await notifications.create_rule(state.db, org.org_id, body, org.actor))


@router.get("/configurations/{id}", summary="Get a notification rule")
async def get_rule(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await notifications.get_rule(state.db, org.org_id, id))


@router.get("/configurations/{id}/errors", summary="A rule's recent evaluation errors")
async def rule_errors(org: CurrentOrg, state: StateDep, id: str, query: QueryLists) -> Response:
    size = requested_page_size(query, notifications.MAX_PAGE_SIZE)
    page = await notifications.rule_errors(state.db, org.org_id, id, query, page_size=size)
    return JSONResponse(page.to_json())


@router.post(
    "/configurations/{id}/backfill",
    summary="Run the rule over the stored events of a window (extension: not in m3ter)",
)
async def start_backfill(org: CurrentOrg, state: StateDep, id: str, body: JsonBody) -> Response:
    return JSONResponse(await backfill.start(state.db, org.org_id, id, body))


@router.get(
    "/configurations/{id}/backfills",
    summary="List a rule's backfills, newest first (extension: not in m3ter)",
)
async def list_backfills(org: CurrentOrg, state: StateDep, id: str, query: QueryLists) -> Response:
    size = requested_page_size(query, backfill.MAX_PAGE_SIZE)
    page = await backfill.list_backfills(state.db, org.org_id, id, query, page_size=size)
    return JSONResponse(page.to_json())


@router.get(
    "/configurations/{id}/backfills/{backfillId}",
    summary="A backfill and its progress (extension: not in m3ter)",
)
async def get_backfill(org: CurrentOrg, state: StateDep, id: str, backfillId: str) -> Response:
    return JSONResponse(await backfill.get_backfill(state.db, org.org_id, id, backfillId))


@router.put("/configurations/{id}", summary="Update a notification rule")
async def update_rule(org: CurrentOrg, state: StateDep, id: str, body: JsonBody) -> Response:
    rule = await notifications.update_rule(state.db, org.org_id, id, body, org.actor)
    return JSONResponse(rule)


@router.delete("/configurations/{id}", summary="Delete a notification rule")
async def delete_rule(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await notifications.delete_rule(state.db, org.org_id, id))


@router.post("/evaluate", summary="Check a calculation, optionally against a stored event")
async def evaluate(org: CurrentOrg, state: StateDep, body: JsonBody) -> Response:
    return JSONResponse(await notifications.evaluate(state.db, org.org_id, body))
