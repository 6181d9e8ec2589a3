"""The Dashboard: open alerts by severity, deliveries per minute over the last hour and day
(a table, and a uPlot chart drawn from the same figures embedded as JSON), p50/p99 delivery
latency, disabled integrations and dispatch lag."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from meterbell.api.deps import StateDep
from meterbell.console.rendering import render
from meterbell.console.routing import ConsoleRoute
from meterbell.console.session import SignedInDep
from meterbell.domain.clock import utcnow
from meterbell.services import alerts, integrations
from meterbell.services.delivery_stats import DeliveryWindow, delivery_stats

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def chart_data(window: DeliveryWindow) -> str:
    """The window as uPlot wants it: [x (epoch seconds), succeeded, failed]. Safe inside a
    <script type="application/json"> (no `<` can end it early)."""
    start = int(window.start.timestamp())
    xs = [start + 60 * minute for minute in range(window.minutes)]
    return json.dumps([xs, window.succeeded, window.failed]).replace("<", "\\u003c")


@router.get("/console/orgs/{org_id}/dashboard")
async def dashboard(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str
) -> Response:
    org = signed.user.organization(org_id)
    stats = await delivery_stats(state.db, org.id, utcnow())
    lag = None if stats.dispatch_lag_s is None else timedelta(seconds=int(stats.dispatch_lag_s))
    return render(
        request,
        "dashboard.html",
        signed=signed,
        org=org,
        section="dashboard",
        open_alerts=await alerts.open_alerts_by_severity(state.db, org.id),
        stats=stats,
        windows=(("hour", "Last hour", stats.hour), ("day", "Last day", stats.day)),
        chart_data=chart_data,
        disabled=await integrations.count_disabled(state.db, org.id),
        dispatch_lag=lag,
    )
