"""The Notifications and Webhooks pages in a real browser, against a real server and a real
webhook receiver: a webhook created through its form (the API lists it; its secret is never
shown again), its Test reaching the receiver signed, and its active toggle; a rule created
through its form after the calculation's error was shown inline (line, column, caret), Test
on the newest event (fires, does not fire), the rule's Last run after an API update
delivered; and another organization's user getting 404 for these pages."""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from meterbell.webhooks import verify
from tests.browser.conftest import ConsoleUser, new_org_user, screenshot, sign_in
from tests.e2e.server import MeterbellServer, eventually
from tests.receiver import Receiver

EVENT = "configuration.commitment.updated"
ACCOUNT_ID = "6a3d5b1e-2c4f-4e8a-9b7c-000000000001"
FIRES_AT_90 = "new.amountSpent >= new.amount * 0.9"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A real webhook receiver, on an event loop of its own in another thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = Receiver()
    asyncio.run_coroutine_threadsafe(running.start(), loop).result(10)
    try:
        yield running
    finally:
        asyncio.run_coroutine_threadsafe(running.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture(scope="module")
def api(server: MeterbellServer) -> Iterator[httpx.Client]:
    """The API of the default organization, with its first credential."""
    credentials = server.initial_credentials()
    token = server.token(credentials).json()["access_token"]
    with httpx.Client(
        base_url=server.url(f"/organizations/{credentials.org_id}/"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    ) as client:
        yield client


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def spend(api: httpx.Client, spent: int) -> None:
    """A new commitment updated to `spent` of 100: a `configuration.commitment.updated` event."""
    commitment = created(
        api.post(
            "commitments",
            json={
                "accountId": ACCOUNT_ID,
                "amount": 100,
                "currency": "USD",
                "startDate": "2026-01-01",
                "endDate": "2027-01-01",
            },
        )
    )
    created(api.put(f"commitments/{commitment['id']}", json={**commitment, "amountSpent": spent}))


def new_webhook(api: httpx.Client, url: str) -> dict[str, Any]:
    credentials = {"type": "M3TER_SIGNED_REQUEST", "apiKey": "k", "secret": "s"}
    body = {"name": f"hook-{uuid.uuid4().hex[:6]}", "url": url, "credentials": credentials}
    return created(api.post("integrationdestinations/webhooks", json=body))


def new_rule(api: httpx.Client) -> dict[str, Any]:
    code = f"every-{uuid.uuid4().hex[:6]}"
    body = {"name": code, "code": code, "eventName": EVENT, "alwaysFireEvent": True}
    return created(api.post("notifications/configurations", json=body))


def delivered(api: httpx.Client, rule_id: str) -> dict[str, Any] | None:
    """The rule's newest run, once it is COMPLETE."""
    latest = api.get(f"integrationruns/Notification/latest?ids={rule_id}")
    run: dict[str, Any] = latest.json()
    return run if latest.status_code == 200 and run["status"] == "COMPLETE" else None


def open_section(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="Console").get_by_role("link", name=label).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(label)


def test_a_webhook_created_through_the_form_is_the_apis_and_its_test_arrives_signed(
    page: Page, server: MeterbellServer, admin: ConsoleUser, api: httpx.Client, receiver: Receiver
) -> None:
    secret = f"secret-{uuid.uuid4().hex}"
    path = f"/form-hook-{uuid.uuid4().hex[:6]}"
    url = receiver.url(f"{path}?tenant=7")
    name = f"Billing {uuid.uuid4().hex[:6]}"
    sign_in(page, server, admin)
    open_section(page, "Webhooks")
    page.get_by_role("link", name="Create a webhook").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("URL").fill("ftp://hooks.example.com/in")
    page.get_by_label("API key (sent as X-m3ter-apikey)").fill("key-7")
    page.get_by_label("Signing secret").fill(secret)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#url-problem")).to_contain_text("http:// or https://")
    # Screen readers: the field at fault is invalid, and described by the message.
    expect(page.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("URL")).to_have_attribute("aria-describedby", "url-problem")
    expect(page.get_by_label("Name")).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Signing secret")).to_have_value("")
    assert secret not in page.content()
    screenshot(page, "webhook-form")

    page.get_by_label("URL").fill(url)
    page.get_by_label("Signing secret").fill(secret)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Webhook {name}")
    expect(page.get_by_label("Signing secret")).to_have_value("")
    assert secret not in page.content()
    [webhook] = [
        w for w in api.get("integrationdestinations/webhooks").json()["data"] if w["name"] == name
    ]
    assert webhook["url"] == url
    assert secret not in str(webhook)

    page.get_by_role("button", name="Test").click()
    expect(page.locator("#webhook-test")).to_contain_text("Delivered: HTTP 200")
    [request] = eventually(lambda: receiver.at(path))
    assert verify(
        url=url, headers=request.headers, body=request.body, api_key="key-7", secret=secret
    )
    assert request.json["eventName"] == "meterbell.webhook.test"

    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_text("This destination is inactive")).to_be_visible()
    assert api.get(f"integrationdestinations/webhooks/{webhook['id']}").json()["active"] is False

    open_section(page, "Webhooks")
    expect(page.get_by_role("link", name=name)).to_be_visible()
    screenshot(page, "webhooks")


def test_a_rule_is_saved_through_the_form_once_its_calculation_error_is_fixed(
    page: Page, server: MeterbellServer, admin: ConsoleUser, api: httpx.Client
) -> None:
    spend(api, 95)
    name = f"Commitment {uuid.uuid4().hex[:6]} at 90%"
    sign_in(page, server, admin)
    open_section(page, "Notifications")
    page.get_by_role("link", name="Create a notification rule").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Code").fill(f"c90-{uuid.uuid4().hex[:6]}")
    page.get_by_label("Event type").select_option(EVENT)
    calculation = page.get_by_label(
        "Calculation", exact=True
    )  # a labelled control: screen readers name it
    calculation.fill("new.amountSpent >=\n  new.nope * 0.9")
    check = page.locator("#calculation-check")
    expect(check).to_contain_text("Line 2, column 3")
    expect(check.locator("pre")).to_contain_text("new.nope * 0.9")
    expect(check.locator("pre")).to_contain_text("^^^^^^^^")
    page.get_by_text("Fields of this event type").click()
    expect(check.get_by_text("new.amountSpent", exact=True)).to_be_visible()

    page.get_by_role("button", name="Save").click()  # the service refuses it, beside the field
    expect(page.locator("#calculation-problem")).to_contain_text("does not compile")
    expect(calculation).to_have_attribute("aria-invalid", "true")
    expect(calculation).to_have_attribute(
        "aria-describedby", "calculation-problem calculation-check"
    )
    screenshot(page, "notification-form")

    page.get_by_label("Calculation", exact=True).fill(FIRES_AT_90)
    expect(check).to_contain_text("OK")
    page.get_by_role("button", name="Test").click()
    expect(page.locator(".test-verdict")).to_have_text("it fires")
    page.get_by_label("Calculation", exact=True).fill("new.amountSpent > 99")
    page.get_by_role("button", name="Test").click()
    expect(page.locator(".test-verdict")).to_have_text("it does not fire")

    page.get_by_label("Calculation", exact=True).fill(FIRES_AT_90)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_text("No runs yet")).to_be_visible()
    rule_id = page.url.rsplit("/", 1)[-1]
    rule = api.get(f"notifications/configurations/{rule_id}").json()
    assert (rule["name"], rule["eventName"], rule["calculation"]) == (name, EVENT, FIRES_AT_90)
    open_section(page, "Notifications")
    expect(page.get_by_role("link", name=name)).to_be_visible()
    screenshot(page, "notifications")


def test_test_without_an_event_of_the_type_says_what_to_do(
    page: Page, server: MeterbellServer, admin: ConsoleUser
) -> None:
    sign_in(page, server, admin)
    page.goto(server.url(f"/console/orgs/{admin.org_id}/notifications/new"))
    page.get_by_label("Event type").select_option("configuration.pricing.deleted")
    page.get_by_label("Calculation", exact=True).fill("true")
    page.get_by_role("button", name="Test").click()
    expect(page.locator("#rule-test")).to_contain_text(
        "No configuration.pricing.deleted event in this organization yet"
    )


def test_the_rules_details_link_its_last_run_once_an_update_is_delivered(
    page: Page, server: MeterbellServer, admin: ConsoleUser, api: httpx.Client, receiver: Receiver
) -> None:
    rule = new_rule(api)
    webhook = new_webhook(api, receiver.url("/last-run"))
    wiring = {
        "entityType": "Notification",
        "entityId": rule["id"],
        "destination": "Webhook",
        "destinationId": webhook["id"],
    }
    created(api.post("integrationconfigs", json=wiring))
    spend(api, 10)
    run = eventually(lambda: delivered(api, rule["id"]))
    sign_in(page, server, admin)
    page.goto(server.url(f"/console/orgs/{admin.org_id}/notifications/{rule['id']}"))
    expect(page.get_by_role("link", name=re.compile("COMPLETE"))).to_have_attribute(
        "href", f"/console/orgs/{admin.org_id}/integrations/runs/{run['id']}"
    )
    expect(page.get_by_role("link", name="View all runs")).to_have_attribute(
        "href", f"/console/orgs/{admin.org_id}/integrations/runs?entityId={rule['id']}"
    )


def test_another_organizations_user_gets_404_for_these_pages(
    page: Page, server: MeterbellServer, admin: ConsoleUser, api: httpx.Client, receiver: Receiver
) -> None:
    rule = new_rule(api)
    webhook = new_webhook(api, receiver.url("/not-theirs"))
    intruder = new_org_user(server, "Intruders")
    sign_in(page, server, intruder)
    for org_id in (admin.org_id, intruder.org_id):
        for path in (f"notifications/{rule['id']}", f"webhooks/{webhook['id']}"):
            response = page.goto(server.url(f"/console/orgs/{org_id}/{path}"))
            assert response is not None
            assert response.status == 404, path
            assert rule["name"] not in page.content()
            assert webhook["name"] not in page.content()
