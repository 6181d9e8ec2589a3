"""The Exports pages in a real browser, against a real server whose exporter runs the jobs
and whose S3 is moto's server: a destination created through the form is what the API lists,
an ad hoc export becomes a job whose file Download serves (from the server's own keeping, or
by the object store's presigned URL), another organization's user gets 404, the pages read
without JavaScript, and each alert's resource link opens the page that shows it."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from meterbell.domain.alerts import AlertType, Occurrence, ResourceType, Severity
from meterbell.domain.clock import utcnow
from meterbell.domain.deadletters import Worker, WorkItem
from meterbell.services.alerts import raise_alert
from meterbell.store import deadletters as dead_letter_store
from meterbell.store.db import Database
from tests.browser.conftest import (
    ConsoleUser,
    api_get,
    api_post,
    in_store,
    new_org_user,
    new_product,
    running_server,
    screenshot,
    sign_in,
    wire_rule,
)
from tests.e2e.server import MeterbellServer, eventually
from tests.exporting import s3_destination
from tests.s3server import S3Server, running_s3_server


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with running_s3_server() as running:
        yield running


@pytest.fixture(scope="module")
def server(
    database_url: str | None, tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server
) -> Iterator[MeterbellServer]:
    """This module's server exports to moto's S3 as well as to its own folder."""
    folder = tmp_path_factory.mktemp("browser-exports")
    with running_server(database_url, folder, **s3_server.env) as running:
        yield running


def exports_page(page: Page, server: MeterbellServer, org_id: str, tail: str = "") -> None:
    page.goto(server.url(f"/console/orgs/{org_id}/exports{tail}"))


def _finished(page: Page) -> bool:
    page.reload()
    status = page.locator("dl.facts .status").inner_text()
    return status in ("SUCCEEDED", "FAILED")


def start_adhoc_export(page: Page, destination: str | None = None) -> str:
    """Through the form on the Exports page: products, to `destination` if named; the job's
    id, once it has finished."""
    page.get_by_label("Source").select_option("OPERATIONAL")
    page.get_by_label("PRODUCTS").check()
    if destination:
        page.get_by_label(destination).check()
    page.get_by_role("button", name="Start export").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Export job")
    assert eventually(lambda: _finished(page))
    expect(page.locator("dl.facts .status")).to_have_text("SUCCEEDED")
    return page.url.rsplit("/", 1)[1]


def download_text(page: Page, link_name: str) -> str:
    with page.expect_download() as waiting:
        page.get_by_role("link", name=link_name).click()
    path = waiting.value.path()
    return gzip.decompress(Path(path).read_bytes()).decode()


def test_a_destination_created_through_the_form_is_what_the_api_lists(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    sign_in(page, server, admin)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Exports").click()
    page.get_by_role("navigation", name="Exports").get_by_role("link", name="Destinations").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Export destinations")
    code = f"folder_{uuid.uuid4().hex[:6]}"
    page.get_by_label("Name").fill("Nightly folder")
    page.get_by_label("Code").fill(code)
    page.get_by_label("Type").select_option("LOCAL")
    page.get_by_label("Bucket or folder (LOCAL)").fill("bad/folder")
    page.get_by_role("button", name="Save").click()

    # The service's message beside its field, which is marked invalid and described by it.
    bucket = page.get_by_label("Bucket or folder (LOCAL)")
    expect(page.locator("#bucketName-problem")).to_contain_text("is a folder name")
    expect(bucket).to_have_attribute("aria-invalid", "true")
    expect(bucket).to_have_attribute("aria-describedby", "bucketName-problem")
    expect(page.get_by_label("Code")).to_have_value(code)
    bucket.fill("nightly")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("row", name=code)).to_be_visible()
    expect(page.locator("#bucketName-problem")).to_have_count(0)
    screenshot(page, "exports-destinations")
    listed = api_get(server, "dataexports/destinations").json()["data"]
    assert [(d["bucketName"], d["destinationType"]) for d in listed if d["code"] == code] == [
        ("nightly", "LOCAL")
    ]


def test_an_adhoc_export_becomes_a_job_whose_file_downloads(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    product = new_product(server)
    sign_in(page, server, admin)
    exports_page(page, server, admin.org_id)
    # Screen readers: the groups of checkboxes are named by their legends.
    expect(page.get_by_role("group", name="Operational data")).to_be_visible()
    job_id = start_adhoc_export(page)
    assert api_get(server, f"dataexports/jobs/{job_id}").json()["status"] == "SUCCEEDED"
    screenshot(page, "export-job")

    assert product["code"] in download_text(page, "Download")
    exports_page(page, server, admin.org_id)
    row = page.get_by_role("row", name=job_id[:8])
    expect(row.get_by_role("cell").nth(3)).to_have_text("SUCCEEDED")
    screenshot(page, "exports")
    assert product["code"] in download_text(page, f"Download {job_id}_product")


def test_an_export_to_s3_downloads_through_the_presigned_url(
    page: Page, server: MeterbellServer, admin: ConsoleUser, s3_server: S3Server
) -> None:
    product = new_product(server)
    bucket = s3_server.create_bucket()
    destination = api_post(server, "dataexports/destinations", s3_destination(bucket))
    sign_in(page, server, admin)
    exports_page(page, server, admin.org_id)
    job_id = start_adhoc_export(page, destination["name"])
    [key] = s3_server.keys(bucket)
    assert key.endswith(f"{job_id}_product.csv.gz")

    link = page.get_by_role("link", name="Download")
    href = link.get_attribute("href")
    assert href is not None
    answer = page.request.get(server.url(href), max_redirects=0)
    assert answer.status == 303
    assert answer.headers["location"].startswith(s3_server.endpoint_url)
    fetched = page.request.get(server.url(href))
    assert fetched.status == 200
    assert product["code"] in gzip.decompress(fetched.body()).decode()


def test_another_organizations_user_gets_404_for_a_job_and_its_file(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    job_id = api_post(
        server,
        "dataexports/adhoc",
        {"sourceType": "OPERATIONAL", "operationalDataTypes": ["PRODUCTS"]},
    )["jobId"]
    job_page = f"/console/orgs/{admin.org_id}/exports/jobs/{job_id}"
    intruder = new_org_user(server, "Elsewhere")
    sign_in(page, server, intruder)
    for path in (job_page, f"{job_page}/files/{job_id}_product.csv.gz"):
        answer = page.goto(server.url(path))
        assert answer is not None
        assert answer.status == 404, path
        expect(
            page.get_by_text(f"No organization with id {admin.org_id} among yours")
        ).to_be_visible()
    answer = page.goto(server.url(f"/console/orgs/{intruder.org_id}/exports/jobs/{job_id}"))
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_text(f"No export job with id {job_id}")).to_be_visible()


def test_the_exports_pages_read_without_javascript(
    browser: Browser, server: MeterbellServer, admin: ConsoleUser
) -> None:
    job_id = api_post(
        server,
        "dataexports/adhoc",
        {"sourceType": "OPERATIONAL", "operationalDataTypes": ["ACCOUNTS"]},
    )["jobId"]
    api_post(
        server,
        "dataexports/schedules",
        {
            "name": "Weekly accounts",
            "code": f"weekly_{uuid.uuid4().hex[:6]}",
            "sourceType": "OPERATIONAL",
            "operationalDataTypes": ["ACCOUNTS"],
            "scheduleType": "DAY",
            "period": 1,
        },
    )
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, server, admin)
        exports_page(page, server, admin.org_id)
        row = page.get_by_role("row", name=job_id[:8])
        expect(row.get_by_role("link", name=job_id[:8], exact=True)).to_be_visible()
        expect(row.get_by_role("link", name="Download")).to_be_visible()
        expect(page.get_by_role("button", name="Start export")).to_be_visible()
        exports_page(page, server, admin.org_id, "/schedules")
        row = page.get_by_role("row", name="Weekly accounts")
        expect(row).to_contain_text("every 1 day")
        screenshot(page, "exports-schedules")
        row.get_by_role("link", name="Jobs of Weekly accounts").click()
        expect(page.get_by_text("the jobs of schedule")).to_be_visible()
        expect(page.get_by_role("row", name="OPERATIONAL").first).to_be_visible()
    finally:
        context.close()


# An alert's cause shows beside its type (the failure type of an ingest alert).
METER_CAUSE = {ResourceType.METER: "UndefinedMeter"}


def _raise(
    server: MeterbellServer, org_id: str, resource: ResourceType, resource_id: str, cause: str
) -> None:
    async def write(db: Database) -> None:
        async with db.write() as conn:
            occurrence = Occurrence(
                org_id,
                AlertType.DATA_EXPORT,
                Severity.ERROR,
                resource,
                resource_id,
                "Broken",
                cause=cause,
            )
            await raise_alert(conn, occurrence, utcnow())

    in_store(server, write)


def _dead_letter(server: MeterbellServer, org_id: str) -> str:
    async def write(db: Database) -> str:
        async with db.write() as conn:
            item = WorkItem(Worker.EXPORTER, org_id, str(uuid.uuid4()))
            letter = await dead_letter_store.count_failure(
                conn, item, "OSError: disk full", utcnow()
            )
            await dead_letter_store.set_aside(conn, letter.id, None, utcnow())
            return letter.id

    return in_store(server, write)


def test_each_alert_links_to_the_page_of_its_resource(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    wired = wire_rule(server, "http://127.0.0.1:9/hook", "configuration.product.updated")
    job_id = api_post(
        server,
        "dataexports/adhoc",
        {"sourceType": "OPERATIONAL", "operationalDataTypes": ["PRODUCTS"]},
    )["jobId"]
    schedule = api_post(
        server,
        "dataexports/schedules",
        {
            "name": "Hourly products",
            "code": f"hourly_{uuid.uuid4().hex[:6]}",
            "sourceType": "OPERATIONAL",
            "operationalDataTypes": ["PRODUCTS"],
            "scheduleType": "HOUR",
            "period": 1,
        },
    )
    letter_id = _dead_letter(server, admin.org_id)
    resources = {
        ResourceType.NOTIFICATION_RULE: (wired["rule"]["id"], wired["rule"]["name"]),
        ResourceType.INTEGRATION_CONFIGURATION: (wired["config"]["id"], "Integrations"),
        ResourceType.EXPORT_JOB: (job_id, f"Export job {job_id[:8]}"),
        ResourceType.EXPORT_SCHEDULE: (schedule["id"], "Exports"),
        ResourceType.METER: ("nope", "Ingest"),
        ResourceType.DEAD_LETTER: (letter_id, f"Dead letter {letter_id[:8]}"),
    }
    assert set(resources) == set(ResourceType)
    for resource, (resource_id, _) in resources.items():
        _raise(server, admin.org_id, resource, resource_id, METER_CAUSE.get(resource, ""))
    sign_in(page, server, admin)
    page.goto(server.url(f"/console/orgs/{admin.org_id}/alerts"))
    meter_row = page.get_by_role("row").filter(has_text="Meter nope")
    expect(meter_row.get_by_role("cell").nth(2)).to_have_text("DATA_EXPORT (UndefinedMeter)")
    for resource, (resource_id, heading) in resources.items():
        page.goto(server.url(f"/console/orgs/{admin.org_id}/alerts"))
        page.get_by_role("link", name=f"{resource} {resource_id}").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.get_by_text("OSError: disk full")).to_be_visible()
