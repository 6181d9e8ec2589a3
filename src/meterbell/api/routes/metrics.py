"""`GET /metrics`: Prometheus metrics (see docs/operations.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from meterbell.api.deps import StateDep
from meterbell.services import metrics

router = APIRouter(tags=["Operations"])


@router.get("/metrics", summary="Prometheus metrics (Bearer MB_METRICS_TOKEN when it is set)")
async def prometheus_metrics(request: Request, state: StateDep) -> Response:
    metrics.check_scraper(state.settings.metrics_token, request.headers.get("authorization", ""))
    return Response(await metrics.exposition(state.db), media_type=CONTENT_TYPE_LATEST)
