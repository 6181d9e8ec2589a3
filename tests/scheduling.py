"""Helpers for scheduled-event tests: bills, configurations, and the events they produce.

Dates lie in 2099 so that the real-clock scheduler of a live engine never fires them; tests
drive their own `Scheduler` with a fixed clock instead.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.conftest import OrgApi

ACCOUNT_ID = "6a3d5b1e-2c4f-4e8a-9b7c-0000000000b1"
END_DATE_EVENT = "scheduled.bill.endDateEvent"


def at(text: str) -> datetime:
    """A UTC instant from `2099-03-06` or `2099-03-06T12:00:00`."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def new_bill(api: OrgApi, end_date: str = "2099-03-01", **fields: Any) -> dict[str, Any]:
    body = {"accountId": ACCOUNT_ID, "startDate": "2099-02-01", "endDate": end_date, **fields}
    response = await api.post("bills", body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def change_bill(api: OrgApi, bill: dict[str, Any], **fields: Any) -> dict[str, Any]:
    response = await api.put(f"bills/{bill['id']}", {**bill, **fields})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def new_configuration(
    api: OrgApi,
    *,
    name: str = END_DATE_EVENT,
    entity: str = "Bill",
    field: str = "endDate",
    offset: int = 5,
) -> dict[str, Any]:
    body = {"name": name, "entity": entity, "field": field, "offset": offset}
    response = await api.post("scheduledevents/configurations", body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def scheduled_events(api: OrgApi, name: str = END_DATE_EVENT) -> list[dict[str, Any]]:
    """Every scheduled event of that name in the organization (not the Notification events
    rules made of them), oldest first."""
    events: list[dict[str, Any]] = []
    params: dict[str, Any] = {"eventName": name, "eventType": "Scheduled", "pageSize": 100}
    while True:
        page = (await api.get("events", params=params)).json()
        events.extend(page["data"])
        if not page.get("nextToken"):
            return events[::-1]
        params["nextToken"] = page["nextToken"]


async def fired_for(api: OrgApi, name: str = END_DATE_EVENT) -> list[str]:
    """The entity ids the events of that name were about, oldest first."""
    return [e["m3terEvent"]["eventData"]["newDto"]["id"] for e in await scheduled_events(api, name)]
