"""Alerts of deliveries, through a live engine to a real receiver: a failing receiver makes one
alert whose count rises, a later delivery resolves it; auto-disable raises its own alert, which
re-enabling resolves; and a rule on `configuration.alert.created` forwards alerts to a webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from meterbell.store.db import Database
from tests.conftest import OrgApi
from tests.integration.api.test_alerts import listed
from tests.integration.webhooks.conftest import Wiring, live_engine, new_commitment, spend, wire
from tests.integration.webhooks.test_delivery import events_named, settled_runs
from tests.receiver import Receiver

ATTEMPTS = 2
AUTO_DISABLE_AFTER = 4


@pytest.fixture(scope="module")
async def live_client(
    db: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    async with live_engine(
        db,
        tmp_path_factory.mktemp("alerts"),
        delivery_attempts=ATTEMPTS,
        auto_disable_after=AUTO_DISABLE_AFTER,
    ) as client:
        yield client


async def alerts_on(api: OrgApi, wiring: Wiring, alert_type: str) -> list[dict[str, Any]]:
    return await listed(api, type=alert_type, resourceId=wiring.config["id"])


async def runs_settled_one_by_one(
    api: OrgApi, wiring: Wiring, commitment: dict[str, Any], runs: int, done: int = 0
) -> dict[str, Any]:
    """Fire the wired always-firing rule `runs` times, each run settled before the next."""
    for _ in range(runs):
        commitment = await spend(api, commitment, float(commitment.get("amountSpent") or 0) + 1)
        done += 1
        await settled_runs(api, wiring, done)
    return commitment


async def test_a_failing_receiver_makes_one_alert_a_later_delivery_resolves(
    live: OrgApi, receiver: Receiver
) -> None:
    failed_runs = AUTO_DISABLE_AFTER - 1
    receiver.answer("/down", *[500] * (ATTEMPTS * failed_runs), then=200)
    wiring = await wire(live, receiver, "/down", calculation=None, always=True)
    commitment = await runs_settled_one_by_one(
        live, wiring, await new_commitment(live), failed_runs
    )
    [alert] = await alerts_on(live, wiring, "INTEGRATION_PERFORM_ERROR")
    assert (alert["status"], alert["severity"], alert["count"]) == ("NEW", "WARN", failed_runs)
    assert alert["resourceType"] == "IntegrationConfiguration"
    errors = await events_named(live, "integration.perform.error")
    assert alert["eventIds"] == [event["id"] for event in reversed(errors)]
    assert "answers 2xx" in alert["description"]
    assert len(await events_named(live, "configuration.alert.created")) == 1
    assert len(await events_named(live, "configuration.alert.updated")) == failed_runs - 1

    await runs_settled_one_by_one(live, wiring, commitment, 1, done=failed_runs)
    [delivered] = [
        r for r in await settled_runs(live, wiring, failed_runs + 1) if r["status"] == "COMPLETE"
    ]
    [resolved] = await alerts_on(live, wiring, "INTEGRATION_PERFORM_ERROR")
    assert (resolved["status"], resolved["count"]) == ("RESOLVED", failed_runs)
    assert resolved["description"].endswith(
        f"Resolved: run {delivered['id']} of this integration was delivered."
    )
    assert await alerts_on(live, wiring, "INTEGRATION_DISABLED") == []


async def test_auto_disable_raises_an_alert_that_re_enabling_resolves(
    live: OrgApi, receiver: Receiver
) -> None:
    receiver.answer("/gone-bad", then=500)
    wiring = await wire(live, receiver, "/gone-bad", calculation=None, always=True)
    await runs_settled_one_by_one(live, wiring, await new_commitment(live), AUTO_DISABLE_AFTER)
    [disabled] = await alerts_on(live, wiring, "INTEGRATION_DISABLED")
    [event] = await events_named(live, "integration.disabled.error")
    assert (disabled["status"], disabled["severity"], disabled["count"]) == ("NEW", "ERROR", 1)
    assert disabled["eventIds"] == [event["id"]]
    assert f"{AUTO_DISABLE_AFTER} consecutive runs failed" in disabled["description"]
    assert f"/integrationconfigs/{wiring.config['id']}/enable" in disabled["description"]
    [failing] = await alerts_on(live, wiring, "INTEGRATION_PERFORM_ERROR")
    assert failing["count"] == AUTO_DISABLE_AFTER

    enabled = await live.post(f"integrationconfigs/{wiring.config['id']}/enable")
    assert enabled.status_code == 200, enabled.text
    for alert_type in ("INTEGRATION_DISABLED", "INTEGRATION_PERFORM_ERROR"):
        [alert] = await alerts_on(live, wiring, alert_type)
        assert alert["status"] == "RESOLVED"
        assert "Resolved: the integration was re-enabled by " in alert["description"]


async def test_a_rule_on_alert_created_forwards_alerts_to_a_webhook(
    live: OrgApi, receiver: Receiver
) -> None:
    await wire(
        live,
        receiver,
        "/pager",
        calculation=None,
        always=True,
        event_name="configuration.alert.created",
    )
    receiver.answer("/broken", then=500)
    broken = await wire(live, receiver, "/broken", calculation=None, always=True)
    await runs_settled_one_by_one(live, broken, await new_commitment(live), 2)
    [page] = await receiver.wait_for("/pager", 1)
    assert page.json["eventName"] == "configuration.alert.created"
    forwarded = page.json["m3terEvent"]["eventData"]["newDto"]
    [alert] = await alerts_on(live, broken, "INTEGRATION_PERFORM_ERROR")
    assert forwarded["id"] == alert["id"]
    assert (forwarded["type"], forwarded["resourceId"]) == (
        "INTEGRATION_PERFORM_ERROR",
        broken.config["id"],
    )
    assert forwarded["count"] == 1
    assert alert["count"] == 2
    assert len(receiver.at("/pager")) == 1  # the rule is on created alerts, not on updates
