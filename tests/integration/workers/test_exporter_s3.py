"""Exports to S3 through a real S3-protocol server (moto's, over HTTP): the file lands at its
layout key, the presigned download URL returns it, and a refused upload fails the job and
raises `dataexport.job.failure`."""

from __future__ import annotations

import asyncio
import gzip
import urllib.request

from meterbell.config import Settings
from meterbell.domain.clock import utcnow
from meterbell.domain.download_links import DownloadSigner
from meterbell.services import exports
from meterbell.store.db import Database
from meterbell.store.export_storage import ExportStorage
from tests.conftest import TEST_SECRET_KEY, OrgApi
from tests.exporting import created, exporter, job, run_jobs, s3_destination
from tests.s3server import S3Server


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


async def test_export_to_s3_and_download_through_a_presigned_url(
    api: OrgApi, db: Database, settings: Settings, s3: S3Server
) -> None:
    s3_settings = settings.model_copy(
        update={"s3_endpoint_url": s3.endpoint_url, "s3_region": s3.region}
    )
    bucket = s3.create_bucket()
    destination = await created(
        api, "dataexports/destinations", s3_destination(bucket, prefix="billing/")
    )
    await created(api, "products", {"name": "Widgets", "code": "widgets"})
    response = await api.post(
        "dataexports/adhoc",
        {
            "sourceType": "OPERATIONAL",
            "operationalDataTypes": ["PRODUCTS"],
            "destinationIds": [destination["id"]],
        },
    )
    job_id = response.json()["jobId"]
    await run_jobs(exporter(db, s3_settings))
    finished = await job(api, job_id)
    assert finished["status"] == "SUCCEEDED", finished
    [key] = s3.keys(bucket)
    assert key.startswith(f"billing/orgId={api.org_id}/date=")
    assert key.endswith(f"/type=product/{job_id}_product.csv.gz")
    stored = s3.read(bucket, key)
    urls, _expires = await exports.download_urls(
        db,
        ExportStorage(s3_settings),
        DownloadSigner(TEST_SECRET_KEY),
        api.org_id,
        job_id,
        utcnow(),
    )
    [(name, url)] = urls
    assert name == f"{job_id}_product.csv.gz"
    assert url.startswith(s3.endpoint_url)
    assert await asyncio.to_thread(fetch, url) == stored
    assert b"widgets" in gzip.decompress(stored)


async def test_a_bucket_that_refuses_the_upload_fails_the_job(
    api: OrgApi, db: Database, settings: Settings, s3: S3Server
) -> None:
    s3_settings = settings.model_copy(
        update={"s3_endpoint_url": s3.endpoint_url, "s3_region": s3.region}
    )
    destination = await created(
        api, "dataexports/destinations", s3_destination("mb-no-such-bucket")
    )
    schedule = await created(
        api,
        "dataexports/schedules",
        {
            "name": "To nowhere",
            "code": "nowhere",
            "sourceType": "OPERATIONAL",
            "operationalDataTypes": ["METERS"],
            "destinationIds": [destination["id"]],
            "scheduleType": "HOUR",
            "period": 1,
        },
    )
    await run_jobs(exporter(db, s3_settings))
    [failed] = (await api.get("dataexports/jobs", params={"scheduleId": schedule["id"]})).json()[
        "data"
    ]
    assert failed["status"] == "FAILED"
    assert "NoSuchBucket" in failed["error"]
    assert "mb-no-such-bucket" in failed["error"]
    events = await api.get("events", params={"eventName": "dataexport.job.failure"})
    [event] = events.json()["data"]
    details = event["m3terEvent"]["eventData"]["newDto"]
    assert (details["jobId"], details["scheduleId"], details["destinationId"]) == (
        failed["id"],
        schedule["id"],
        destination["id"],
    )
