"""The exporter against a real store and real files: usage (raw and aggregated) and
operational exports, kept files and LOCAL destinations with their layout, signed download
links, failures and their events, schedules coming due, leases, and exactly-once claims."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import pytest

from meterbell.config import Settings
from meterbell.domain.clock import utcnow
from meterbell.domain.download_links import DownloadSigner
from meterbell.domain.errors import Conflict, Forbidden
from meterbell.services import exports
from meterbell.store import exports as export_store
from meterbell.store.db import Database
from meterbell.store.export_storage import ExportStorage
from meterbell.workers.retention import Retention
from tests.conftest import TEST_SECRET_KEY, OrgApi
from tests.exporting import (
    add_measurements,
    at,
    created,
    download,
    exporter,
    files_under,
    gcs_destination,
    job,
    local_destination,
    meter,
    operational_schedule,
    parse,
    run_jobs,
    usage_schedule,
)

WINDOW = {"startDate": "2026-03-01T00:00:00Z", "endDate": "2026-03-03T00:00:00Z"}


async def usage_fixture(api: OrgApi, db: Database) -> tuple[dict[str, Any], dict[str, Any]]:
    """A meter and two accounts with measurements on 1 and 2 March 2026 (and one outside)."""
    calls = await created(api, "meters", meter())
    acme = await created(
        api, "accounts", {"name": "Acme", "code": "acme", "emailAddress": "a@example.com"}
    )
    beta = await created(
        api, "accounts", {"name": "Beta", "code": "beta", "emailAddress": "b@example.com"}
    )
    await add_measurements(
        db,
        api.org_id,
        calls["id"],
        [
            (acme["id"], "2026-03-01T10:00:00", {"region": "eu", "requests": 5}),
            (acme["id"], "2026-03-01T11:00:00", {"region": "us", "requests": 7}),
            (acme["id"], "2026-03-02T09:30:00", {"region": "eu", "requests": None}),
            (beta["id"], "2026-03-02T23:59:59", {"region": "eu", "requests": 2}),
            (beta["id"], "2026-03-03T00:00:00", {"region": "eu", "requests": 100}),
        ],
    )
    return calls, {"acme": acme, "beta": beta}


async def adhoc(api: OrgApi, body: dict[str, Any]) -> str:
    response = await api.post("dataexports/adhoc", body)
    assert response.status_code == 200, response.text
    return str(response.json()["jobId"])


async def test_raw_usage_csv_is_kept_for_download(
    api: OrgApi, db: Database, settings: Settings
) -> None:
    calls, _ = await usage_fixture(api, db)
    job_id = await adhoc(api, {"sourceType": "USAGE", "meterIds": [calls["id"]], **WINDOW})
    await run_jobs(exporter(db, settings))
    finished = await job(api, job_id)
    assert finished["status"] == "SUCCEEDED", finished
    assert finished["rowCount"] == 4
    assert finished["files"][0]["name"] == f"{job_id}_measurements.csv.gz"
    files = await download(api, job_id)
    rows = parse(files[f"{job_id}_measurements.csv.gz"], "CSV")
    assert sorted((r["account"], r["ts"], r["region"], r["requests"]) for r in rows) == [
        ("acme", "2026-03-01T10:00:00Z", "eu", "5"),
        ("acme", "2026-03-01T11:00:00Z", "us", "7"),
        ("acme", "2026-03-02T09:30:00Z", "eu", ""),
        ("beta", "2026-03-02T23:59:59Z", "eu", "2"),
    ]
    assert {r["meter"] for r in rows} == {"calls"}
    assert list(rows[0])[:5] == ["uid", "meter", "account", "ts", "ets"]


@pytest.mark.parametrize("file_format", ["CSV", "JSONL"])
async def test_raw_rows_come_in_time_order_with_exact_timestamps(
    api: OrgApi, db: Database, settings: Settings, file_format: str
) -> None:
    calls = await created(api, "meters", meter())
    acme = await created(
        api, "accounts", {"name": "Acme", "code": "acme", "emailAddress": "a@example.com"}
    )
    await add_measurements(
        db,
        api.org_id,
        calls["id"],
        [
            (acme["id"], "2026-03-02T08:00:00.250000", {"requests": 3}),
            (acme["id"], "2026-03-01T10:00:00", {"requests": 1}),
            (acme["id"], "2026-03-02T08:00:00.250000", {"requests": 4}),
            (acme["id"], "2026-03-01T12:30:00.000001", {"requests": 2}),
        ],
        ets=[None, "2026-03-01T09:59:59.5", None, "2026-03-01T12:00:00"],
    )
    job_id = await adhoc(api, {"sourceType": "USAGE", "exportFileFormat": file_format, **WINDOW})
    await run_jobs(exporter(db, settings))
    assert (await job(api, job_id))["status"] == "SUCCEEDED"
    [data] = (await download(api, job_id)).values()
    rows = parse(data, file_format)
    missing = "" if file_format == "CSV" else None
    requests = [str(row["requests"]) for row in rows]
    # Time order; the two measurements at the same instant in the order they were stored.
    assert [(row["ts"], row["ets"], n) for row, n in zip(rows, requests, strict=True)] == [
        ("2026-03-01T10:00:00Z", "2026-03-01T09:59:59.500000Z", "1"),
        ("2026-03-01T12:30:00.000001Z", "2026-03-01T12:00:00Z", "2"),
        ("2026-03-02T08:00:00.250000Z", missing, "3"),
        ("2026-03-02T08:00:00.250000Z", missing, "4"),
    ]


async def test_aggregated_usage_by_account_and_day_in_jsonl(
    api: OrgApi, db: Database, settings: Settings
) -> None:
    calls, accounts = await usage_fixture(api, db)

    def aggregation(code: str, field_type: str, function: str) -> dict[str, str]:
        return {"meterId": calls["id"], "fieldCode": code, "fieldType": field_type,
                "function": function}  # fmt: skip

    job_id = await adhoc(
        api,
        {
            "sourceType": "USAGE",
            "exportFileFormat": "JSONL",
            "aggregations": [
                aggregation("requests", "MEASURE", "SUM"),
                aggregation("requests", "MEASURE", "COUNT"),
                aggregation("region", "DIMENSION", "UNIQUE"),
            ],
            "groups": [{"groupType": "ACCOUNT"}, {"groupType": "TIME", "frequency": "DAY"}],
            "dimensionFilters": [
                {"meterId": calls["id"], "fieldCode": "region", "values": ["eu", "us"]}
            ],
            **WINDOW,
        },
    )
    await run_jobs(exporter(db, settings))
    assert (await job(api, job_id))["status"] == "SUCCEEDED"
    rows = parse((await download(api, job_id))[f"{job_id}_measurements.jsonl.gz"], "JSONL")
    acme, beta = accounts["acme"]["id"], accounts["beta"]["id"]
    assert {
        (r["accountId"], r["startTime"]): (
            r["requests_sum"],
            r["requests_count"],
            r["region_unique"],
        )
        for r in rows
    } == {
        (acme, "2026-03-01T00:00:00Z"): (12, 2, 2),
        (acme, "2026-03-02T00:00:00Z"): (None, 0, 1),
        (beta, "2026-03-02T00:00:00Z"): (2, 1, 1),
    }
    assert len(rows) == 3


async def test_operational_export_lands_in_a_local_destination_by_layout(
    api: OrgApi, db: Database, settings: Settings
) -> None:
    await usage_fixture(api, db)
    time_first = await created(api, "dataexports/destinations", local_destination())
    type_first = await created(
        api, "dataexports/destinations", local_destination(partitionOrder="TYPE_FIRST")
    )
    job_id = await adhoc(
        api,
        {
            "sourceType": "OPERATIONAL",
            "operationalDataTypes": ["ACCOUNTS", "METERS"],
            "destinationIds": [time_first["id"], type_first["id"]],
        },
    )
    await run_jobs(exporter(db, settings))
    finished = await job(api, job_id)
    assert finished["status"] == "SUCCEEDED", finished
    assert [(f["type"], f["rows"]) for f in finished["files"]] == [("account", 2), ("meter", 1)]
    day = utcnow().strftime("date=%Y-%m-%d")
    root = settings.exports_dir / "local"
    placed = files_under(root / time_first["bucketName"])
    assert len(placed) == 2
    assert all(p.startswith(f"exports/orgId={api.org_id}/{day}/hour=") for p in placed)
    assert placed[0].endswith(f"/type=account/{job_id}_account.csv.gz")
    by_type = files_under(root / type_first["bucketName"])
    assert by_type[0].startswith(f"exports/orgId={api.org_id}/type=account/{day}/hour=")
    accounts = parse((root / time_first["bucketName"] / placed[0]).read_bytes(), "CSV")
    assert sorted(a["code"] for a in accounts) == ["acme", "beta"]
    assert {"id", "name", "version", "dtCreated"} <= set(accounts[0])
    files = await download(api, job_id)
    assert parse(files[f"{job_id}_account.csv.gz"], "CSV") == accounts


async def test_download_links_expire_and_cannot_be_forged(
    api: OrgApi, db: Database, settings: Settings
) -> None:
    job_id = await adhoc(api, {"sourceType": "OPERATIONAL", "operationalDataTypes": ["PLANS"]})
    await run_jobs(exporter(db, settings))
    response = await api.get(f"dataexports/jobs/{job_id}/getdownloadurl")
    body = response.json()
    lifetime = at(body["expirationTime"][:19]) - utcnow()
    assert timedelta(minutes=14) < lifetime <= timedelta(minutes=15)
    url = body["url"]
    assert (await api.client.get(url)).status_code == 200
    forged = url.replace("signature=", "signature=0")
    assert (await api.client.get(forged)).status_code == 403
    other_job = url.replace(job_id, "00000000-0000-0000-0000-000000000000")
    assert (await api.client.get(other_job)).status_code == 403
    name = body["files"][0]["name"]
    link = dict(parse_qsl(url.split("?", 1)[1]))
    with pytest.raises(Forbidden, match="expired"):
        await exports.file_to_download(
            db, DownloadSigner(TEST_SECRET_KEY), settings.exports_dir, api.org_id, job_id,
            name, link, utcnow() + timedelta(minutes=15, seconds=1),
        )  # fmt: skip


async def test_kept_files_and_downloads_end_after_a_day(
    api: OrgApi, db: Database, settings: Settings
) -> None:
    job_id = await adhoc(api, {"sourceType": "OPERATIONAL", "operationalDataTypes": ["PRODUCTS"]})
    await run_jobs(exporter(db, settings))
    kept = settings.exports_dir / "downloads" / job_id
    assert kept.is_dir()
    day_old = (utcnow() - timedelta(hours=25)).timestamp()
    os.utime(kept, (day_old, day_old))
    await exporter(db, settings).schedule_step()
    assert not kept.exists()
    with pytest.raises(Conflict, match="only given for jobs that ran in the past 24 hours"):
        await exports.download_urls(
            db, ExportStorage(settings), DownloadSigner("k"), api.org_id, job_id,
            utcnow() + timedelta(hours=24, seconds=1),
        )  # fmt: skip


async def test_a_refused_upload_fails_the_job_and_raises_an_event(
    api: OrgApi, db: Database, settings: Settings
) -> None:
    gcs = await created(api, "dataexports/destinations", gcs_destination())
    job_id = await adhoc(
        api,
        {
            "sourceType": "OPERATIONAL",
            "operationalDataTypes": ["BILLS"],
            "destinationIds": [gcs["id"]],
        },
    )
    await run_jobs(exporter(db, settings))
    failed = await job(api, job_id)
    assert failed["status"] == "FAILED"
    assert "not supported in this build" in failed["error"]
    events = (await api.get("events", params={"eventName": "dataexport.job.failure"})).json()
    [event] = events["data"]
    details = event["m3terEvent"]["eventData"]["newDto"]
    assert details["jobId"] == job_id
    assert details["destinationId"] == gcs["id"]
    assert details["reason"] == failed["error"]
    fields = await api.get("events/fields", params={"eventName": "dataexport.job.failure"})
    assert "new.reason" in fields.json()["events"]["dataexport.job.failure"]
    rule = {"calculation": 'new.sourceType == "OPERATIONAL"', "eventId": event["id"]}
    evaluated = await api.post("notifications/evaluate", rule)
    assert evaluated.json()["success"] is True, evaluated.text


async def test_a_schedule_runs_once_per_due_time_and_catches_up_once(
    api: OrgApi, db: Database, settings: Settings
) -> None:
    schedule = await created(api, "dataexports/schedules", usage_schedule())
    await run_jobs(exporter(db, settings))

    async def scheduled_jobs() -> list[dict[str, Any]]:
        params = {"scheduleId": schedule["id"], "pageSize": "100"}
        return list((await api.get("dataexports/jobs", params=params)).json()["data"])

    assert len(await scheduled_jobs()) == 1
    next_hour = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    await exporter(db, settings, now=lambda: next_hour - timedelta(seconds=1)).schedule_step()
    assert len(await scheduled_jobs()) == 1
    await exporter(db, settings, now=lambda: next_hour).schedule_step()
    await exporter(db, settings, now=lambda: next_hour).schedule_step()
    jobs = await scheduled_jobs()
    assert len(jobs) == 2
    assert jobs[0]["dateCreated"] == next_hour.isoformat(timespec="milliseconds")[:23] + "Z"
    assert jobs[0]["endDate"] == jobs[0]["dateCreated"]
    day_later = next_hour + timedelta(days=1, minutes=5)
    await exporter(db, settings, now=lambda: day_later).schedule_step()
    assert len(await scheduled_jobs()) == 3
    await run_jobs(exporter(db, settings, now=lambda: day_later))
    assert {j["status"] for j in await scheduled_jobs()} == {"SUCCEEDED"}


async def test_a_job_whose_worker_died_is_taken_up_after_its_lease(
    api: OrgApi, db: Database, settings: Settings
) -> None:
    await run_jobs(exporter(db, settings))  # other tests' jobs, so the claim below takes ours
    job_id = await adhoc(api, {"sourceType": "OPERATIONAL", "operationalDataTypes": ["PLANS"]})
    start = utcnow()
    dead = exporter(db, settings, now=lambda: start)
    async with db.write() as conn:
        claimed = await export_store.claim_job(
            conn, now=start, lease_until=start + dead.lease, owner=dead.owner
        )
    assert claimed is not None
    assert claimed.id == job_id
    assert await run_jobs(exporter(db, settings, now=lambda: start + timedelta(seconds=5))) == 0
    after_lease = start + dead.lease + timedelta(seconds=1)
    assert await run_jobs(exporter(db, settings, now=lambda: after_lease)) == 1
    assert (await job(api, job_id))["status"] == "SUCCEEDED"


async def test_concurrent_exporters_queue_and_run_each_job_once(
    api: OrgApi, db: Database, settings: Settings
) -> None:
    schedules = [
        await created(api, "dataexports/schedules", operational_schedule()) for _ in range(3)
    ]
    due = utcnow() + timedelta(days=1, hours=1)
    workers = [exporter(db, settings, now=lambda: due) for _ in range(4)]
    await asyncio.gather(*(w.schedule_step() for w in workers))
    ran = await asyncio.gather(*(run_jobs(w) for w in workers))
    assert sum(ran) >= 6
    for schedule in schedules:
        params = {"scheduleId": schedule["id"]}
        jobs = (await api.get("dataexports/jobs", params=params)).json()["data"]
        assert [j["status"] for j in jobs] == ["SUCCEEDED", "SUCCEEDED"]


async def test_finished_jobs_are_forgotten_after_the_retention_period(
    api: OrgApi, db: Database, settings: Settings
) -> None:
    done = await adhoc(api, {"sourceType": "OPERATIONAL", "operationalDataTypes": ["PLANS"]})
    await run_jobs(exporter(db, settings))
    waiting = await adhoc(api, {"sourceType": "OPERATIONAL", "operationalDataTypes": ["PLANS"]})
    later = utcnow() + timedelta(days=29)
    while await Retention(db, retention_days=28, now=lambda: later).step():
        pass
    assert (await api.get(f"dataexports/jobs/{done}")).status_code == 404
    assert (await job(api, waiting))["status"] == "PENDING"
