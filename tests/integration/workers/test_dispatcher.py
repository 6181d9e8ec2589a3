"""The dispatcher drains the outbox oldest first and marks events actioned exactly once."""

from __future__ import annotations

from datetime import UTC, datetime

from meterbell.domain.catalog import entity_by_name
from meterbell.store.db import Database
from meterbell.workers.dispatcher import Dispatcher
from tests.conftest import OrgApi
from tests.factories import minimal_body

FIXED_NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def test_dispatch_marks_every_event_actioned(api: OrgApi, db: Database) -> None:
    for _ in range(5):
        await api.post("products", minimal_body(entity_by_name("product")))
    dispatcher = Dispatcher(db, batch_size=2, now=lambda: FIXED_NOW)
    while await dispatcher.step():
        pass
    events = (await api.get("events", params={"pageSize": 100})).json()["data"]
    assert len(events) >= 5
    assert {e["dtActioned"] for e in events} == {"2026-11-23T12:00:00.000Z"}
    pending = await api.get("events", params={"includeActioned": "false"})
    assert pending.json()["data"] == []
