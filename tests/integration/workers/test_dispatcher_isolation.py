"""An event the dispatcher cannot handle (its payload cannot be read) holds back no other event,
of its organization or another's: it is set aside after MB_MAX_ITEM_FAILURES tries, visible as
a dead letter with an alert, and a replay dispatches it again. Each failure, and the setting
aside, is logged with the event's orgId and eventId."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import update

from meterbell.domain.catalog import entity_by_name
from meterbell.store.db import Database
from meterbell.store.tables import events
from meterbell.workers.dispatcher import Dispatcher
from meterbell.workers.isolation import MAX_ITEM_FAILURES
from tests.conftest import OrgApi
from tests.factories import minimal_body
from tests.faults import dead_letters, replayed, set_aside_alerts, steps_until_idle
from tests.logcapture import json_lines

PRODUCT_CREATED = "configuration.product.created"


async def always_firing_rule(api: OrgApi) -> dict[str, Any]:
    body = {"name": "r", "code": "r", "eventName": PRODUCT_CREATED, "alwaysFireEvent": True}
    response = await api.post("notifications/configurations", body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def product_event(api: OrgApi) -> str:
    """Create a product; the id of its event."""
    product = (await api.post("products", minimal_body(entity_by_name("product")))).json()
    params = {"eventName": PRODUCT_CREATED, "resourceId": product["id"]}
    (event,) = (await api.get("events", params=params)).json()["data"]
    return str(event["id"])


async def fired_on(api: OrgApi, rule: dict[str, Any]) -> set[str]:
    """Ids of the events the rule fired on."""
    params = {"notificationId": rule["id"], "pageSize": 100}
    notifications = (await api.get("events", params=params)).json()["data"]
    return {n["m3terEvent"]["triggeringEvent"]["id"] for n in notifications}


async def set_payload(db: Database, event_id: str, m3ter_event: dict[str, Any]) -> None:
    async with db.write() as conn:
        await conn.execute(
            update(events).where(events.c.id == event_id).values(m3ter_event=m3ter_event)
        )


async def test_an_event_that_keeps_failing_is_set_aside_and_the_others_flow(
    api: OrgApi, other_api: OrgApi, db: Database
) -> None:
    rule, other_rule = await always_firing_rule(api), await always_firing_rule(other_api)
    poisoned = await product_event(api)
    good, other_good = await product_event(api), await product_event(other_api)
    original = (await api.get(f"events/{poisoned}")).json()["m3terEvent"]
    await set_payload(db, poisoned, {**original, "eventData": "not an object"})

    await steps_until_idle(Dispatcher(db).step)

    assert await fired_on(api, rule) == {good}
    assert await fired_on(other_api, other_rule) == {other_good}
    (letter,) = await dead_letters(api, "dispatcher")
    assert (letter["itemId"], letter["attempts"]) == (poisoned, 3)
    assert "AttributeError" in letter["error"]
    assert letter["dtSetAside"] is not None
    assert letter["dtReplayed"] is None
    (alert,) = await set_aside_alerts(api)
    assert (alert["resourceType"], alert["resourceId"]) == ("DeadLetter", letter["id"])
    assert await dead_letters(other_api, "dispatcher") == []

    await set_payload(db, poisoned, original)
    assert (await replayed(api, letter))["dtReplayed"] is not None
    await steps_until_idle(Dispatcher(db).step)
    assert await fired_on(api, rule) == {good, poisoned}
    again = await api.post(f"deadletters/{letter['id']}/replay")
    assert again.status_code == 409, again.text


async def test_each_failure_of_an_event_is_logged_with_its_ids_until_it_is_set_aside(
    api: OrgApi, db: Database, json_log: io.StringIO
) -> None:
    await always_firing_rule(api)
    poisoned = await product_event(api)
    original = (await api.get(f"events/{poisoned}")).json()["m3terEvent"]
    await set_payload(db, poisoned, {**original, "eventData": "not an object"})

    await steps_until_idle(Dispatcher(db).step)

    ids = {"worker": "dispatcher", "orgId": api.org_id, "eventId": poisoned}
    lines = json_lines(json_log, **ids)
    assert [(line["event"], line["attempts"]) for line in lines] == [
        *[("work item failed", n) for n in range(1, MAX_ITEM_FAILURES + 1)],
        ("work item set aside", MAX_ITEM_FAILURES),
    ]
    batches = json_lines(json_log, event="a batch failed: its items are retried one at a time")
    with_it = [batch for batch in batches if poisoned in batch["eventIds"]]
    assert len(with_it) == MAX_ITEM_FAILURES
    assert all(api.org_id in batch["orgIds"] for batch in with_it)
