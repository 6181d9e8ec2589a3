"""The ingest validator: each failure type raises its event with the right data and the right
ingested / not-ingested outcome; derived fields; skeleton accounts; the uid window."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import select

from meterbell.domain.clock import utcnow
from meterbell.domain.measurements import UID_WINDOW
from meterbell.services import entities
from meterbell.store import ingest as ingest_store
from meterbell.store.db import Database
from meterbell.store.tables import measurement_uids, measurements
from meterbell.store.wakeups import Wakeup
from meterbell.workers.ingest import IngestValidator
from meterbell.workers.retention import Retention
from tests.conftest import OrgApi
from tests.ingesting import (
    accepted,
    events_named,
    failures,
    measurement,
    new_account,
    new_meter,
    stored,
    validate_all,
    validator,
)

FILE_PATTERN = r"failedIngest/[0-9a-f-]{36}\.json"


async def test_a_valid_measurement_is_stored_with_its_derived_fields(
    api: OrgApi, db: Database
) -> None:
    meter = await new_meter(api)
    account = await new_account(api, "acme")
    item = measurement(ts="2026-11-20T12:00:00+02:00", ets="2026-11-20T11:00:00Z")
    await accepted(api, item)
    await validate_all(db)
    [row] = await stored(db, api.org_id)
    assert (row.meter_id, row.account_id, row.uid) == (meter["id"], account["id"], item["uid"])
    assert row.ts.replace(tzinfo=UTC) == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert row.ets.replace(tzinfo=UTC) == datetime(2026, 11, 20, 11, tzinfo=UTC)
    assert row.fields == {"user": "ada", "requests": 4, "bytes": 1000, "bytesPerRequest": 250.0}
    assert await failures(api) == []
    assert await stored_at(db, api.org_id, datetime(2026, 11, 20, 10, tzinfo=UTC)) == [item["uid"]]


async def stored_at(db: Database, org_id: str, ts: datetime) -> list[str]:
    """Uids of the organization's measurements at exactly `ts`, compared by the store (as
    exports query)."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(measurements.c.uid).where(
                (measurements.c.org_id == org_id) & (measurements.c.ts == ts)
            )
        )
        return list(rows.scalars())


async def test_undefined_meter_is_not_ingested(api: OrgApi, db: Database) -> None:
    await new_meter(api)
    item = measurement(meter="no_such_meter", uid="u-1")
    await accepted(api, item)
    await validate_all(db)
    assert await stored(db, api.org_id) == []
    [failure] = await failures(api)
    assert failure["type"] == "UndefinedMeter"
    assert (failure["meter"], failure["account"], failure["uid"]) == (
        "no_such_meter",
        "acme",
        "u-1",
    )
    assert failure["ts"] == item["ts"]
    assert "no_such_meter" in failure["reason"]
    assert failure["getDownloadUrl"].startswith("failedIngest/")


async def test_missing_data_field_is_not_ingested(api: OrgApi, db: Database) -> None:
    await new_meter(api)
    await accepted(api, measurement(measure={"requests": 4}))
    await validate_all(db)
    assert await stored(db, api.org_id) == []
    [failure] = await failures(api)
    assert failure["type"] == "MissingField"
    assert "measure.bytes" in failure["reason"]


async def test_a_field_in_the_wrong_category_is_missing(api: OrgApi, db: Database) -> None:
    await new_meter(api)
    await accepted(api, measurement(who={}, what={"user": "ada"}))
    await validate_all(db)
    assert await stored(db, api.org_id) == []
    [failure] = await failures(api)
    assert (failure["type"], "who.user" in failure["reason"]) == ("MissingField", True)


async def test_same_code_in_two_categories_is_a_duplicate_field(api: OrgApi, db: Database) -> None:
    await new_meter(api)
    await accepted(api, measurement(what={"requests": "many"}))
    await validate_all(db)
    assert await stored(db, api.org_id) == []
    [failure] = await failures(api)
    assert failure["type"] == "DuplicateField"
    assert "'requests'" in failure["reason"]
    assert "'measure'" in failure["reason"]
    assert "'what'" in failure["reason"]


async def test_failed_derived_field_is_ingested_without_it(api: OrgApi, db: Database) -> None:
    await new_meter(api)
    item = measurement(measure={"requests": 0, "bytes": 10})
    await accepted(api, item)
    await validate_all(db)
    [row] = await stored(db, api.org_id)
    assert row.fields == {"user": "ada", "requests": 0, "bytes": 10}
    [failure] = await failures(api)
    assert failure["type"] == "CalculationError"
    assert failure["uid"] == item["uid"]
    assert "bytesPerRequest" in failure["reason"]
    assert "division by zero" in failure["reason"]


async def test_derived_field_of_the_wrong_type_is_a_calculation_error(
    api: OrgApi, db: Database
) -> None:
    derived = [{"category": "MEASURE", "code": "label", "name": "L", "calculation": "user + 1"}]
    await new_meter(api, derivedFields=derived)
    await accepted(api, measurement())
    await validate_all(db)
    [row] = await stored(db, api.org_id)
    assert "label" not in row.fields
    [failure] = await failures(api)
    assert (failure["type"], "must be a number" in failure["reason"]) == ("CalculationError", True)


async def test_repeated_uid_is_ingested_once(api: OrgApi, db: Database) -> None:
    await new_meter(api)
    first = measurement(uid="same")
    await accepted(api, first)
    await validate_all(db)
    await accepted(api, measurement(uid="same"), measurement(uid="same", ts="2026-11-21T00:00:00Z"))
    await validate_all(db)
    rows = await stored(db, api.org_id)
    assert [row.ts.replace(tzinfo=UTC) for row in rows] == [datetime(2026, 11, 20, 10, tzinfo=UTC)]
    duplicates = await failures(api)
    assert [f["type"] for f in duplicates] == ["DuplicateUid", "DuplicateUid"]
    assert all(f["uid"] == "same" and "35 days" in f["reason"] for f in duplicates)


async def test_repeated_uid_within_one_submission_is_ingested_once(
    api: OrgApi, db: Database
) -> None:
    await new_meter(api)
    await accepted(api, measurement(uid="twice"), measurement(uid="twice"))
    await validate_all(db)
    assert len(await stored(db, api.org_id)) == 1
    assert [f["type"] for f in await failures(api)] == ["DuplicateUid"]


async def test_uid_is_free_again_after_35_days(api: OrgApi, db: Database) -> None:
    await new_meter(api)
    await accepted(api, measurement(uid="old"))
    await validate_all(db)
    await accepted(api, measurement(uid="old"))
    await validate_all(db, now=datetime.now(UTC) + UID_WINDOW + timedelta(minutes=1))
    assert len(await stored(db, api.org_id)) == 2
    assert await failures(api) == []


async def test_failed_measurement_does_not_use_up_its_uid(api: OrgApi, db: Database) -> None:
    await new_meter(api)
    await accepted(api, measurement(uid="retry", measure={"requests": 1}))
    await validate_all(db)
    await accepted(api, measurement(uid="retry"))
    await validate_all(db)
    assert [row.uid for row in await stored(db, api.org_id)] == ["retry"]
    assert [f["type"] for f in await failures(api)] == ["MissingField"]


async def test_unknown_account_code_creates_a_skeleton_account(api: OrgApi, db: Database) -> None:
    await new_meter(api)
    await accepted(api, measurement(account="newco"), measurement(account="newco"))
    await validate_all(db)
    await accepted(api, measurement(account="newco"))
    await validate_all(db)
    accounts = (await api.get("accounts", params={"codes": "newco"})).json()["data"]
    assert len(accounts) == 1
    account = accounts[0]
    assert account["name"] == "newco-autocreated"
    assert account["emailAddress"].endswith("-autocreated@example.com")
    created = await events_named(api, "configuration.account.created")
    assert [e["m3terEvent"]["eventData"]["newDto"]["id"] for e in created] == [account["id"]]
    assert [row.account_id for row in await stored(db, api.org_id)] == [account["id"]] * 3
    assert await failures(api) == []


async def test_account_code_differing_only_in_case_is_invalid(api: OrgApi, db: Database) -> None:
    await new_meter(api)
    await new_account(api, "Acme")
    await accepted(api, measurement(account="ACME", uid="u-case"))
    await validate_all(db)
    assert await stored(db, api.org_id) == []
    [failure] = await failures(api)
    assert (failure["type"], failure["account"], failure["uid"]) == (
        "InvalidAccountCode",
        "ACME",
        "u-case",
    )
    assert "'Acme'" in failure["reason"]
    accounts = (await api.get("accounts")).json()["data"]
    assert [a["code"] for a in accounts] == ["Acme"]


async def test_two_new_codes_differing_in_case_create_one_account(
    api: OrgApi, db: Database
) -> None:
    await new_meter(api)
    await accepted(api, measurement(account="Zeta"), measurement(account="ZETA"))
    await validate_all(db)
    assert [a["code"] for a in (await api.get("accounts")).json()["data"]] == ["Zeta"]
    assert len(await stored(db, api.org_id)) == 1
    assert [f["type"] for f in await failures(api)] == ["InvalidAccountCode"]


async def test_account_code_breaking_the_code_rule_is_invalid(api: OrgApi, db: Database) -> None:
    await new_meter(api)
    await accepted(api, measurement(account=" padded"))
    await validate_all(db)
    assert await stored(db, api.org_id) == []
    assert (await api.get("accounts")).json()["data"] == []
    [failure] = await failures(api)
    assert (failure["type"], "whitespace" in failure["reason"]) == ("InvalidAccountCode", True)


async def test_meter_change_is_seen_by_a_running_validator(api: OrgApi, db: Database) -> None:
    meter = await new_meter(api)
    engine = validator(db)
    await accepted(api, measurement())
    while await engine.step():
        pass
    region = {"category": "WHERE", "code": "region", "name": "Region"}
    changed = {**meter, "dataFields": [*meter["dataFields"], region]}
    assert (await api.put(f"meters/{meter['id']}", changed)).status_code == 200
    await accepted(api, measurement(), measurement(where={"region": "eu"}))
    while await engine.step():
        pass
    rows = await stored(db, api.org_id)
    assert [row.fields.get("region") for row in rows] == [None, "eu"]
    [failure] = await failures(api)
    assert (failure["type"], "where.region" in failure["reason"]) == ("MissingField", True)


async def test_one_batch_mixes_outcomes_in_order(api: OrgApi, db: Database) -> None:
    await new_meter(api)
    await new_account(api, "acme")
    items = [
        measurement(uid="ok-1"),
        measurement(uid="bad-meter", meter="nope"),
        measurement(uid="ok-2"),
        measurement(uid="missing", who={}),
    ]
    await accepted(api, *items)
    assert await validate_all(db) == 1
    assert [row.uid for row in await stored(db, api.org_id)] == ["ok-1", "ok-2"]
    assert [(f["uid"], f["type"]) for f in await failures(api)] == [
        ("bad-meter", "UndefinedMeter"),
        ("missing", "MissingField"),
    ]


async def poison(db: Database, org_id: str, body: str) -> None:
    """A submission the API would have refused, put in the inbox as if it had been accepted."""
    async with db.write() as conn:
        await ingest_store.add_submission(conn, org_id, utcnow(), 1, body)


async def test_a_submission_the_validator_fails_on_is_set_aside_and_the_rest_go_on(
    api: OrgApi, db: Database
) -> None:
    await new_meter(api)
    await new_account(api, "acme")
    await accepted(api, measurement(uid="before"))
    bad_ts = orjson.dumps({"measurements": [measurement(uid="bad-ts", ts="no time")]}).decode()
    await poison(db, api.org_id, bad_ts)
    await poison(db, api.org_id, '{"measurements": "not a list"}')
    await accepted(api, measurement(uid="after"))
    engine = validator(db)
    for _ in range(10):  # a batch fails (the worker loop logs it), then one at a time
        with contextlib.suppress(ValueError, TypeError):
            if not await engine.step():
                break
    else:
        raise AssertionError("the inbox never emptied")
    assert [row.uid for row in await stored(db, api.org_id)] == ["before", "after"]
    set_aside = await failures(api)
    assert [(f["uid"], f["type"]) for f in set_aside] == [
        ("bad-ts", "UnexpectedError"),
        (None, "UnexpectedError"),
    ]
    assert "ValueError" in set_aside[0]["reason"]
    assert "send it again" in set_aside[0]["reason"]
    response = await api.get(
        "measurements/failedIngest/getDownloadUrl", params={"file": set_aside[1]["getDownloadUrl"]}
    )
    kept = (await api.client.get(response.json()["url"])).json()
    assert kept["measurement"] == {"body": '{"measurements": "not a list"}'}


async def test_failure_events_point_at_the_meter_and_account(api: OrgApi, db: Database) -> None:
    meter = await new_meter(api)
    account = await new_account(api, "acme")
    await accepted(api, measurement(measure={"requests": 0, "bytes": 1}))
    await validate_all(db)
    [event] = await events_named(api, "ingest.validation.failure")
    assert event["m3terEvent"]["eventData"]["newDto"]["getDownloadUrl"]
    by_account = await api.get("events", params={"accountId": account["id"]})
    assert event["id"] in {e["id"] for e in by_account.json()["data"]}
    by_meter = await api.get("events", params={"resourceId": meter["id"]})
    assert event["id"] in {e["id"] for e in by_meter.json()["data"]}
    listed = await api.get("events", params={"eventType": "IngestValidationFailure"})
    assert [e["id"] for e in listed.json()["data"]] == [event["id"]]


async def test_failure_event_fields_are_declared_for_rules(api: OrgApi) -> None:
    fields = await api.get("events/fields", params={"eventName": "ingest.validation.failure"})
    declared = fields.json()["events"]["ingest.validation.failure"]
    assert declared["new.type"] == declared["new.getDownloadUrl"] == "string"
    rule = {
        "name": "Undefined meters",
        "code": "undefined_meters",
        "eventName": "ingest.validation.failure",
        "calculation": 'new.type == "UndefinedMeter" AND new.meter != null',
    }
    response = await api.post("notifications/configurations", rule)
    assert response.status_code == 200, response.text
    bad = {**rule, "code": "bad", "calculation": "new.typo == 1"}
    refused = await api.post("notifications/configurations", bad)
    assert refused.status_code == 400
    assert "new.type" in refused.json()["message"]


async def test_organizations_have_their_own_meters_accounts_and_uids(
    api: OrgApi, other_api: OrgApi, db: Database
) -> None:
    meter = await new_meter(api)
    other_meter = await new_meter(other_api)
    await accepted(api, measurement(uid="shared"))
    await accepted(other_api, measurement(uid="shared"))
    await validate_all(db)
    [row] = await stored(db, api.org_id)
    [other_row] = await stored(db, other_api.org_id)
    assert (row.meter_id, other_row.meter_id) == (meter["id"], other_meter["id"])
    assert row.account_id != other_row.account_id
    assert await failures(api) == await failures(other_api) == []


async def uids_seen(db: Database, org_id: str) -> list[str]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(measurement_uids.c.uid).where(measurement_uids.c.org_id == org_id)
        )
        return list(rows.scalars())


async def run_retention(db: Database, days_later: int) -> None:
    later = datetime.now(UTC) + timedelta(days=days_later)
    retention = Retention(db, retention_days=28, batch_size=1, now=lambda: later)
    while await retention.step():
        pass


async def test_retention_keeps_uids_35_days_failures_as_long_as_events(
    api: OrgApi, db: Database
) -> None:
    await new_meter(api)
    await accepted(api, measurement(uid="kept"), measurement(uid="k2"), measurement(meter="no"))
    await validate_all(db)
    [failure] = await failures(api)
    link = {"file": failure["getDownloadUrl"]}
    await run_retention(db, days_later=27)
    assert (
        await api.get("measurements/failedIngest/getDownloadUrl", params=link)
    ).status_code == 200
    await run_retention(db, days_later=29)
    assert (
        await api.get("measurements/failedIngest/getDownloadUrl", params=link)
    ).status_code == 404
    assert sorted(await uids_seen(db, api.org_id)) == ["k2", "kept"]
    await run_retention(db, days_later=36)
    assert await uids_seen(db, api.org_id) == []
    assert [row.uid for row in await stored(db, api.org_id)] == ["kept", "k2"]


async def test_dispatcher_is_woken_when_validation_wrote_events(api: OrgApi, db: Database) -> None:
    await new_meter(api)
    await new_account(api, "acme")
    events_written = db.wakeups[Wakeup.EVENTS_WRITTEN]
    engine = IngestValidator(db, entities.create_in)

    async def step_wakes_dispatcher() -> bool:
        events_written.clear()
        assert await engine.step()
        return events_written.is_set()

    await accepted(api, measurement())
    assert not await step_wakes_dispatcher()
    await accepted(api, measurement(account="brand-new"))
    assert await step_wakes_dispatcher()
    await accepted(api, measurement(meter="nope"))
    assert await step_wakes_dispatcher()
    assert not await engine.step()
