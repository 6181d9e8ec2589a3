"""A rule on a scheduled event, end to end: the scheduler (on a fixed clock) emits
`scheduled.bill.endDateEvent` when a bill's `endDate + offset` passes, the live engine
evaluates the rule and a signed webhook reaches the real receiver."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from meterbell.store.db import Database
from meterbell.store.tables import events
from meterbell.webhooks import verify
from meterbell.workers.scheduler import Scheduler
from tests.conftest import OrgApi
from tests.integration.webhooks.conftest import wire
from tests.integration.webhooks.test_delivery import poll, settled_runs
from tests.receiver import Receiver
from tests.scheduling import END_DATE_EVENT, at, new_bill, new_configuration, scheduled_events


async def all_dispatched(api: OrgApi, db: Database, count: int) -> list[dict[str, Any]] | None:
    found = await scheduled_events(api)
    async with db.read() as conn:
        dispatched = await conn.scalar(
            select(func.count())
            .select_from(events)
            .where(events.c.id.in_([e["id"] for e in found]) & events.c.dispatched_at.is_not(None))
        )
    return found if len(found) == count == dispatched else None


async def test_rule_on_a_scheduled_event_fires_a_webhook_when_the_bill_is_due(
    live: OrgApi, receiver: Receiver, db: Database
) -> None:
    await new_configuration(live, offset=5)
    wiring = await wire(
        live, receiver, "/bill-due", calculation="new.billTotal >= 100", event_name=END_DATE_EVENT
    )
    await new_bill(live, end_date="2099-03-01", billTotal=50)
    big = await new_bill(live, end_date="2099-03-01", billTotal=250)
    later = await new_bill(live, end_date="2099-03-02", billTotal=999)

    assert not await Scheduler(db, now=lambda: at("2099-03-05T23:59:59")).step()
    await Scheduler(db, now=lambda: at("2099-03-06")).step()

    (request,) = await receiver.wait_for("/bill-due", 1)
    url = receiver.url(wiring.path)
    assert verify(
        url=url,
        headers=request.headers,
        body=request.body,
        api_key=wiring.api_key,
        secret=wiring.secret,
    )
    payload = request.json
    assert payload["eventName"] == END_DATE_EVENT
    assert payload["m3terEvent"]["eventData"]["newDto"] == {**big, "orgId": live.org_id}
    assert payload["m3terEvent"]["notification"]["id"] == wiring.rule["id"]
    await poll(lambda: all_dispatched(live, db, 2))
    assert len(await settled_runs(live, wiring, 1)) == 1
    assert len(receiver.at("/bill-due")) == 1

    await Scheduler(db, now=lambda: at("2099-03-07")).step()
    second = (await receiver.wait_for("/bill-due", 2))[1]
    assert second.json["m3terEvent"]["eventData"]["newDto"]["id"] == later["id"]
