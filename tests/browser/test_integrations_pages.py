"""The Integrations and Events pages in a real browser, against a real server and a real
receiver: an API update produces a run whose attempts the run page shows, Resend sends it
again; a failing receiver raises an alert the user takes IN_PROGRESS and an error event they
mark as actioned; an auto-disabled integration says why, Re-enable turns it back on and
delivery resumes; another organization's user opens none of it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    ConsoleUser,
    api_get,
    new_org_user,
    new_product,
    running_server,
    screenshot,
    sign_in,
    wire_rule,
)
from tests.e2e.server import MeterbellServer, eventually
from tests.receiver import Receiver

EVENT = "configuration.product.created"
AUTO_DISABLE_AFTER = 2


@pytest.fixture(scope="module")
def server(
    database_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MeterbellServer]:
    """Deliveries that give up at once, and integrations disabled after two failed runs."""
    with running_server(
        database_url,
        tmp_path_factory.mktemp("integrations"),
        MB_DELIVERY_ATTEMPTS="1",
        MB_AUTO_DISABLE_AFTER=str(AUTO_DISABLE_AFTER),
        MB_WORKER_POLL_S="0.1",
    ) as running:
        yield running


def own_path(name: str) -> str:
    """A receiver path of one test on one store (the receiver serves the module's both)."""
    return f"/{name}-{uuid.uuid4().hex[:8]}"


def runs_of(server: MeterbellServer, rule_id: str) -> list[dict[str, str]]:
    return list(api_get(server, f"integrationruns/Notification/{rule_id}").json()["data"])


def settled(server: MeterbellServer, rule_id: str, count: int) -> list[dict[str, str]]:
    """The rule's runs, once `count` of them have finished."""

    def finished() -> list[dict[str, str]] | None:
        runs = runs_of(server, rule_id)
        done = [r for r in runs if r["status"] in ("COMPLETE", "ERROR", "DISABLED")]
        return runs if len(done) >= count else None

    return eventually(finished, 15.0)


def test_an_api_update_makes_a_run_whose_attempts_the_page_shows_and_resend_repeats(
    page: Page, server: MeterbellServer, admin: ConsoleUser, receiver: Receiver
) -> None:
    path = own_path("delivered")
    receiver.answer(path, then=200)
    wired = wire_rule(server, receiver.url(path), EVENT)
    new_product(server)
    [run] = settled(server, wired["rule"]["id"], 1)
    assert run["status"] == "COMPLETE"

    sign_in(page, server, admin)
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Integrations").click()
    row = page.locator(f"#integration-{wired['config']['id']}")
    expect(row.get_by_role("cell").nth(2)).to_have_text("Yes")
    screenshot(page, "integrations")
    row.get_by_role("link", name="of this rule").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Integration runs")
    expect(page.get_by_label("Rule id")).to_have_value(wired["rule"]["id"])
    page.get_by_role("link", name=run["id"]).click()

    expect(page.get_by_role("heading", level=1)).to_contain_text(run["id"])
    attempt = page.get_by_role("table").get_by_role("row").nth(1)
    expect(attempt.get_by_role("cell").nth(2)).to_have_text("200")
    expect(attempt).to_contain_text("answer 200")
    expect(attempt).to_contain_text(" ms")
    screenshot(page, "run")

    page.get_by_role("button", name="Resend").click()
    expect(page.get_by_role("link", name=run["id"])).to_be_visible()  # "Sends again" it
    eventually(lambda: len(receiver.at(path)) == 2, 15.0)
    runs = settled(server, wired["rule"]["id"], 2)
    [again] = [r for r in runs if r["id"] != run["id"]]
    assert again["parentIntegrationRunId"] == run["id"]
    expect(page).to_have_url(re.compile(f"/integrations/runs/{again['id']}$"))


def error_event_of(server: MeterbellServer, config_id: str) -> dict[str, Any]:
    """The integration.perform.error event of the integration, once there is one."""

    def found() -> dict[str, Any] | None:
        listed = api_get(server, "events?eventName=integration.perform.error&pageSize=100")
        return next(
            (
                event
                for event in listed.json()["data"]
                if event["m3terEvent"]["eventData"]["newDto"]["integrationConfigId"] == config_id
            ),
            None,
        )

    return eventually(found, 15.0)


def test_a_failing_receiver_raises_an_alert_and_an_error_event_the_user_handles(
    page: Page, server: MeterbellServer, admin: ConsoleUser, receiver: Receiver
) -> None:
    path = own_path("broken")
    receiver.answer(path, then=500)
    wired = wire_rule(server, receiver.url(path), EVENT)
    config_id = wired["config"]["id"]
    new_product(server)
    [run] = settled(server, wired["rule"]["id"], 1)
    event = error_event_of(server, config_id)

    sign_in(page, server, admin)
    page.goto(server.url(f"/console/orgs/{admin.org_id}/alerts?type=INTEGRATION_PERFORM_ERROR"))
    alert = page.get_by_role("row").filter(has_text=config_id)
    expect(alert.get_by_role("cell").first).to_have_text("NEW")
    alert.get_by_role("button", name="IN_PROGRESS").click()
    expect(alert.get_by_role("cell").first).to_have_text("IN_PROGRESS")

    nav = page.get_by_role("navigation", name="Console")
    nav.get_by_role("link", name="Events", exact=True).click()
    page.get_by_role("link", name="Integration events not actioned").click()
    listed = page.locator(f"#event-{event['id']}")
    expect(listed).to_contain_text("Not actioned")
    screenshot(page, "events")
    listed.get_by_role("link", name=event["id"]).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(event["id"])
    changed = page.get_by_role("row").filter(has=page.get_by_text("integrationRunId"))
    expect(changed).to_contain_text(run["id"])
    expect(changed).to_contain_text("Changed")  # a new payload: every field is new
    screenshot(page, "event")
    page.get_by_role("link", name="View run").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(run["id"])
    page.go_back()
    page.get_by_role("link", name="Go to integration").click()
    expect(page.locator(f"#integration-{config_id}")).to_be_visible()
    page.go_back()

    page.get_by_role("button", name="Mark as actioned").click()
    expect(page.get_by_role("button", name="Mark as actioned")).to_have_count(0)
    assert api_get(server, f"events/{event['id']}").json()["dtActioned"] is not None
    nav.get_by_role("link", name="Events", exact=True).click()
    page.get_by_role("link", name="Integration events not actioned").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Events")
    expect(page.locator(f"#event-{event['id']}")).to_have_count(0)
    expect(page.get_by_label("Actioned")).to_have_value("false")  # labelled filter control


def test_an_auto_disabled_integration_says_why_and_re_enabling_resumes_delivery(
    page: Page, server: MeterbellServer, admin: ConsoleUser, receiver: Receiver
) -> None:
    path = own_path("flaky")
    receiver.answer(path, *[503] * AUTO_DISABLE_AFTER, then=200)
    wired = wire_rule(server, receiver.url(path), EVENT)
    config_id = wired["config"]["id"]
    for done in range(1, AUTO_DISABLE_AFTER + 1):
        new_product(server)
        settled(server, wired["rule"]["id"], done)
    new_product(server)  # while disabled: not sent
    runs = settled(server, wired["rule"]["id"], AUTO_DISABLE_AFTER + 1)
    assert sorted(r["status"] for r in runs) == ["DISABLED"] + ["ERROR"] * AUTO_DISABLE_AFTER

    sign_in(page, server, admin)
    page.goto(server.url(f"/console/orgs/{admin.org_id}/integrations?ids={config_id}"))
    row = page.locator(f"#integration-{config_id}")
    expect(row.get_by_role("cell").nth(2)).to_have_text("No")
    expect(row.get_by_role("cell").nth(3)).to_contain_text("failed")
    row.get_by_role("button", name="Re-enable").click()
    expect(row.get_by_role("cell").nth(2)).to_have_text("Yes")
    expect(row.get_by_role("button", name="Re-enable")).to_have_count(0)

    sent_before = len(receiver.at(path))
    new_product(server)
    eventually(lambda: len(receiver.at(path)) == sent_before + 1, 15.0)
    newest = settled(server, wired["rule"]["id"], AUTO_DISABLE_AFTER + 2)[0]
    assert newest["status"] == "COMPLETE"


def test_another_organizations_user_opens_none_of_it(
    page: Page, server: MeterbellServer, admin: ConsoleUser, receiver: Receiver
) -> None:
    path = own_path("walled")
    receiver.answer(path, then=200)
    wired = wire_rule(server, receiver.url(path), EVENT)
    new_product(server)
    [run] = settled(server, wired["rule"]["id"], 1)
    intruder = new_org_user(server, "Intruder")
    sign_in(page, server, intruder)
    event = api_get(server, "events?pageSize=1").json()["data"][0]
    theirs = f"/console/orgs/{admin.org_id}"
    for path in (
        f"{theirs}/integrations",
        f"{theirs}/integrations/runs",
        f"{theirs}/integrations/runs/{run['id']}",
        f"{theirs}/events",
        f"{theirs}/events/{event['id']}",
    ):
        response = page.goto(server.url(path))
        assert response is not None
        assert response.status == 404, path
    mine = f"/console/orgs/{intruder.org_id}/integrations/runs/{run['id']}"
    response = page.goto(server.url(mine))
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("alert").last).to_contain_text(
        f"No integration run with id {run['id']}"
    )
    response = page.goto(server.url(f"/console/orgs/{intruder.org_id}/events/{event['id']}"))
    assert response is not None
    assert response.status == 404
    page.goto(server.url(f"/console/orgs/{intruder.org_id}/integrations/runs"))
    expect(page.get_by_text("No runs")).to_be_visible()
    expect(page.get_by_label("Status")).to_be_visible()  # labelled filter controls
