"""The scheduler, driven by a fixed clock: each (configuration, entity, due time) fires exactly
once, when due; changed dates count, deleted entities and configurations never fire; downtime
is caught up within the retention window; concurrent schedulers never fire twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from meterbell.domain.clock import as_utc
from meterbell.store.db import Database
from meterbell.store.scheduled import due_query
from meterbell.store.tables import scheduled_targets
from meterbell.workers.retention import Retention
from meterbell.workers.scheduler import Scheduler
from tests.conftest import OrgApi, StoreInfo
from tests.scheduling import (
    ACCOUNT_ID,
    END_DATE_EVENT,
    at,
    change_bill,
    fired_for,
    new_bill,
    new_configuration,
    scheduled_events,
)


async def drain(scheduler: Scheduler) -> None:
    while await scheduler.step():
        pass


async def drain_retention(retention: Retention) -> None:
    while await retention.step():
        pass


async def step_at(db: Database, when: datetime, *, retention_days: int = 28) -> None:
    await drain(Scheduler(db, retention_days=retention_days, now=lambda: when))


async def targets_of(db: Database, org_id: str) -> list[tuple[str, datetime, bool]]:
    """(entity id, due time, fired?) of the organization's targets, by due time."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(scheduled_targets)
            .where(scheduled_targets.c.org_id == org_id)
            .order_by(scheduled_targets.c.due_at)
        )
        return [(r.entity_id, as_utc(r.due_at), r.fired_at is not None) for r in rows]


async def test_fires_once_when_the_date_plus_offset_is_reached(api: OrgApi, db: Database) -> None:
    await new_configuration(api, offset=5)
    bill = await new_bill(api, end_date="2099-03-01", status="PENDING")
    bill = await change_bill(api, bill, status="APPROVED")

    await step_at(db, at("2099-03-05T23:59:59.999"))
    assert await scheduled_events(api) == []

    await step_at(db, at("2099-03-06"))
    (event,) = await scheduled_events(api)
    assert event["eventName"] == END_DATE_EVENT
    assert event["eventTime"] == "2099-03-06T00:00:00.000Z"
    assert event["dtActioned"] is None
    assert event["m3terEvent"]["eventData"] == {"newDto": {**bill, "orgId": api.org_id}}
    assert event["m3terEvent"]["scheduledEvent"]["dueTime"] == "2099-03-06T00:00:00.000Z"
    for params in (
        {"resourceId": bill["id"]},
        {"accountId": ACCOUNT_ID},
    ):
        listed = (await api.get("events", params=params)).json()["data"]
        assert event["id"] in [e["id"] for e in listed], params

    await change_bill(api, bill, purchaseOrderNumber="PO-2")
    await step_at(db, at("2099-03-07"))
    await step_at(db, at("2099-03-20"))
    assert [e["id"] for e in await scheduled_events(api)] == [event["id"]]


async def test_a_changed_date_counts_and_the_old_one_never_fires(api: OrgApi, db: Database) -> None:
    await new_configuration(api, offset=5)
    bill = await new_bill(api, end_date="2099-03-01")
    bill = await change_bill(api, bill, endDate="2099-03-10")

    await step_at(db, at("2099-03-06"))
    await step_at(db, at("2099-03-14T23:59:59"))
    assert await scheduled_events(api) == []
    await step_at(db, at("2099-03-15"))
    (event,) = await scheduled_events(api)
    assert event["m3terEvent"]["eventData"]["newDto"]["endDate"] == "2099-03-10"

    bill = await change_bill(api, bill, endDate="2099-03-20")
    await step_at(db, at("2099-03-25"))
    assert [
        e["m3terEvent"]["eventData"]["newDto"]["endDate"] for e in await scheduled_events(api)
    ] == [
        "2099-03-10",
        "2099-03-20",
    ]

    await change_bill(api, bill, endDate="2099-03-10")
    await step_at(db, at("2099-03-26"))
    assert len(await scheduled_events(api)) == 2


async def test_a_deleted_entity_never_fires(api: OrgApi, db: Database) -> None:
    await new_configuration(api, offset=0)
    kept = await new_bill(api, end_date="2099-03-01")
    doomed = await new_bill(api, end_date="2099-03-01")
    assert (await api.delete(f"bills/{doomed['id']}")).status_code == 200
    assert await targets_of(db, api.org_id) == [(kept["id"], at("2099-03-01"), False)]

    await step_at(db, at("2099-03-02"))
    assert await fired_for(api) == [kept["id"]]


async def test_a_deleted_configuration_never_fires(api: OrgApi, db: Database) -> None:
    configuration = await new_configuration(api, offset=0)
    other = await new_configuration(api, name="scheduled.bill.other", offset=0)
    bill = await new_bill(api, end_date="2099-03-01")
    deleted = await api.delete(f"scheduledevents/configurations/{configuration['id']}")
    assert deleted.status_code == 200
    assert await targets_of(db, api.org_id) == [(bill["id"], at("2099-03-01"), False)]

    await step_at(db, at("2099-03-02"))
    assert await scheduled_events(api) == []
    assert len(await scheduled_events(api, other["name"])) == 1


async def test_a_changed_configuration_counts(api: OrgApi, db: Database) -> None:
    configuration = await new_configuration(api, offset=5)
    bill = await new_bill(api, end_date="2099-03-01", dueDate="2099-03-20")
    changed = await api.put(
        f"scheduledevents/configurations/{configuration['id']}",
        {**configuration, "field": "dueDate", "offset": 1},
    )
    assert changed.status_code == 200, changed.text

    await step_at(db, at("2099-03-06"))
    await step_at(db, at("2099-03-20T23:59:59"))
    assert await scheduled_events(api) == []
    await step_at(db, at("2099-03-21"))
    assert await fired_for(api) == [bill["id"]]


async def test_a_negative_offset_fires_before_the_date(api: OrgApi, db: Database) -> None:
    await new_configuration(api, offset=-3)
    bill = await new_bill(api, end_date="2099-03-10")

    await step_at(db, at("2099-03-06T23:59:59.999"))
    assert await scheduled_events(api) == []
    await step_at(db, at("2099-03-07"))
    assert await fired_for(api) == [bill["id"]]


async def test_a_date_time_field_fires_at_its_instant(api: OrgApi, db: Database) -> None:
    await new_configuration(api, name="scheduled.bill.closed", field="endDateTimeUTC", offset=1)
    bill = await new_bill(api, endDateTimeUTC="2099-03-01T12:30:00+02:00")

    await step_at(db, at("2099-03-02T10:29:59"))
    assert await scheduled_events(api, "scheduled.bill.closed") == []
    await step_at(db, at("2099-03-02T10:30:00"))
    assert await fired_for(api, "scheduled.bill.closed") == [bill["id"]]


async def test_catch_up_after_downtime_is_bounded_by_retention(api: OrgApi, db: Database) -> None:
    await new_configuration(api, offset=0)
    bills = {
        day: await new_bill(api, end_date=day)
        for day in ("2099-01-31", "2099-02-01", "2099-02-28", "2099-04-01")
    }
    await step_at(db, at("2098-12-31"))
    assert await scheduled_events(api) == []

    # Down until March; a restarted scheduler catches up on what came due within 28 days.
    await step_at(db, at("2099-03-01"), retention_days=28)
    assert await fired_for(api) == [bills["2099-02-01"]["id"], bills["2099-02-28"]["id"]]
    await step_at(db, at("2099-03-01"), retention_days=28)
    await step_at(db, at("2099-04-01"), retention_days=28)
    assert await fired_for(api) == [
        bills["2099-02-01"]["id"],
        bills["2099-02-28"]["id"],
        bills["2099-04-01"]["id"],
    ]


async def test_dates_already_past_when_configured_fire_once_within_retention(
    api: OrgApi, db: Database
) -> None:
    recent = await new_bill(api, end_date="2099-02-20")
    await new_bill(api, end_date="2099-01-15")
    await new_configuration(api, offset=0)

    await step_at(db, at("2099-03-01"))
    await step_at(db, at("2099-03-02"))
    assert await fired_for(api) == [recent["id"]]


async def test_two_schedulers_fire_each_target_exactly_once(
    api: OrgApi, db: Database, store_info: StoreInfo
) -> None:
    await new_configuration(api, offset=0)
    bills = [await new_bill(api, end_date="2099-03-01") for _ in range(40)]
    second_process = Database(store_info.url)
    batches = Counter[str]()

    async def drain_counting(name: str, database: Database) -> None:
        scheduler = Scheduler(database, batch_size=3, now=lambda: at("2099-03-02"))
        while await scheduler.step():
            batches[name] += 1

    try:
        await asyncio.gather(drain_counting("a", db), drain_counting("b", second_process))
    finally:
        await second_process.dispose()

    assert Counter(await fired_for(api)) == Counter({bill["id"]: 1 for bill in bills})
    if store_info.kind == "postgres":  # SQLite runs one writer at a time: one may do it all
        assert set(batches) == {"a", "b"}, batches


async def test_entities_written_while_a_configuration_is_created_all_get_targets(
    api: OrgApi, db: Database
) -> None:
    written = await asyncio.gather(
        *[new_bill(api, end_date="2099-03-01") for _ in range(25)],
        new_configuration(api, offset=0),
        *[new_bill(api, end_date="2099-03-01") for _ in range(25)],
    )
    bills = [bill for bill in written if "endDate" in bill]

    await step_at(db, at("2099-03-02"))
    assert sorted(await fired_for(api)) == sorted(bill["id"] for bill in bills)


async def test_retention_forgets_old_targets_and_they_never_fire_again(
    api: OrgApi, db: Database
) -> None:
    await new_configuration(api, offset=5)
    bill = await new_bill(api, end_date="2099-03-01")
    later = await new_bill(api, end_date="2099-05-01")
    await step_at(db, at("2099-03-06"))
    assert await targets_of(db, api.org_id) == [
        (bill["id"], at("2099-03-06"), True),
        (later["id"], at("2099-05-06"), False),
    ]

    # Kept for the retention period plus a day of grace, then deleted.
    await drain_retention(Retention(db, retention_days=28, now=lambda: at("2099-04-04")))
    assert len(await targets_of(db, api.org_id)) == 2
    await drain_retention(Retention(db, retention_days=28, now=lambda: at("2099-04-05")))
    assert await targets_of(db, api.org_id) == [(later["id"], at("2099-05-06"), False)]

    # A write of the bill adds its old target back, but it is too old to fire.
    await change_bill(api, bill, status="APPROVED")
    assert len(await targets_of(db, api.org_id)) == 2
    await step_at(db, at("2099-04-05"))
    assert await scheduled_events(api) == []


async def query_plan(db: Database, query: Select[Any]) -> str:
    async with db.read() as conn:
        compiled = query.compile(dialect=conn.dialect)
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # tables are tiny here
            rows = await conn.exec_driver_sql(f"EXPLAIN {compiled}", params)
        else:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)
        return "\n".join(str(row[-1]) for row in rows)


async def test_due_targets_are_found_through_the_index_of_unfired_due_times(db: Database) -> None:
    plan = await query_plan(
        db, due_query(now=at("2099-03-02"), not_before=at("2099-02-02"), limit=200)
    )
    assert "ix_scheduled_targets_unfired_due" in plan, plan
