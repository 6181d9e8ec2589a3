"""Events older than the retention period are deleted; younger ones stay."""

from __future__ import annotations

from datetime import timedelta

from meterbell.domain.catalog import entity_by_name
from meterbell.domain.clock import utcnow
from meterbell.store.db import Database
from meterbell.workers.retention import Retention
from tests.conftest import OrgApi
from tests.factories import minimal_body


async def event_ids(api: OrgApi) -> set[str]:
    return {e["id"] for e in (await api.get("events", params={"pageSize": 100})).json()["data"]}


async def test_retention_deletes_only_expired_events(api: OrgApi, db: Database) -> None:
    await api.post("products", minimal_body(entity_by_name("product")))
    existing = await event_ids(api)

    nothing_yet = Retention(db, retention_days=28, now=lambda: utcnow() + timedelta(days=27))
    while await nothing_yet.step():
        pass
    assert await event_ids(api) == existing

    later = Retention(
        db, retention_days=28, batch_size=2, now=lambda: utcnow() + timedelta(days=29)
    )
    while await later.step():
        pass
    assert await event_ids(api) == set()
