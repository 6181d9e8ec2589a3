"""Slack through a live engine, a real receiver standing in for Slack: the message a firing
posts (text and blocks), retries, failure and auto-disable as for webhooks, and the
incoming-webhook URL never shown in full in runs, logs or error events."""

from __future__ import annotations

import base64
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from meterbell.store.db import Database
from tests.conftest import OrgApi, new_org_api
from tests.integration.webhooks.conftest import (
    FAST_DELIVERY,
    SEED_RULE,
    live_engine,
    new_commitment,
    spend,
)
from tests.integration.webhooks.test_delivery import events_named, poll
from tests.receiver import Receiver

PUBLIC_URL = "https://meterbell.example.com"
BACKOFF = FAST_DELIVERY["delivery_backoff_s"]


@pytest.fixture(scope="module")
async def slack_client(
    db: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    async with live_engine(db, tmp_path_factory.mktemp("slack"), public_url=PUBLIC_URL) as client:
        yield client


@pytest.fixture
async def live(slack_client: httpx.AsyncClient, db: Database) -> OrgApi:
    return await new_org_api(slack_client, db, "Slack organization")


@dataclass
class SlackWiring:
    rule: dict[str, Any]
    config: dict[str, Any]
    path: str
    url: str  # the full incoming-webhook URL


async def wire_slack(
    api: OrgApi, receiver: Receiver, *, calculation: str | None = None
) -> SlackWiring:
    """A rule on commitment updates, delivered to a Slack webhook on the receiver."""
    token = uuid.uuid4().hex
    path = f"/services/T0001/B0001/{token}"
    rule = await api.post(
        "notifications/configurations",
        {
            "name": "Commitment nearly spent",
            "code": f"spend_{token[:8]}",
            "eventName": "configuration.commitment.updated",
            "calculation": calculation,
            "alwaysFireEvent": calculation is None,
        },
    )
    assert rule.status_code == 200, rule.text
    url = receiver.url(path)
    config = await api.post(
        "integrationconfigs",
        {
            "entityType": "Notification",
            "entityId": rule.json()["id"],
            "destination": "Slack",
            "credentials": {"type": "SLACK_WEBHOOK", "url": url},
        },
    )
    assert config.status_code == 200, config.text
    return SlackWiring(rule.json(), config.json(), path, url)


async def slack_runs(api: OrgApi, wiring: SlackWiring, count: int) -> list[dict[str, Any]]:
    """The rule's runs, once `count` of them are final."""

    async def check() -> list[dict[str, Any]] | None:
        response = await api.get(
            f"integrationruns/Notification/{wiring.rule['id']}", params={"pageSize": 100}
        )
        runs = list(response.json()["data"])
        final = [r for r in runs if r["status"] in ("COMPLETE", "ERROR", "DISABLED")]
        return runs if len(final) >= count else None

    return list(await poll(check))


async def attempts_of(api: OrgApi, run: dict[str, Any]) -> list[dict[str, Any]]:
    payload = (await api.get(f"integrationruns/logs/{run['id']}")).json()["Payload"]
    return list(orjson.loads(base64.b64decode(payload))["attempts"])


def section_texts(message: dict[str, Any]) -> list[str]:
    return [block["text"]["text"] for block in message["blocks"] if block["type"] == "section"]


async def test_a_firing_posts_a_readable_message(live: OrgApi, receiver: Receiver) -> None:
    wiring = await wire_slack(live, receiver, calculation=SEED_RULE)
    commitment = await new_commitment(live, amount=1000)
    commitment = await spend(live, commitment, 899)
    await spend(live, commitment, 950)
    (request,) = await receiver.wait_for(wiring.path, 1)
    assert request.headers["Content-Type"] == "application/json"
    assert not any(name.lower().startswith("x-m3ter") for name in request.headers)
    message = request.json
    assert message["text"] == (
        f"Commitment nearly spent: configuration.commitment.updated on commitment "
        f"{commitment['id']}"
    )
    header, summary, changes = message["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Commitment nearly spent"},
    }
    (run,) = await slack_runs(live, wiring, 1)
    console = f"{PUBLIC_URL}/console/orgs/{live.org_id}"
    notification = (await live.get("events", params={"notificationId": wiring.rule["id"]})).json()
    trigger = notification["data"][0]["m3terEvent"]["triggeringEvent"]
    summary_text = summary["text"]["text"]
    assert summary["text"]["type"] == "mrkdwn"
    assert (
        f"*Event:* <{console}/events/{trigger['id']}|`configuration.commitment.updated`>"
        in summary_text
    )
    assert f"*Entity:* Commitment `{commitment['id']}`" in summary_text
    assert (
        f"*Rule:* <{console}/notifications/{wiring.rule['id']}|Commitment nearly spent>"
        in summary_text
    )
    assert changes["text"]["text"] == "*Changed fields*\n• `amountSpent`: `899` → `950`"
    assert run["status"] == "COMPLETE"
    assert run["destination"] == "Slack"
    assert run["destinationId"] == wiring.config["id"]


async def test_retries_on_5xx_then_succeeds(live: OrgApi, receiver: Receiver) -> None:
    wiring = await wire_slack(live, receiver)
    receiver.answer(wiring.path, 500, 503, then=200)
    await spend(live, await new_commitment(live), 1)
    attempts = await receiver.wait_for(wiring.path, 3)
    (run,) = await slack_runs(live, wiring, 1)
    assert run["status"] == "COMPLETE"
    assert run["attempts"] == 3
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= BACKOFF * 0.9
    assert gaps[1] >= BACKOFF * 2 * 0.9
    assert len({a.body for a in attempts}) == 1
    logged = await attempts_of(live, run)
    assert [a["statusCode"] for a in logged] == [500, 503, 200]
    assert logged[0]["error"] == "non-2xx response: HTTP 500"


async def test_repeated_failures_error_runs_and_disable_the_integration(
    live: OrgApi, receiver: Receiver
) -> None:
    wiring = await wire_slack(live, receiver)
    receiver.answer(wiring.path, then=500)
    commitment = await new_commitment(live)
    limit = FAST_DELIVERY["auto_disable_after"]
    for n in range(limit):
        commitment = await spend(live, commitment, n + 1)
        await slack_runs(live, wiring, n + 1)
    assert len(receiver.at(wiring.path)) == limit * FAST_DELIVERY["delivery_attempts"]

    async def disabled_config() -> dict[str, Any] | None:
        config = (await live.get(f"integrationconfigs/{wiring.config['id']}")).json()
        return None if config["enabled"] else dict(config)

    config = await poll(disabled_config)
    assert config["status"] == "DISABLED"
    assert "3 consecutive runs failed" in config["disabledReason"]
    failed = await poll(lambda: events_named(live, "integration.perform.error"))
    disabled = await poll(lambda: events_named(live, "integration.disabled.error"))
    for event in (*failed, *disabled):
        detail = event["m3terEvent"]["eventData"]["newDto"]
        assert detail["destination"] == "Slack"
        assert detail["integrationConfigId"] == wiring.config["id"]
        assert detail["url"] == wiring.config["credentials"]["url"]
    sent_before = len(receiver.at(wiring.path))
    commitment = await spend(live, commitment, 100)
    runs = await slack_runs(live, wiring, limit + 1)
    assert runs[0]["status"] == "DISABLED"
    assert len(receiver.at(wiring.path)) == sent_before

    receiver.answer(wiring.path, then=200)
    enabled = await live.post(f"integrationconfigs/{wiring.config['id']}/enable")
    assert enabled.json()["enabled"] is True
    await spend(live, commitment, 200)
    runs = await slack_runs(live, wiring, limit + 2)
    assert runs[0]["status"] == "COMPLETE"


async def test_410_from_slack_disables_at_once(live: OrgApi, receiver: Receiver) -> None:
    """Slack answers 410 for an archived channel: there is no point trying again."""
    wiring = await wire_slack(live, receiver)
    receiver.answer(wiring.path, then=410)
    await spend(live, await new_commitment(live), 1)
    (run,) = await slack_runs(live, wiring, 1)
    assert run["status"] == "ERROR"
    assert run["attempts"] == 1
    config = (await live.get(f"integrationconfigs/{wiring.config['id']}")).json()
    assert "410 Gone" in config["disabledReason"]


async def test_the_url_is_never_shown_in_full(live: OrgApi, receiver: Receiver) -> None:
    wiring = await wire_slack(live, receiver)
    receiver.answer(wiring.path, 500, then=200)
    await spend(live, await new_commitment(live), 1)
    (run,) = await slack_runs(live, wiring, 1)
    token = wiring.path.rsplit("/", 1)[-1]
    masked = wiring.config["credentials"]["url"]
    assert masked == f"{receiver.url('')}/…{token[-4:]}"
    assert run["url"] == masked
    logged = await attempts_of(live, run)
    assert [a["url"] for a in logged] == [masked, masked]
    shown = [
        await live.get(f"integrationconfigs/{wiring.config['id']}"),
        await live.get(f"integrationruns/Notification/{wiring.rule['id']}"),
        await live.get(f"integrationruns/logs/{run['id']}"),
        await live.get("events", params={"pageSize": 100}),
    ]
    for response in shown:
        assert response.status_code == 200
        text = response.text + base64.b64decode(response.json().get("Payload", "")).decode()
        assert token not in text


async def test_another_organization_gets_nothing(
    live: OrgApi, slack_client: httpx.AsyncClient, db: Database, receiver: Receiver
) -> None:
    wiring = await wire_slack(live, receiver)
    other = await new_org_api(slack_client, db, "Other organization")
    other_wiring = await wire_slack(other, receiver)
    await spend(other, await new_commitment(other), 1)
    await receiver.wait_for(other_wiring.path, 1)
    (run,) = await slack_runs(other, other_wiring, 1)
    assert (await other.get(f"integrationconfigs/{wiring.config['id']}")).status_code == 404
    theirs = await live.get(f"integrationruns/Notification/{other_wiring.rule['id']}")
    assert theirs.json()["data"] == []
    assert (await live.get(f"integrationruns/logs/{run['id']}")).status_code == 404
    assert receiver.at(wiring.path) == []


async def test_a_resent_run_posts_the_same_message_again(live: OrgApi, receiver: Receiver) -> None:
    wiring = await wire_slack(live, receiver)
    await spend(live, await new_commitment(live), 1)
    (first,) = await receiver.wait_for(wiring.path, 1)
    (run,) = await slack_runs(live, wiring, 1)
    resent = await live.post(f"integrationruns/{run['id']}/resend")
    assert resent.status_code == 200, resent.text
    assert resent.json()["parentIntegrationRunId"] == run["id"]
    _, second = await receiver.wait_for(wiring.path, 2)
    assert second.body == first.body
    runs = await slack_runs(live, wiring, 2)
    assert [r["status"] for r in runs] == ["COMPLETE", "COMPLETE"]
