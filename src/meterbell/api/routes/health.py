"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from meterbell.api.deps import StateDep
from meterbell.api.responses import JSONResponse, error_response

router = APIRouter(tags=["Health"])


@router.get("/health", summary="The process is alive")
async def health() -> Response:
    return JSONResponse({"status": "ok"})


@router.get("/ready", summary="The store answers")
async def ready(state: StateDep) -> Response:
    try:
        await state.db.ping()
    except Exception as exc:  # any failure to reach the store means "not ready"
        return error_response(503, f"The store is not reachable: {type(exc).__name__}")
    return JSONResponse({"status": "ready"})
