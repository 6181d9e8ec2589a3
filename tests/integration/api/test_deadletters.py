"""Dead letters through the API: listed newest first with filters and pages, read one by one,
replayed once (the item goes back to its worker), and walled off between organizations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.catalog import entity_by_name
from meterbell.domain.clock import utcnow
from meterbell.domain.deadletters import Worker, WorkItem
from meterbell.store import events as event_store
from meterbell.store.db import Database
from meterbell.workers.isolation import Isolation
from tests.conftest import OrgApi
from tests.factories import minimal_body


async def _leave_in_place(
    conn: AsyncConnection, item: WorkItem, reason: str, now: datetime
) -> str | None:
    return None


async def set_aside_event(api: OrgApi, db: Database) -> str:
    """A product's event, set aside by the dispatcher's isolation; its dead letter's id."""
    product = (await api.post("products", minimal_body(entity_by_name("product")))).json()
    (event,) = (await api.get("events", params={"resourceId": product["id"]})).json()["data"]
    async with db.write() as conn:
        await event_store.set_dispatched(conn, api.org_id, event["id"], utcnow())
    item = WorkItem(Worker.DISPATCHER, api.org_id, event["id"])
    letter = await Isolation(db, max_failures=1).failed(item, RuntimeError("boom"), _leave_in_place)
    assert letter is not None
    return letter.id


async def listed(api: OrgApi, **params: Any) -> list[str]:
    response = await api.get("deadletters", params=params)
    assert response.status_code == 200, response.text
    return [letter["id"] for letter in response.json()["data"]]


async def test_dead_letters_are_listed_read_and_replayed_once(
    api: OrgApi, other_api: OrgApi, db: Database
) -> None:
    first, second = await set_aside_event(api, db), await set_aside_event(api, db)
    assert await listed(api) == [second, first]
    page = (await api.get("deadletters", params={"pageSize": 1})).json()
    assert [letter["id"] for letter in page["data"]] == [second]
    rest = await listed(api, pageSize=1, nextToken=page["nextToken"])
    assert rest == [first]
    assert await listed(api, worker="dispatcher") == [second, first]
    assert await listed(api, worker="exporter") == []

    letter = (await api.get(f"deadletters/{first}")).json()
    assert (letter["worker"], letter["attempts"], letter["dtReplayed"]) == ("dispatcher", 1, None)
    assert letter["error"].startswith("RuntimeError: boom")

    replay = await api.post(f"deadletters/{first}/replay")
    assert replay.status_code == 200, replay.text
    assert replay.json()["replayedBy"] is not None
    async with db.read() as conn:
        event = await event_store.get_event(conn, api.org_id, letter["itemId"])
    assert event is not None
    assert event.dispatched_at is None  # back in the dispatcher's queue
    again = await api.post(f"deadletters/{first}/replay")
    assert again.status_code == 409
    assert "already replayed" in again.json()["message"]
    assert await listed(api, replayed="true") == [first]
    assert await listed(api, replayed="false") == [second]

    assert await listed(other_api) == []
    for response in (
        await other_api.get(f"deadletters/{second}"),
        await other_api.post(f"deadletters/{second}/replay"),
    ):
        assert response.status_code == 404, response.text
    assert (await api.get(f"deadletters/{second}")).json()["dtReplayed"] is None


async def test_bad_filters_are_400(api: OrgApi) -> None:
    for params in ({"worker": "nobody"}, {"replayed": "maybe"}, {"nextToken": "nope"}):
        response = await api.get("deadletters", params=params)
        assert response.status_code == 400, response.text
        assert response.json()["message"]
