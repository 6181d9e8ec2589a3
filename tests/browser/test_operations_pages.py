"""The operations pages in a real browser, against a real server: the Dashboard's delivery
figures after updates delivered to a real local receiver, drawn as a chart from the figures
the page embeds."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ConsoleUser, api_get, run_async, screenshot, sign_in
from tests.e2e.commitments import authorised, new_commitment, spend, wire_every_update
from tests.e2e.server import MeterbellServer, eventually

UPDATES = 3
_MS = re.compile(r"^\d+ ms$")


class _Answer200(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def receiver_url() -> Iterator[str]:
    """A real HTTP receiver on a loopback port that answers 200 to every POST."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer200)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/hook"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def _deliver_updates(server: MeterbellServer, url: str) -> None:
    async with await authorised(server) as api:
        await wire_every_update(api, url)
        commitment = await new_commitment(api)
        for spent in range(1, UPDATES + 1):
            commitment = await spend(api, commitment, spent)


def _succeeded_last_hour(page: Page, server: MeterbellServer, org_id: str) -> int | None:
    page.goto(server.url(f"/console/orgs/{org_id}/dashboard"))
    cell = page.get_by_role("row", name="Last hour").get_by_role("cell").first
    count = int(cell.inner_text())
    return count if count >= UPDATES else None


def test_the_dashboard_shows_deliveries_latency_and_a_chart(
    page: Page, server: MeterbellServer, admin: ConsoleUser, receiver_url: str
) -> None:
    run_async(_deliver_updates(server, receiver_url))
    sign_in(page, server, admin)

    assert eventually(lambda: _succeeded_last_hour(page, server, admin.org_id)) >= UPDATES
    expect(page.locator("#latency-p50")).to_have_text(_MS)
    expect(page.locator("#latency-p99")).to_have_text(_MS)
    expect(page.locator("#dispatch-lag")).to_contain_text("none")
    # uPlot drew both windows from the embedded figures.
    expect(page.locator("figure[data-chart] canvas")).to_have_count(2)
    # Screen readers: one h1, then the sections' h2s in order.
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.get_by_role("heading", level=2)).to_have_text(["Open alerts", "Deliveries"])
    screenshot(page, "dashboard")


def test_the_dashboard_reads_without_javascript(
    browser: Browser, server: MeterbellServer, admin: ConsoleUser
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, server, admin)
        expect(page.get_by_role("row", name="Last day")).to_be_visible()
        expect(page.locator("figure[data-chart] canvas")).to_have_count(0)
        link = page.locator("#disabled-integrations a")
        expect(link).to_have_attribute("href", f"/console/orgs/{admin.org_id}/integrations")
    finally:
        context.close()


def test_a_scheduled_event_created_through_the_form_is_listed(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    sign_in(page, server, admin)
    navigation = page.get_by_role("navigation", name="Console")
    navigation.get_by_role("link", name="Scheduled events").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Scheduled events")
    # Screen readers: every control of the form is labelled.
    page.get_by_label("Name").fill("bill ending")
    page.get_by_label("Entity").fill("Bill")
    page.get_by_label("Field").fill("endDate")
    page.get_by_label("Offset (days)").fill("5")
    page.get_by_role("button", name="Save").click()

    # The service's message, beside the field it concerns, with what was typed kept.
    name = page.get_by_label("Name")
    expect(page.locator("#name-problem")).to_contain_text("scheduled.<entity>.<customName>")
    expect(name).to_have_attribute("aria-describedby", "name-problem")
    expect(page.get_by_label("Entity")).to_have_value("Bill")
    name.fill("scheduled.bill.endingSoon")
    page.get_by_role("button", name="Save").click()

    row = page.get_by_role("row", name="scheduled.bill.endingSoon")
    expect(row.get_by_role("cell")).to_contain_text(
        ["scheduled.bill.endingSoon", "Bill", "endDate", "5"]
    )
    expect(page.locator("#name-problem")).to_have_count(0)
    screenshot(page, "scheduled-events")
    listed = api_get(server, "scheduledevents/configurations").json()["data"]
    assert [c["offset"] for c in listed if c["name"] == "scheduled.bill.endingSoon"] == [5]


async def _submit_bad_measurement(server: MeterbellServer, meter: str) -> None:
    async with await authorised(server) as api:
        measurement = {"uid": f"bad-{meter}", "meter": meter, "account": "customer-1"}
        answer = await api.post(
            "measurements",
            json={
                "measurements": [
                    {**measurement, "ts": "2026-11-23T10:00:00Z", "measure": {"calls": 1}}
                ]
            },
        )
        assert answer.status_code == 200, answer.text


def _failure_row(page: Page, server: MeterbellServer, org_id: str, meter: str) -> bool:
    page.goto(server.url(f"/console/orgs/{org_id}/ingest"))
    return page.get_by_role("row", name=meter).count() == 1


def test_a_failed_measurement_shows_its_type_and_meter_and_downloads(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    meter = f"nope_{uuid.uuid4().hex[:8]}"
    run_async(_submit_bad_measurement(server, meter))
    sign_in(page, server, admin)

    assert eventually(lambda: _failure_row(page, server, admin.org_id, meter))
    row = page.get_by_role("row", name=meter)
    expect(row.get_by_role("cell").nth(1)).to_have_text("UndefinedMeter")
    expect(row.get_by_role("cell").nth(2)).to_have_text(meter)
    # Screen readers: the table's headers are column headers.
    expect(page.get_by_role("columnheader", name="Failure type")).to_be_visible()
    screenshot(page, "ingest")
    href = row.get_by_role("link", name="Download").get_attribute("href")
    assert href is not None
    download = page.request.get(server.url(href))
    assert download.status == 200, download.text()
    assert download.json()["measurement"]["meter"] == meter
    assert download.json()["type"] == "UndefinedMeter"
