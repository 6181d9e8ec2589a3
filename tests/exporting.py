"""Helpers for data-export tests: destinations, schedules, measurements with known values,
running the exporter to the end with a fixed clock, and reading the files back."""

from __future__ import annotations

import csv
import gzip
import io
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meterbell.config import Settings
from meterbell.domain.clock import utcnow
from meterbell.store import ingest as ingest_store
from meterbell.store.db import Database
from meterbell.store.export_storage import ExportStorage
from meterbell.workers.exporter import Exporter
from tests.conftest import OrgApi


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def created(api: OrgApi, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def local_destination(**fields: Any) -> dict[str, Any]:
    code = f"local_{uuid.uuid4().hex[:8]}"
    return {
        "name": "Local folder",
        "code": code,
        "destinationType": "LOCAL",
        "bucketName": code,
        "prefix": "exports",
        **fields,
    }


def gcs_destination() -> dict[str, Any]:
    """A destination of a type this build cannot upload to: its jobs fail."""
    return {
        "name": "G",
        "code": "gcs",
        "destinationType": "GCS",
        "bucketName": "bucket",
        "projectNumber": "1",
        "poolId": "p",
        "providerId": "q",
    }


def s3_destination(bucket: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": "S3 bucket",
        "code": f"s3_{uuid.uuid4().hex[:8]}",
        "destinationType": "S3",
        "bucketName": bucket,
        "iamRoleArn": "arn:aws:iam::123456789012:role/meterbell-export",
        **fields,
    }


def operational_schedule(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Nightly accounts",
        "code": f"ops_{uuid.uuid4().hex[:8]}",
        "sourceType": "OPERATIONAL",
        "operationalDataTypes": ["ACCOUNTS"],
        "scheduleType": "DAY",
        "period": 1,
        "offset": 2,
        **fields,
    }


def usage_schedule(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Hourly usage",
        "code": f"usage_{uuid.uuid4().hex[:8]}",
        "sourceType": "USAGE",
        "timePeriod": "LAST_12_HOURS",
        "scheduleType": "HOUR",
        "period": 1,
        **fields,
    }


def meter(code: str = "calls") -> dict[str, Any]:
    return {
        "name": code,
        "code": code,
        "dataFields": [
            {"category": "WHO", "code": "region", "name": "Region"},
            {"category": "MEASURE", "code": "requests", "name": "Requests"},
        ],
        "derivedFields": [],
    }


async def add_measurements(
    db: Database,
    org_id: str,
    meter_id: str,
    rows: list[tuple[str, str, dict[str, Any]]],
    ets: Sequence[str | None] = (),
) -> None:
    """Measurements of `meter_id` as the ingest validator stores them: (account id, ts, fields),
    in this order, the i-th with the `ets` ets[i] (none if not given)."""
    now = utcnow()
    async with db.write() as conn:
        await ingest_store.insert_measurements(
            conn,
            [
                {
                    "org_id": org_id,
                    "meter_id": meter_id,
                    "account_id": account_id,
                    "uid": f"u{index}-{uuid.uuid4().hex[:6]}",
                    "ts": at(ts),
                    "ets": at(ets[index]) if index < len(ets) and ets[index] else None,
                    "received_at": now,
                    "fields": fields,
                }
                for index, (account_id, ts, fields) in enumerate(rows)
            ],
        )


def exporter(
    db: Database, settings: Settings, now: Callable[[], datetime] = utcnow, **kwargs: Any
) -> Exporter:
    return Exporter(db, ExportStorage(settings), settings.exports_dir, now=now, **kwargs)


async def run_jobs(worker: Exporter) -> int:
    """Run every due job; how many ran."""
    count = 0
    while await worker.job_step():
        count += 1
    return count


async def job(api: OrgApi, job_id: str) -> dict[str, Any]:
    response = await api.get(f"dataexports/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def parse(data: bytes, file_format: str) -> list[dict[str, Any]]:
    """A gzip-compressed export file's rows: CSV as strings, JSONL as JSON values."""
    text = gzip.decompress(data).decode()
    if file_format == "CSV":
        return list(csv.DictReader(io.StringIO(text)))
    return [json.loads(line) for line in text.splitlines() if line]


async def download(api: OrgApi, job_id: str) -> dict[str, bytes]:
    """Every file of a job, fetched through getdownloadurl's signed links (no token)."""
    response = await api.get(f"dataexports/jobs/{job_id}/getdownloadurl")
    assert response.status_code == 200, response.text
    files: dict[str, bytes] = {}
    for item in response.json()["files"]:
        fetched = await api.client.get(item["url"])
        assert fetched.status_code == 200, fetched.text
        files[item["name"]] = fetched.content
    return files


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
