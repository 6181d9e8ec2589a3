"""Data exports through the official m3ter SDK against a real `meterbell serve` process, on
each store: its embedded exporter runs an ad hoc export and a new schedule's first run, and
the download URL serves the file."""

from __future__ import annotations

import csv
import gzip
import io
import uuid
from typing import Any

import httpx
import m3ter
import pytest

from tests.e2e.server import eventually

pytestmark = pytest.mark.slow


def finished(client: m3ter.M3ter, job_id: str) -> Any:
    def probe() -> Any:
        job = client.data_exports.jobs.retrieve(job_id)
        return job if job.status in ("SUCCEEDED", "FAILED") else None

    return eventually(probe)


def test_adhoc_export_runs_in_the_server_and_downloads(client: m3ter.M3ter) -> None:
    code = f"acme-{uuid.uuid4().hex[:8]}"
    client.accounts.create(code=code, name="Acme", email_address="billing@example.com")
    answer = client.data_exports.create_adhoc(
        source_type="OPERATIONAL", operational_data_types=["ACCOUNTS"]
    )
    job = finished(client, answer.job_id)
    assert job.status == "SUCCEEDED"
    link = client.data_exports.jobs.get_download_url(answer.job_id)
    assert link.url is not None
    download = httpx.get(link.url, timeout=10.0)
    assert download.status_code == 200
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(download.content).decode())))
    assert code in {row["code"] for row in rows}


def test_a_new_schedule_runs_at_once_in_the_server(client: m3ter.M3ter) -> None:
    schedule = client.data_exports.schedules.create(
        source_type="USAGE",
        time_period="LAST_7_DAYS",
        extra_body={
            "name": "Weekly usage",
            "code": f"usage-{uuid.uuid4().hex[:8]}",
            "scheduleType": "DAY",
            "period": 1,
            "exportFileFormat": "JSONL",
        },
    )
    schedule_id = schedule.to_dict()["id"]
    jobs = eventually(
        lambda: [
            job
            for job in client.data_exports.jobs.list(schedule_id=schedule_id)
            if job.status == "SUCCEEDED"
        ]
    )
    assert len(jobs) == 1
    assert jobs[0].source_type == "USAGE"
