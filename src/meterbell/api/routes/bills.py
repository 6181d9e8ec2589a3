"""Bill approval and locking: `/organizations/{orgId}/bills/{id}/status`, `…/bills/{id}/lock`
and `…/bills/approve` (the bills themselves are entity routes)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from meterbell.api.deps import CurrentOrg, JsonBody, StateDep
from meterbell.api.responses import JSONResponse
from meterbell.services import bills

router = APIRouter(prefix="/organizations/{orgId}/bills", tags=["Bill"])


@router.post("/approve", summary="Approve bills (and start their Bill integration runs)")
async def approve(org: CurrentOrg, state: StateDep, body: JsonBody) -> Response:
    return JSONResponse(await bills.approve(state.db, org.org_id, body, org.actor))


@router.put("/{id}/status", summary="Update a bill's status")
async def set_status(org: CurrentOrg, state: StateDep, id: str, body: JsonBody) -> Response:
    return JSONResponse(await bills.set_status(state.db, org.org_id, id, body, org.actor))


@router.put("/{id}/lock", summary="Lock an approved bill")
async def lock(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await bills.lock(state.db, org.org_id, id, org.actor))
