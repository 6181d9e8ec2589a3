"""Data-export configuration through the API: destinations, schedules, ad hoc requests and
job listing, with every refusal a user can run into."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from meterbell.domain.clock import utcnow
from tests.conftest import OrgApi
from tests.exporting import (
    created,
    local_destination,
    meter,
    operational_schedule,
    s3_destination,
    usage_schedule,
)


async def refused(api: OrgApi, path: str, body: dict[str, Any], status: int = 400) -> str:
    response = await api.post(path, body)
    assert response.status_code == status, response.text
    return str(response.json()["message"])


# Destinations


async def test_s3_destination_lifecycle(api: OrgApi) -> None:
    destination = await created(
        api, "dataexports/destinations", s3_destination("usage-bucket", prefix="billing")
    )
    assert destination["destinationType"] == "S3"
    assert destination["bucketName"] == "usage-bucket"
    assert destination["version"] == 1
    path = f"dataexports/destinations/{destination['id']}"
    changed = await api.put(path, {**destination, "partitionOrder": "TYPE_FIRST"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["partitionOrder"] == "TYPE_FIRST"
    assert changed.json()["version"] == 2
    stale = await api.put(path, {**destination, "prefix": "other"})
    assert stale.status_code == 409
    listed = await api.get("dataexports/destinations", params={"ids": destination["id"]})
    assert [d["id"] for d in listed.json()["data"]] == [destination["id"]]
    assert (await api.delete(path)).status_code == 200
    assert (await api.get(path)).status_code == 404


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"iamRoleArn": None}, "'iamRoleArn' is required for an S3 destination"),
        ({"iamRoleArn": "role/x"}, "'iamRoleArn' must look like arn:aws:iam::"),
        ({"bucketName": "ab"}, "'bucketName' must be at least 3 characters long"),
        ({"destinationType": "FTP"}, "'destinationType' must be one of"),
        ({"partitionOrder": "RANDOM"}, "'partitionOrder' must be one of"),
        ({"code": " padded"}, "'code' must not start or end with whitespace"),
        ({"name": None}, "'name' is required"),
    ],
)
async def test_bad_destinations_are_refused(
    api: OrgApi, change: dict[str, Any], message: str
) -> None:
    body = {k: v for k, v in {**s3_destination("bucket"), **change}.items() if v is not None}
    assert message in await refused(api, "dataexports/destinations", body)


async def test_gcs_needs_its_identity_fields(api: OrgApi) -> None:
    body = {"name": "G", "code": "gcs_one", "destinationType": "GCS", "bucketName": "bucket"}
    message = await refused(api, "dataexports/destinations", body)
    assert "'projectNumber', 'poolId', 'providerId'" in message
    gcs = await created(
        api,
        "dataexports/destinations",
        {**body, "projectNumber": "1", "poolId": "pool", "providerId": "provider"},
    )
    assert gcs["destinationType"] == "GCS"


async def test_local_bucket_must_be_a_plain_folder_name(api: OrgApi) -> None:
    message = await refused(api, "dataexports/destinations", local_destination(bucketName="../etc"))
    assert "is a folder name" in message


async def test_a_destination_a_schedule_uses_cannot_be_deleted(api: OrgApi) -> None:
    destination = await created(api, "dataexports/destinations", local_destination())
    schedule = await created(
        api, "dataexports/schedules", operational_schedule(destinationIds=[destination["id"]])
    )
    response = await api.delete(f"dataexports/destinations/{destination['id']}")
    assert response.status_code == 409
    assert schedule["id"] in response.json()["message"]
    assert schedule["name"] in response.json()["message"]
    assert (await api.delete(f"dataexports/schedules/{schedule['id']}")).status_code == 200
    assert (await api.delete(f"dataexports/destinations/{destination['id']}")).status_code == 200


# Schedules


async def test_schedule_carries_its_cron_and_runs_once_at_creation(api: OrgApi) -> None:
    schedule = await created(api, "dataexports/schedules", operational_schedule(period=1, offset=3))
    assert schedule["cronExpression"] == "0 3 */1 * *"
    assert schedule["scheduleType"] == "DAY"
    assert schedule["exportFileFormat"] == "CSV"
    jobs = (await api.get("dataexports/jobs", params={"scheduleId": schedule["id"]})).json()
    assert [(j["status"], j["sourceType"]) for j in jobs["data"]] == [("PENDING", "OPERATIONAL")]


async def test_a_cron_schedule_is_accepted_and_updates_keep_it(api: OrgApi) -> None:
    schedule = await created(
        api,
        "dataexports/schedules",
        usage_schedule(scheduleType=None, period=None, cronExpression="30 */6 * * *"),
    )
    assert schedule["cronExpression"] == "30 */6 * * *"
    path = f"dataexports/schedules/{schedule['id']}"
    response = await api.put(path, {**schedule, "exportFileFormat": "JSONL"})
    assert response.status_code == 200, response.text
    assert response.json()["exportFileFormat"] == "JSONL"
    assert response.json()["cronExpression"] == "30 */6 * * *"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (usage_schedule(scheduleType="MINUTE", period=5), "15 minutes"),
        (usage_schedule(cronExpression="0 0 * * 1", scheduleType=None, period=None), "3 days"),
        (usage_schedule(cronExpression="every day", scheduleType=None, period=None), "every day"),
        (usage_schedule(scheduleType="MINUTE", period=15, offset=2), "offset"),
        (usage_schedule(scheduleType=None, period=None), "cronExpression"),
        (usage_schedule(timePeriod="LAST_3_DAYS"), "'timePeriod' must be one of"),
        (usage_schedule(timePeriod=None), "'timePeriod' is required"),
        (operational_schedule(operationalDataTypes=[]), "'operationalDataTypes' is required"),
        (operational_schedule(operationalDataTypes=["INVOICES"]), "unknown types INVOICES"),
        (operational_schedule(meterIds=["m"]), "'meterIds' belong to USAGE exports"),
        (usage_schedule(operationalDataTypes=["BILLS"]), "belongs to OPERATIONAL exports"),
        (usage_schedule(groups=[{"groupType": "ACCOUNT"}]), "'groups' need 'aggregations'"),
        (usage_schedule(exportFileFormat="XML"), "'exportFileFormat' must be one of"),
        (usage_schedule(destinationIds=["nope"]), "no export destination nope"),
        (usage_schedule(meterIds=["nope"]), "No meter nope"),
    ],
)
async def test_bad_schedules_are_refused(api: OrgApi, body: dict[str, Any], message: str) -> None:
    body = {k: v for k, v in body.items() if v is not None}
    assert message in await refused(api, "dataexports/schedules", body)


async def test_aggregations_are_checked_against_the_meter(api: OrgApi) -> None:
    calls = await created(api, "meters", meter())

    def aggregation(**fields: Any) -> dict[str, Any]:
        return {"meterId": calls["id"], "fieldCode": "requests", "fieldType": "MEASURE",
                "function": "SUM", **fields}  # fmt: skip

    unknown_field = usage_schedule(aggregations=[aggregation(fieldCode="bytes")])
    assert "has no field 'bytes'" in await refused(api, "dataexports/schedules", unknown_field)
    wrong_function = usage_schedule(aggregations=[aggregation(fieldType="DIMENSION")])
    message = await refused(api, "dataexports/schedules", wrong_function)
    assert "SUM does not apply to a DIMENSION" in message
    time_group = usage_schedule(aggregations=[aggregation()], groups=[{"groupType": "TIME"}])
    assert "needs a frequency" in await refused(api, "dataexports/schedules", time_group)
    good = usage_schedule(
        aggregations=[aggregation()],
        groups=[{"groupType": "ACCOUNT"}, {"groupType": "TIME", "frequency": "DAY"}],
    )
    assert (await created(api, "dataexports/schedules", good))["groups"][1]["frequency"] == "DAY"


async def test_another_organizations_meter_or_destination_is_unknown(
    api: OrgApi, other_api: OrgApi
) -> None:
    theirs = await created(other_api, "dataexports/destinations", local_destination())
    their_meter = await created(other_api, "meters", meter())
    body = usage_schedule(destinationIds=[theirs["id"]])
    assert "no export destination" in await refused(api, "dataexports/schedules", body)
    body = usage_schedule(meterIds=[their_meter["id"]])
    assert "No meter" in await refused(api, "dataexports/schedules", body)


# Ad hoc and jobs


async def test_adhoc_usage_needs_a_sensible_date_range(api: OrgApi) -> None:
    tomorrow = (utcnow() + timedelta(days=1)).date()
    path = "dataexports/adhoc"
    usage = {"sourceType": "USAGE"}
    assert "needs 'startDate' and 'endDate'" in await refused(api, path, usage)
    backwards = {**usage, "startDate": "2026-02-01T00:00:00Z", "endDate": "2026-01-01T00:00:00Z"}
    assert "'endDate' must be after 'startDate'" in await refused(api, path, backwards)
    late = {**usage, "startDate": "2026-01-01T00:00:00Z", "endDate": f"{tomorrow}T00:00:01Z"}
    assert "must not be after tomorrow 00:00 UTC" in await refused(api, path, late)
    naive = {**usage, "startDate": "2026-01-01T00:00:00", "endDate": f"{tomorrow}T00:00:00Z"}
    assert "'startDate' needs a time zone" in await refused(api, path, naive)
    good = {**usage, "startDate": "2026-01-01T00:00:00Z", "endDate": f"{tomorrow}T00:00:00Z"}
    response = await api.post(path, good)
    assert response.status_code == 200, response.text
    job = (await api.get(f"dataexports/jobs/{response.json()['jobId']}")).json()
    assert job["status"] == "PENDING"
    assert job["scheduleId"] is None
    assert (job["startDate"], job["endDate"]) == (
        "2026-01-01T00:00:00.000Z",
        f"{tomorrow}T00:00:00.000Z",
    )


async def test_jobs_list_filters(api: OrgApi) -> None:
    schedule = await created(api, "dataexports/schedules", operational_schedule())
    adhoc = await api.post(
        "dataexports/adhoc", {"sourceType": "OPERATIONAL", "operationalDataTypes": ["METERS"]}
    )
    adhoc_id = adhoc.json()["jobId"]

    async def ids(**params: str) -> list[str]:
        response = await api.get("dataexports/jobs", params=params)
        assert response.status_code == 200, response.text
        return [j["id"] for j in response.json()["data"]]

    every = await ids()
    assert len(every) == 2
    assert every[0] == adhoc_id
    assert await ids(scheduleId=schedule["id"]) == [every[1]]
    assert await ids(status="PENDING") == every
    assert await ids(status="FAILED") == []
    assert await ids(ids=adhoc_id) == [adhoc_id]
    assert await ids(dateCreatedStart="2999-01-01T00:00:00Z") == []
    assert await ids(dateCreatedEnd="2999-01-01T00:00:00Z") == every
    assert len(await ids(pageSize="1")) == 1
    for params, message in [
        ({"status": "DONE"}, "status must be one of"),
        ({"dateCreatedStart": "yesterday"}, "dateCreatedStart must be a date-time"),
        ({"pageSize": "101"}, "pageSize must be from 1 to 100"),
    ]:
        response = await api.get("dataexports/jobs", params=params)
        assert response.status_code == 400
        assert message in response.json()["message"]


async def test_pending_job_has_no_download_yet(api: OrgApi) -> None:
    response = await api.post(
        "dataexports/adhoc", {"sourceType": "OPERATIONAL", "operationalDataTypes": ["BILLS"]}
    )
    job_id = response.json()["jobId"]
    download = await api.get(f"dataexports/jobs/{job_id}/getdownloadurl")
    assert download.status_code == 409
    assert "once it has SUCCEEDED" in download.json()["message"]
    missing = await api.get("dataexports/jobs/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
