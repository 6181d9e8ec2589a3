"""Alerts raised by the workers themselves: ingest failures (one alert per meter and failure
type), failed export jobs (resolved by the schedule's next success), rules that fail to
evaluate (without feeding themselves on their own alerts' events)."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from meterbell.config import Settings
from meterbell.domain.clock import utcnow
from meterbell.domain.measurements import INGEST_FAILURE
from meterbell.store.db import Database
from meterbell.workers.dispatcher import Dispatcher
from tests.conftest import OrgApi
from tests.exporting import created, exporter, gcs_destination, operational_schedule, run_jobs
from tests.ingesting import (
    accepted,
    events_named,
    measurement,
    new_meter,
    validate_all,
    validator,
)
from tests.integration.api.test_alerts import listed
from tests.integration.workers.test_ingest import poison

ZERO_DIVISOR = "(new.count - new.count)"


async def alerts_of(api: OrgApi, alert_type: str) -> list[dict[str, Any]]:
    return await listed(api, type=alert_type)


async def dispatch_all(db: Database) -> None:
    while await Dispatcher(db).step():
        pass


def cause_of(alert: dict[str, Any]) -> tuple[str, str]:
    """An API_INGEST alert's meter (its id, or the code no meter has) and failure type."""
    return alert["resourceId"], alert["cause"]


async def test_ingest_failures_make_one_alert_per_meter_and_failure_type(
    api: OrgApi, db: Database
) -> None:
    meter = await new_meter(api)
    missing = {"who": {}, "measure": {"requests": 1, "bytes": 1}}
    await accepted(api, measurement(**missing), measurement(**missing))
    await accepted(api, measurement(meter="no_such_meter"))
    await validate_all(db)
    failures = await events_named(api, INGEST_FAILURE)
    assert len(failures) == 3
    by_cause = {cause_of(alert): alert for alert in await alerts_of(api, "API_INGEST")}
    assert set(by_cause) == {
        (meter["id"], "MissingField"),
        ("no_such_meter", "UndefinedMeter"),
    }
    fields = by_cause[(meter["id"], "MissingField")]
    assert (fields["count"], fields["severity"], fields["status"]) == (2, "WARN", "NEW")
    assert fields["resourceType"] == "Meter"
    assert fields["description"].startswith(
        "Measurements for meter 'api_calls' failed validation with MissingField (the latest: "
    )
    assert "They were not stored" in fields["description"]
    missing_ids = {
        e["id"]
        for e in failures
        if e["m3terEvent"]["eventData"]["newDto"]["type"] == "MissingField"
    }
    assert set(fields["eventIds"]) == missing_ids
    undefined = by_cause[("no_such_meter", "UndefinedMeter")]
    assert undefined["count"] == 1
    assert "Create the meter" in undefined["description"]

    await accepted(api, measurement(**missing))
    await validate_all(db)
    assert {cause_of(a): a["count"] for a in await alerts_of(api, "API_INGEST")} == {
        (meter["id"], "MissingField"): 3,
        ("no_such_meter", "UndefinedMeter"): 1,
    }
    of_meter = await api.get("alerts", params={"resourceId": meter["id"]})
    assert [cause_of(a) for a in of_meter.json()["data"]] == [(meter["id"], "MissingField")]
    created_events = await events_named(api, "configuration.alert.created")
    assert len(created_events) == 2


async def test_a_submission_set_aside_raises_an_unexpected_error_alert(
    api: OrgApi, db: Database
) -> None:
    await poison(db, api.org_id, '{"measurements": "not a list"}')
    engine = validator(db)
    for _ in range(3):  # the batch fails (the worker loop logs it), then the submission alone
        with contextlib.suppress(AttributeError, TypeError):
            await engine.step()
    [alert] = await alerts_of(api, "API_INGEST")
    assert cause_of(alert) == ("", "UnexpectedError")
    assert alert["description"].startswith("Measurements without a meter code failed")
    assert "See the server log" in alert["description"]
    [failure] = await events_named(api, INGEST_FAILURE)
    assert alert["eventIds"] == [failure["id"]]


async def test_a_failed_scheduled_export_raises_an_alert_its_next_success_resolves(
    api: OrgApi, db: Database, settings: Settings
) -> None:
    gcs = await created(api, "dataexports/destinations", gcs_destination())
    schedule = await created(
        api, "dataexports/schedules", operational_schedule(destinationIds=[gcs["id"]])
    )
    await run_jobs(exporter(db, settings))
    [alert] = await alerts_of(api, "DATA_EXPORT")
    [failure] = await events_named(api, "dataexport.job.failure")
    job_id = failure["m3terEvent"]["eventData"]["newDto"]["jobId"]
    assert (alert["severity"], alert["status"], alert["count"]) == ("ERROR", "NEW", 1)
    assert (alert["resourceType"], alert["resourceId"]) == ("ExportSchedule", schedule["id"])
    assert alert["eventIds"] == [failure["id"]]
    assert f"Export job {job_id} of schedule {schedule['id']} failed" in alert["description"]
    assert "not supported in this build" in alert["description"]

    fixed = await api.put(
        f"dataexports/schedules/{schedule['id']}", {**schedule, "destinationIds": []}
    )
    assert fixed.status_code == 200, fixed.text
    tomorrow = utcnow() + timedelta(days=1, hours=1)
    await exporter(db, settings, now=lambda: tomorrow).schedule_step()
    await run_jobs(exporter(db, settings, now=lambda: tomorrow))  # other tests' jobs too
    jobs = await api.get("dataexports/jobs", params={"scheduleId": schedule["id"]})
    assert sorted(job["status"] for job in jobs.json()["data"]) == ["FAILED", "SUCCEEDED"]
    [resolved] = await alerts_of(api, "DATA_EXPORT")
    assert resolved["status"] == "RESOLVED"
    assert resolved["description"].endswith("of the schedule succeeded.")
    assert "Resolved: job " in resolved["description"]


async def test_a_failed_ad_hoc_export_raises_an_alert_on_its_job(
    api: OrgApi, db: Database, settings: Settings
) -> None:
    response = await api.post(
        "dataexports/adhoc",
        {
            "sourceType": "OPERATIONAL",
            "operationalDataTypes": ["PLANS"],
            "destinationIds": [
                (await created(api, "dataexports/destinations", gcs_destination()))["id"]
            ],
        },
    )
    assert response.status_code == 200, response.text
    job_id = response.json()["jobId"]
    await run_jobs(exporter(db, settings))
    [alert] = await alerts_of(api, "DATA_EXPORT")
    assert (alert["resourceType"], alert["resourceId"]) == ("ExportJob", job_id)
    assert "Run the export again" in alert["description"]


async def rule(api: OrgApi, event_name: str, calculation: str) -> dict[str, Any]:
    return await created(
        api,
        "notifications/configurations",
        {
            "name": f"rule on {event_name}",
            "code": f"rule_{event_name.replace('.', '_')}",
            "description": "fails to evaluate",
            "eventName": event_name,
            "calculation": calculation,
            "alwaysFireEvent": False,
        },
    )


async def test_a_rule_that_fails_to_evaluate_raises_an_alert_on_the_rule(
    api: OrgApi, db: Database
) -> None:
    broken = await rule(
        api, "configuration.meter.created", "new.version / (new.version - new.version) > 0"
    )
    meters = [await new_meter(api, code=f"m{i}") for i in range(3)]
    await dispatch_all(db)
    [alert] = await alerts_of(api, "NOTIFICATION_EVALUATION_ERROR")
    assert (alert["resourceType"], alert["resourceId"]) == ("NotificationRule", broken["id"])
    assert (alert["severity"], alert["count"]) == ("WARN", 3)
    sources = await events_named(api, "configuration.meter.created")
    assert set(alert["eventIds"]) == {e["id"] for e in sources}
    assert len(sources) == len(meters)
    assert "could not be evaluated on a configuration.meter.created event" in (alert["description"])
    assert "\n" not in alert["description"]


async def test_a_rule_failing_on_alert_events_does_not_feed_on_its_own_alert(
    api: OrgApi, db: Database
) -> None:
    broken = await rule(api, "configuration.alert.updated", f"new.count / {ZERO_DIVISOR} > 0")
    await new_meter(api)
    for _ in range(3):  # an API_INGEST alert, then updated twice
        await accepted(api, measurement(meter="no_such_meter"))
        await validate_all(db)
        await dispatch_all(db)
    [ingest] = await alerts_of(api, "API_INGEST")
    assert ingest["count"] == 3
    [evaluation] = await alerts_of(api, "NOTIFICATION_EVALUATION_ERROR")
    assert evaluation["resourceId"] == broken["id"]
    # The rule failed on both updates of the ingest alert, and on the update of its own alert,
    # which raised nothing.
    assert evaluation["count"] == 2
    await dispatch_all(db)
    assert (await alerts_of(api, "NOTIFICATION_EVALUATION_ERROR"))[0]["version"] == 2
