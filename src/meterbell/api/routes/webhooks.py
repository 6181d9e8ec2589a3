"""Webhook destinations: `/organizations/{orgId}/integrationdestinations/webhooks`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from meterbell.api.deps import (
    CurrentOrg,
    JsonBody,
    OptionalJsonBody,
    QueryLists,
    StateDep,
    requested_page_size,
)
from meterbell.api.responses import JSONResponse
from meterbell.domain.errors import InvalidRequest
from meterbell.services import runs, webhooks

router = APIRouter(
    prefix="/organizations/{orgId}/integrationdestinations/webhooks", tags=["Webhooks"]
)


@router.get("", summary="List webhook destinations")
async def list_webhooks(org: CurrentOrg, state: StateDep, query: QueryLists) -> Response:
    size = requested_page_size(query, webhooks.MAX_PAGE_SIZE)
    page = await webhooks.list_webhooks(state.db, org.org_id, query, page_size=size)
    return JSONResponse(page.to_json())


@router.post("", summary="Create a webhook destination")
async def create_webhook(org: CurrentOrg, state: StateDep, body: JsonBody) -> Response:
    webhook = await webhooks.create_webhook(
        state.db,
        state.box,
        org.org_id,
        body,
        org.actor,
        allow_private=state.settings.webhook_allow_private,
        https_only=state.settings.webhook_https_only,
    )
    return JSONResponse(webhook)


@router.get("/{id}", summary="Get a webhook destination")
async def get_webhook(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await webhooks.get_webhook(state.db, org.org_id, id))


@router.put("/{id}", summary="Update a webhook destination")
async def update_webhook(org: CurrentOrg, state: StateDep, id: str, body: JsonBody) -> Response:
    webhook = await webhooks.update_webhook(
        state.db,
        state.box,
        org.org_id,
        id,
        body,
        org.actor,
        allow_private=state.settings.webhook_allow_private,
        https_only=state.settings.webhook_https_only,
    )
    return JSONResponse(webhook)


@router.put("/{id}/active", summary="Activate or deactivate a webhook destination")
async def set_active(org: CurrentOrg, state: StateDep, id: str, active: str) -> Response:
    if active.lower() not in ("true", "false"):
        raise InvalidRequest(f"active must be true or false (got '{active}')")
    webhook = await webhooks.set_active(
        state.db, org.org_id, id, active.lower() == "true", org.actor
    )
    return JSONResponse(webhook)


@router.post(
    "/{id}/recover",
    summary="Send again the runs that failed within a window (extension: not in m3ter)",
)
async def recover(org: CurrentOrg, state: StateDep, id: str, body: JsonBody) -> Response:
    return JSONResponse(await runs.recover(state.db, org.org_id, id, body))


@router.post(
    "/{id}/rotatesecret",
    summary="Replace the signing secret; the old one signs too until the overlap ends "
    "(extension: not in m3ter)",
)
async def rotate_secret(
    org: CurrentOrg, state: StateDep, id: str, body: OptionalJsonBody
) -> Response:
    webhook = await webhooks.rotate_secret(
        state.db,
        state.box,
        org.org_id,
        id,
        body,
        org.actor,
        overlap_s=state.settings.secret_overlap_s,
    )
    return JSONResponse(webhook)


@router.delete("/{id}", summary="Delete a webhook destination")
async def delete_webhook(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await webhooks.delete_webhook(state.db, org.org_id, id))
