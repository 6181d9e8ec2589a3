"""The Exports pages without JavaScript (plain posts, in-process, both stores): destinations
and schedules created through their forms by the services the API uses (createdBy the console
user), the service's message beside the field at fault (aria-invalid), an ad hoc export whose
job the exporter runs and whose file Download serves to its own organization only, every
change needing its CSRF token, and each alert's resource linked to the page that shows it."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from meterbell.config import Settings
from meterbell.domain.alerts import AlertType, Occurrence, ResourceType, Severity
from meterbell.domain.clock import utcnow
from meterbell.services import alerts, console_users, exports
from meterbell.store.db import Database
from tests.conftest import OrgApi
from tests.exporting import created, exporter, run_jobs
from tests.integration.console.conftest import CSRF, signed_in_client


@pytest.fixture
async def browser(
    transport: httpx.ASGITransport, db: Database, api: OrgApi
) -> AsyncIterator[httpx.AsyncClient]:
    client = await signed_in_client(transport, db, api.org_id)
    yield client
    await client.aclose()


async def _token(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    match = CSRF.search(page.text)
    assert match, page.text
    return match.group(1)


async def test_a_destination_and_a_schedule_are_created_through_their_forms(
    api: OrgApi, db: Database, browser: httpx.AsyncClient
) -> None:
    path = f"/console/orgs/{api.org_id}/exports/destinations"
    token = await _token(browser, path)
    form = {"csrf_token": token, "name": "Folder", "code": "folder", "destinationType": "LOCAL"}
    refused = await browser.post(path, data={**form, "bucketName": "no/slashes"})
    assert refused.status_code == 400
    assert 'id="bucketName-problem"' in refused.text
    assert 'aria-invalid="true" aria-describedby="bucketName-problem"' in refused.text
    assert 'value="Folder"' in refused.text  # what was typed is kept
    saved = await browser.post(path, data={**form, "bucketName": "nightly"})
    assert saved.status_code == 303
    [destination] = (await exports.list_destinations(db, api.org_id, {}, page_size=5)).data
    users = {user.id for user in await console_users.list_users(db, api.org_id)}
    assert destination["createdBy"] in users
    assert destination["bucketName"] == "nightly"

    path = f"/console/orgs/{api.org_id}/exports/schedules"
    schedule_form = {
        "csrf_token": token,
        "name": "Nightly accounts",
        "code": "nightly_accounts",
        "sourceType": "OPERATIONAL",
        f"destinationIds.{destination['id']}": "on",
        "scheduleType": "DAY",
        "period": "1",
        "offset": "2",
    }
    refused = await browser.post(path, data=schedule_form)
    assert refused.status_code == 400
    assert "&#39;operationalDataTypes&#39; is required" in refused.text
    assert 'aria-describedby="operationalDataTypes-problem"' in refused.text
    saved = await browser.post(path, data={**schedule_form, "operationalDataTypes.ACCOUNTS": "on"})
    assert saved.status_code == 303
    [schedule] = (await exports.list_schedules(db, api.org_id, {}, page_size=5)).data
    assert schedule["operationalDataTypes"] == ["ACCOUNTS"]
    assert schedule["destinationIds"] == [destination["id"]]
    assert schedule["cronExpression"] == "0 2 */1 * *"
    assert schedule["createdBy"] in users
    listed = await browser.get(saved.headers["location"])
    assert "Nightly accounts" in listed.text
    assert f"/exports?scheduleId={schedule['id']}" in listed.text


async def test_an_adhoc_export_runs_and_downloads_for_its_own_organization_only(
    api: OrgApi,
    other_api: OrgApi,
    db: Database,
    settings: Settings,
    browser: httpx.AsyncClient,
    transport: httpx.ASGITransport,
) -> None:
    await created(api, "products", {"name": "Widgets", "code": "widgets"})
    path = f"/console/orgs/{api.org_id}/exports"
    token = await _token(browser, path)
    started = await browser.post(
        path,
        data={
            "csrf_token": token,
            "sourceType": "OPERATIONAL",
            "operationalDataTypes.PRODUCTS": "on",
            "exportFileFormat": "CSV",
        },
    )
    assert started.status_code == 303, started.text
    job_page = started.headers["location"]
    job_id = job_page.rsplit("/", 1)[1]
    assert (await exports.get_job(db, api.org_id, job_id))["status"] == "PENDING"
    assert "PENDING" in (await browser.get(job_page)).text

    assert await run_jobs(exporter(db, settings)) >= 1
    finished = await browser.get(job_page)
    assert "SUCCEEDED" in finished.text
    name = f"{job_id}_product.csv.gz"
    download = f"{job_page}/files/{name}"
    assert f'href="{download}"' in finished.text
    assert f'href="{download}"' in (await browser.get(path)).text
    redirected = await browser.get(download)
    assert redirected.status_code == 303
    file = await browser.get(redirected.headers["location"])
    assert file.status_code == 200
    assert b"widgets" in gzip.decompress(file.content)
    assert (await browser.get(f"{job_page}/files/nope.csv.gz")).status_code == 404

    intruder = await signed_in_client(transport, db, other_api.org_id)
    try:
        assert (await intruder.get(job_page)).status_code == 404
        assert (await intruder.get(download)).status_code == 404
        theirs = await intruder.get(f"/console/orgs/{other_api.org_id}/exports/jobs/{job_id}")
    finally:
        await intruder.aclose()
    assert theirs.status_code == 404


async def test_a_usage_export_names_what_is_missing_beside_its_field(
    api: OrgApi, browser: httpx.AsyncClient
) -> None:
    path = f"/console/orgs/{api.org_id}/exports"
    token = await _token(browser, path)
    refused = await browser.post(
        path,
        data={
            "csrf_token": token,
            "sourceType": "USAGE",
            "startDate": "2026-12-02T00:00",
            "endDate": "2026-12-01T00:00",
        },
    )
    assert refused.status_code == 400
    assert 'id="endDate-problem"' in refused.text
    assert "must be after" in refused.text
    assert 'value="2026-12-02T00:00"' in refused.text


async def test_every_exports_form_needs_its_csrf_token(
    api: OrgApi, db: Database, browser: httpx.AsyncClient
) -> None:
    base = f"/console/orgs/{api.org_id}/exports"
    for path in (base, f"{base}/destinations", f"{base}/schedules"):
        answer = await browser.post(path, data={"name": "x", "sourceType": "OPERATIONAL"})
        assert answer.status_code == 403, path
    assert (await exports.list_jobs(db, api.org_id, {}, page_size=5)).data == []
    assert (await exports.list_destinations(db, api.org_id, {}, page_size=5)).data == []


async def test_each_alert_links_to_the_page_of_its_resource(
    api: OrgApi, db: Database, browser: httpx.AsyncClient
) -> None:
    ids = {resource_type: str(uuid.uuid4()) for resource_type in ResourceType}
    pages = {
        ResourceType.INTEGRATION_CONFIGURATION: "integrations?ids={id}",
        ResourceType.NOTIFICATION_RULE: "notifications/{id}",
        ResourceType.METER: "ingest",
        ResourceType.EXPORT_SCHEDULE: "exports?scheduleId={id}",
        ResourceType.EXPORT_JOB: "exports/jobs/{id}",
        ResourceType.DEAD_LETTER: "dead-letters/{id}",
    }
    assert set(pages) == set(ResourceType)
    async with db.write() as conn:
        for resource_type, resource_id in ids.items():
            occurrence = Occurrence(
                api.org_id, AlertType.DATA_EXPORT, Severity.ERROR, resource_type, resource_id, "x"
            )
            await alerts.raise_alert(conn, occurrence, utcnow())
    listed = (await browser.get(f"/console/orgs/{api.org_id}/alerts")).text
    for resource_type, page in pages.items():
        link = f"/console/orgs/{api.org_id}/{page.format(id=ids[resource_type])}"
        assert f'href="{link}"' in listed, resource_type
