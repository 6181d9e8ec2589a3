"""The Alerts page and the dashboard in a real browser: alerts raised in the server's store
are listed, filtered and paged; moving one in the page moves it for the API too; another
organization's user sees none of them; reading and moving work without JavaScript."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from meterbell.domain.alerts import Severity
from meterbell.services import console_users
from tests.browser.conftest import (
    ConsoleUser,
    api_get,
    in_store,
    new_org_user,
    raise_alerts,
    screenshot,
    sign_in,
)
from tests.e2e.server import MeterbellServer

PAGE_SIZE = 50


def alerts_page(page: Page, server: MeterbellServer, org_id: str, query: str = "") -> None:
    page.goto(server.url(f"/console/orgs/{org_id}/alerts{query}"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Alerts")


def test_an_alert_moved_to_in_progress_in_the_page_is_in_progress_for_the_api(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    [alert_id] = raise_alerts(server, admin.org_id, severity=Severity.WARN)
    sign_in(page, server, admin)
    warn = page.get_by_role("row", name="WARN")
    expect(warn.get_by_role("cell")).to_have_text(["1", "1"])  # open, and of them NEW

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Alerts").click()
    row = page.locator(f"#alert-{alert_id}")
    expect(row.get_by_role("cell").first).to_have_text("NEW")
    expect(row).to_contain_text("INTEGRATION_PERFORM_ERROR")
    expect(row).to_contain_text("502 Bad Gateway")
    screenshot(page, "alerts")
    row.get_by_role("button", name="IN_PROGRESS").click()
    expect(row.get_by_role("cell").first).to_have_text("IN_PROGRESS")
    expect(row.get_by_role("button", name="IN_PROGRESS")).to_have_count(0)

    alert = api_get(server, f"alerts/{alert_id}").json()
    assert alert["status"] == "IN_PROGRESS"
    assert alert["version"] == 2
    users = in_store(server, lambda db: console_users.list_users(db, admin.org_id))
    assert alert["lastModifiedBy"] == next(u.id for u in users if u.email == admin.email)

    page.get_by_role("navigation", name="Console").get_by_role("link", name="Dashboard").click()
    expect(warn.get_by_role("cell")).to_have_text(["1", "0"])
    page.go_back()

    # The row holds version 2 now: a second move goes through too.
    row.get_by_role("button", name="RESOLVED").click()
    expect(row.get_by_role("cell").first).to_have_text("RESOLVED")
    assert api_get(server, f"alerts/{alert_id}").json()["status"] == "RESOLVED"


def test_a_stale_move_shows_the_apis_message_beside_the_alert(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    [alert_id] = raise_alerts(server, admin.org_id)
    sign_in(page, server, admin)
    alerts_page(page, server, admin.org_id)
    row = page.locator(f"#alert-{alert_id}")
    expect(row).to_be_visible()
    # Someone else moves it first (another tab): this page's version is now stale.
    page.request.post(
        server.url(f"/console/orgs/{admin.org_id}/alerts/{alert_id}/status"),
        form={"status": "IN_PROGRESS", "version": "1", "csrf_token": csrf_token(page)},
    )
    row.get_by_role("button", name="RESOLVED").click()
    expect(row.get_by_role("alert")).to_contain_text(
        "is at version 2 but the request sent version 1"
    )
    expect(row.get_by_role("cell").first).to_have_text("IN_PROGRESS")


def csrf_token(page: Page) -> str:
    token = page.locator("input[name='csrf_token']").first.get_attribute("value")
    assert token
    return token


def test_a_move_without_its_csrf_token_is_refused(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    [alert_id] = raise_alerts(server, admin.org_id)
    sign_in(page, server, admin)
    refused = page.request.post(
        server.url(f"/console/orgs/{admin.org_id}/alerts/{alert_id}/status"),
        form={"status": "IN_PROGRESS", "version": "1"},
    )
    assert refused.status == 403
    assert "without its security (CSRF) token" in refused.text()
    assert api_get(server, f"alerts/{alert_id}").json()["status"] == "NEW"


def test_filters_and_pages(page: Page, server: MeterbellServer) -> None:
    user = new_org_user(server, "Paging")
    raise_alerts(server, user.org_id, count=PAGE_SIZE + 2, severity=Severity.INFO)
    [error_id] = raise_alerts(server, user.org_id, severity=Severity.ERROR)
    sign_in(page, server, user)
    alerts_page(page, server, user.org_id)
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(PAGE_SIZE)
    page.get_by_role("link", name="Next page").click()
    expect(rows).to_have_count(3)
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    page.get_by_role("link", name="First page").click()
    expect(rows).to_have_count(PAGE_SIZE)

    page.get_by_label("Severity").select_option("ERROR")  # a labelled control
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(page.locator(f"#alert-{error_id}")).to_be_visible()
    expect(page.get_by_label("Severity")).to_have_value("ERROR")
    page.get_by_label("Status").select_option("RESOLVED")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No alerts match these filters")).to_be_visible()


def test_a_user_of_another_organization_sees_none_of_its_alerts(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    [alert_id] = raise_alerts(server, admin.org_id)
    intruder = new_org_user(server, "Intruder")
    sign_in(page, server, intruder)
    expect(page.get_by_role("row", name="ERROR").get_by_role("cell").first).to_have_text("0")
    alerts_page(page, server, intruder.org_id)
    expect(page.locator("tbody tr")).to_have_count(0)
    token = csrf_token(page)

    page.goto(server.url(f"/console/orgs/{admin.org_id}/alerts"))
    expect(page.get_by_role("alert").filter(has_text="among yours")).to_be_visible()
    expect(page.locator(f"#alert-{alert_id}")).to_have_count(0)
    own_alerts = f"/console/orgs/{intruder.org_id}/alerts/{alert_id}/status"
    for path in (f"/console/orgs/{admin.org_id}/alerts/{alert_id}/status", own_alerts):
        moved = page.request.post(
            server.url(path),
            form={"status": "RESOLVED", "version": "1", "csrf_token": token},
            max_redirects=0,
        )
        assert moved.status == 404, path
    assert api_get(server, f"alerts/{alert_id}").json()["status"] == "NEW"


def test_times_show_in_the_readers_time_zone_with_utc_on_hover(
    browser: Browser, server: MeterbellServer, admin: ConsoleUser
) -> None:
    [alert_id] = raise_alerts(server, admin.org_id)
    context = browser.new_context(timezone_id="Asia/Tokyo", locale="en-US")
    try:
        page = context.new_page()
        sign_in(page, server, admin)
        alerts_page(page, server, admin.org_id)
        row = page.locator(f"#alert-{alert_id}")
        first_seen = row.locator("time").first
        expect(first_seen).to_have_attribute(
            "title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
        )
        expect(first_seen).to_contain_text("GMT+9")
        # A row htmx swapped in is shown in local time too.
        row.get_by_role("button", name="IN_PROGRESS").click()
        expect(row.get_by_role("cell").first).to_have_text("IN_PROGRESS")
        expect(row.locator("time").first).to_contain_text("GMT+9")
    finally:
        context.close()


def test_reading_and_moving_alerts_without_javascript(
    browser: Browser, server: MeterbellServer, admin: ConsoleUser
) -> None:
    [alert_id] = raise_alerts(server, admin.org_id)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, server, admin)
        alerts_page(page, server, admin.org_id, "?status=NEW")
        row = page.locator(f"#alert-{alert_id}")
        row.get_by_role("button", name="IN_PROGRESS").click()
        # Back on the same filtered list, where the alert no longer is.
        expect(page).to_have_url(server.url(f"/console/orgs/{admin.org_id}/alerts?status=NEW"))
        expect(page.locator(f"#alert-{alert_id}")).to_have_count(0)
        assert api_get(server, f"alerts/{alert_id}").json()["status"] == "IN_PROGRESS"
    finally:
        context.close()


PHONE = {"width": 375, "height": 740}


def test_pages_fit_a_phones_width(
    browser: Browser, server: MeterbellServer, admin: ConsoleUser
) -> None:
    """Nothing but the alerts table (which scrolls in its own box) is wider than the screen."""
    raise_alerts(server, admin.org_id)
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        sign_in(page, server, admin)
        screenshot(page, "dashboard-phone", full_page=False)
        for path in ("dashboard", "alerts"):
            page.goto(server.url(f"/console/orgs/{admin.org_id}/{path}"))
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width} px wide"
        screenshot(page, "alerts-phone", full_page=False)
    finally:
        context.close()
