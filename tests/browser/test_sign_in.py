"""Signing in and out of the console in a real browser, CSRF refusals, and the shell every
page shares (navigation labels, headings, the read-only lists of pages still to be built)."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Browser, Page, expect

from meterbell.services import console_users
from tests.browser.conftest import ConsoleUser, in_store, new_org_user, screenshot, sign_in
from tests.e2e.server import MeterbellServer

NAVIGATION = [
    "Dashboard",
    "Events",
    "Notifications",
    "Webhooks",
    "Integrations",
    "Alerts",
    "Ingest",
    "Exports",
    "Scheduled events",
]


def test_signing_in_opens_the_dashboard(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    page.goto(server.url("/"))
    expect(page).to_have_url(server.url("/console/sign-in?next=%2Fconsole"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to meterbell")
    sign_in(page, server, admin)
    expect(page).to_have_url(server.url(f"/console/orgs/{admin.org_id}/dashboard"))
    navigation = page.get_by_role("navigation", name="Console")
    expect(navigation.get_by_role("link")).to_have_text(NAVIGATION)
    expect(navigation.get_by_role("link", name="Dashboard")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_text(admin.email)).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "mb_session")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (True, "Lax", False)


def test_a_wrong_password_is_refused(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    page.goto(server.url("/console/sign-in"))
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(admin.password + "-wrong")
    page.get_by_role("button", name="Sign in").click()
    problem = page.get_by_role("alert").filter(has_text="Wrong e-mail or password")
    expect(problem).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value(admin.email)
    screenshot(page, "sign-in-refused")
    assert "mb_session" not in {c["name"] for c in page.context.cookies()}
    page.goto(server.url(f"/console/orgs/{admin.org_id}/dashboard"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to meterbell")


def test_signing_out_ends_the_session_everywhere(
    browser: Browser, page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    sign_in(page, server, admin)
    cookies = page.context.cookies()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to meterbell")
    # The session's cookie, kept by another browser, opens nothing any more.
    other = browser.new_context()
    try:
        other.add_cookies(cookies)  # type: ignore[arg-type]
        copy = other.new_page()
        copy.goto(server.url(f"/console/orgs/{admin.org_id}/dashboard"))
        expect(copy.get_by_role("heading", level=1)).to_have_text("Sign in to meterbell")
    finally:
        other.close()


def test_a_form_without_its_csrf_token_is_refused(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    sign_in(page, server, admin)
    page.locator("form[action='/console/sign-out'] input[name='csrf_token']").evaluate(
        "input => input.remove()"
    )
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("That did not work")
    expect(
        page.get_by_role("alert").filter(has_text="without its security (CSRF) token")
    ).to_be_visible()
    # Refused, so still signed in.
    page.goto(server.url("/console"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")


def test_a_sign_in_form_without_its_csrf_token_is_refused(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    page.goto(server.url("/console/sign-in"))
    response = page.request.post(
        server.url("/console/sign-in"), form={"email": admin.email, "password": admin.password}
    )
    assert response.status == 403
    assert "without its security (CSRF) token" in response.text()
    assert "mb_session" not in {c["name"] for c in page.context.cookies()}


def test_every_page_has_its_heading_and_the_switcher_lists_the_orgs(
    page: Page, server: MeterbellServer
) -> None:
    user = new_org_user(server, "Switching")
    second = new_org_user(server, "Second")
    in_store(server, lambda db: console_users.grant_organization(db, second.org_id, user.email))
    sign_in(page, server, user)
    for label in NAVIGATION:
        page.get_by_role("navigation", name="Console").get_by_role(
            "link", name=label, exact=True
        ).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(label)
    switcher = page.get_by_label("Organization")
    expect(switcher.get_by_role("option")).to_have_text(["Second", "Switching"])
    switcher.select_option(label="Second")
    page.get_by_role("button", name="Switch").click()
    expect(page).to_have_url(server.url(f"/console/orgs/{second.org_id}/dashboard"))


PHONE = {"width": 390, "height": 844}


def test_every_page_reads_at_a_phones_width_and_the_keyboard_skips_to_its_content(
    page: Page, server: MeterbellServer
) -> None:
    user = new_org_user(server, "Phone")
    page.set_viewport_size(PHONE)
    sign_in(page, server, user)
    for label in NAVIGATION:
        page.get_by_role("navigation", name="Console").get_by_role(
            "link", name=label, exact=True
        ).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(label)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{label} scrolls sideways by {overflow}px at a phone's width"
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))


def test_cookies_are_secure_behind_an_https_proxy(server: MeterbellServer) -> None:
    """uvicorn takes the scheme from a trusted proxy's X-Forwarded-Proto (loopback is)."""
    plain = httpx.get(server.url("/console/sign-in"), timeout=10.0)
    proxied = httpx.get(
        server.url("/console/sign-in"), headers={"X-Forwarded-Proto": "https"}, timeout=10.0
    )
    assert "secure" not in plain.headers["set-cookie"].lower()
    assert "; secure" in proxied.headers["set-cookie"].lower()
    assert "httponly" in proxied.headers["set-cookie"].lower()


def test_pages_still_to_be_built_list_what_the_api_holds(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    credentials = server.initial_credentials()
    token = server.token(credentials).json()["access_token"]
    created = httpx.post(
        server.url(f"/organizations/{admin.org_id}/integrationdestinations/webhooks"),
        headers={"Authorization": f"Bearer {token}"},
        json={
            "name": "Billing team",
            "url": "http://127.0.0.1:9/billing",
            "credentials": {"type": "M3TER_SIGNED_REQUEST", "apiKey": "k", "secret": "s"},
        },
        timeout=10.0,
    )
    assert created.status_code == 200, created.text
    sign_in(page, server, admin)
    navigation = page.get_by_role("navigation", name="Console")
    navigation.get_by_role("link", name="Webhooks").click()
    row = page.get_by_role("row", name="Billing team")
    expect(row.get_by_role("cell")).to_contain_text(
        ["Billing team", "http://127.0.0.1:9/billing", "Yes"]
    )
    navigation.get_by_role("link", name="Scheduled events").click()
    expect(page.get_by_text("No scheduled events yet: create one")).to_be_visible()
