"""Data exports through the official m3ter SDK against a real `meterbell serve` process, on
each store: its embedded exporter runs an ad hoc export and a new schedule's first run, and
the download URL serves the file."""

from __future__ import annotations

import csv
import gzip
import io
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import httpx
import m3ter
import pytest

from tests.conftest import STORES, fresh_database_url
from tests.e2e.server import MeterbellServer

pytestmark = pytest.mark.slow

DEADLINE_S = 30.0
POLL_S = 0.05
T = TypeVar("T")


@pytest.fixture(scope="module", params=STORES)
async def database_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    async with fresh_database_url(request.param) as url:
        yield url


@pytest.fixture(scope="module")
def client(
    database_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[m3ter.M3ter]:
    with MeterbellServer(
        tmp_path_factory.mktemp("e2e-exports") / "data", database_url=database_url
    ) as server:
        credentials = server.initial_credentials()
        sdk = m3ter.M3ter(
            api_key=credentials.client_id,
            api_secret=credentials.client_secret,
            org_id=credentials.org_id,
            base_url=server.base_url,
        )
        try:
            yield sdk
        finally:
            sdk.close()


def eventually(probe: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if answer := probe():
            return answer
        time.sleep(POLL_S)
    raise AssertionError(f"nothing within {DEADLINE_S}s")


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
