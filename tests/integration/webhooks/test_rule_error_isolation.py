"""The reproduction of issue 13 §1, end to end through the API: a rule that compiles but errors
on an event (`new.customFields.tier > 2` on a tier of "gold") is recorded as that rule's
evaluation error, on the event and on the rule; the event's other rules still fire, and another
organization's notifications still reach their receiver."""

from __future__ import annotations

from typing import Any

import httpx

from meterbell.domain.catalog import entity_by_name
from meterbell.store.db import Database
from tests.conftest import OrgApi, new_org_api
from tests.factories import minimal_body
from tests.faults import dead_letters
from tests.integration.webhooks.conftest import wire
from tests.integration.webhooks.test_delivery import poll
from tests.receiver import Receiver

ACCOUNT_CREATED = "configuration.account.created"
# Compiles, but errors on an account whose tier is not a number.
TIER_ABOVE_2 = "new.customFields.tier > 2"


async def new_account(api: OrgApi, **custom_fields: Any) -> dict[str, Any]:
    body = {**minimal_body(entity_by_name("account")), "customFields": custom_fields}
    response = await api.post("accounts", body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def tier_above_2_rule(api: OrgApi) -> dict[str, Any]:
    """A rule on accounts created that errors on a tier of "gold"."""
    body = {
        "name": "Tier above 2",
        "code": "tier_above_2",
        "eventName": ACCOUNT_CREATED,
        "calculation": TIER_ABOVE_2,
    }
    response = await api.post("notifications/configurations", body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def rule_errors(api: OrgApi, rule_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"notifications/configurations/{rule_id}/errors")
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def test_a_rule_that_errors_holds_back_no_rule_and_no_organization(
    live: OrgApi, live_client: httpx.AsyncClient, db: Database, receiver: Receiver
) -> None:
    neighbour = await new_org_api(live_client, db, "Neighbour organization")
    tier = await tier_above_2_rule(live)
    beside = await wire(
        live, receiver, "/beside", calculation=None, always=True, event_name=ACCOUNT_CREATED
    )
    elsewhere = await wire(
        neighbour, receiver, "/elsewhere", calculation=None, always=True, event_name=ACCOUNT_CREATED
    )

    await new_account(live, tier="gold")
    await new_account(neighbour, tier=3)

    (other,) = await receiver.wait_for("/elsewhere", 1)
    assert other.json["m3terEvent"]["notification"]["id"] == elsewhere.rule["id"]
    (same,) = await receiver.wait_for("/beside", 1)
    assert same.json["m3terEvent"]["notification"]["id"] == beside.rule["id"]
    (error,) = await poll(lambda: rule_errors(live, tier["id"]))
    assert error["ruleVersion"] == 1
    assert "tier" in error["error"]
    evaluated = await live.post(
        "notifications/evaluate",
        {"calculation": TIER_ABOVE_2, "eventId": error["eventId"]},
    )
    assert evaluated.json()["result"]["recordedErrors"] == [error]
    assert await dead_letters(live, "dispatcher") == []
    assert await rule_errors(neighbour, elsewhere.rule["id"]) == []
