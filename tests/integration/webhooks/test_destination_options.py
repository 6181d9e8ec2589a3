"""A destination's static headers reach the receiver (and stay out of attempt logs when they
carry credentials); MB_WEBHOOK_HTTPS_ONLY refuses plain http at delivery time too; and an
integration whose runs keep failing raises INTEGRATION_FAILING before it is disabled."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from meterbell.store.db import Database
from tests.conftest import OrgApi, new_org_api
from tests.integration.api.test_alerts import listed
from tests.integration.webhooks.conftest import Wiring, live_engine, new_commitment, spend
from tests.integration.webhooks.test_delivery import poll, settled_runs
from tests.integration.webhooks.test_signing import fire, wire_webhook
from tests.receiver import Receiver

ATTEMPTS = 2
WARN_AFTER = 2
AUTO_DISABLE_AFTER = 4
M3TER = {"type": "M3TER_SIGNED_REQUEST", "apiKey": "key", "secret": "secret"}


@pytest.fixture(scope="module")
async def live_client(
    db: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    async with live_engine(
        db,
        tmp_path_factory.mktemp("options"),
        delivery_attempts=ATTEMPTS,
        auto_disable_after=AUTO_DISABLE_AFTER,
        auto_disable_warn_after=WARN_AFTER,
    ) as client:
        yield client


async def wired(api: OrgApi, receiver: Receiver, path: str, **fields: Any) -> Wiring:
    webhook, rule = await wire_webhook(api, receiver, path, M3TER, **fields)
    configs = await api.get("integrationconfigs", params={"destinationId": webhook["id"]})
    [config] = configs.json()["data"]
    return Wiring(rule, webhook, config, path)


async def attempts_of(api: OrgApi, run_id: str) -> list[dict[str, Any]]:
    payload = (await api.get(f"integrationruns/logs/{run_id}")).json()["Payload"]
    return list(orjson.loads(base64.b64decode(payload))["attempts"])


async def test_static_headers_are_sent_and_credentials_among_them_not_logged(
    live: OrgApi, receiver: Receiver
) -> None:
    headers = {"X-Tenant": "acme", "Authorization": "Bearer sesame", "X-Empty": ""}
    wiring = await wired(live, receiver, "/static", headers=headers)
    [request] = await fire(live, receiver, "/static")
    assert request.headers["X-Tenant"] == "acme"
    assert request.headers["Authorization"] == "Bearer sesame"
    assert request.headers["X-Empty"] == ""
    assert request.headers["Content-Type"] == "application/json"
    assert "X-m3ter-signature" in request.headers
    [run] = await settled_runs(live, wiring, 1)
    [attempt] = await attempts_of(live, run["id"])
    logged = attempt["requestHeaders"]
    assert logged["X-Tenant"] == "acme"
    assert logged["Authorization"] == "[redacted]"
    assert logged["X-m3ter-signature"] == "[redacted]"
    assert "sesame" not in str(await attempts_of(live, run["id"]))


async def test_a_standard_destination_log_hides_its_signature(
    live: OrgApi, receiver: Receiver
) -> None:
    webhook, rule = await wire_webhook(live, receiver, "/std-log", {"type": "STANDARD_WEBHOOKS"})
    [request] = await fire(live, receiver, "/std-log")
    [run] = await settled_runs(live, Wiring(rule, webhook, {}, "/std-log"), 1)
    [attempt] = await attempts_of(live, run["id"])
    assert attempt["requestHeaders"]["webhook-signature"] == "[redacted]"
    assert attempt["requestHeaders"]["webhook-id"] == request.headers["webhook-id"]
    assert webhook["credentials"]["secret"] not in str(attempt)


async def alerts_of(api: OrgApi, wiring: Wiring, alert_type: str) -> list[dict[str, Any]]:
    return await listed(api, type=alert_type, resourceId=wiring.config["id"])


async def settle_one_more(
    api: OrgApi, wiring: Wiring, commitment: dict[str, Any], done: int
) -> dict[str, Any]:
    commitment = await spend(api, commitment, float(commitment.get("amountSpent") or 0) + 1)
    await settled_runs(api, wiring, done + 1)
    return commitment


async def test_failing_runs_warn_before_the_integration_is_disabled(
    live: OrgApi, receiver: Receiver
) -> None:
    receiver.answer("/failing", then=500)
    wiring = await wired(live, receiver, "/failing")
    commitment = await new_commitment(live)
    for done in range(WARN_AFTER - 1):
        commitment = await settle_one_more(live, wiring, commitment, done)
    assert await alerts_of(live, wiring, "INTEGRATION_FAILING") == []

    commitment = await settle_one_more(live, wiring, commitment, WARN_AFTER - 1)
    [warning] = await alerts_of(live, wiring, "INTEGRATION_FAILING")
    assert (warning["status"], warning["severity"], warning["count"]) == ("NEW", "WARN", 1)
    assert f"failed {WARN_AFTER} runs in a row" in warning["description"]
    left = AUTO_DISABLE_AFTER - WARN_AFTER
    assert f"{left} more failed runs and it is disabled" in warning["description"]
    config = (await live.get(f"integrationconfigs/{wiring.config['id']}")).json()
    assert config["enabled"] is True
    assert await alerts_of(live, wiring, "INTEGRATION_DISABLED") == []

    for done in range(WARN_AFTER, AUTO_DISABLE_AFTER):
        commitment = await settle_one_more(live, wiring, commitment, done)
    [warning] = await alerts_of(live, wiring, "INTEGRATION_FAILING")
    assert warning["count"] == AUTO_DISABLE_AFTER - WARN_AFTER  # the run that disables: none
    [disabled] = await alerts_of(live, wiring, "INTEGRATION_DISABLED")
    assert disabled["status"] == "NEW"
    assert warning["dtFirstSeen"] < disabled["dtFirstSeen"]

    receiver.answer("/failing", then=200)
    enabled = await live.post(f"integrationconfigs/{wiring.config['id']}/enable")
    assert enabled.status_code == 200, enabled.text
    [resolved] = await alerts_of(live, wiring, "INTEGRATION_FAILING")
    assert resolved["status"] == "RESOLVED"


async def test_a_delivered_run_resolves_the_warning(live: OrgApi, receiver: Receiver) -> None:
    receiver.answer("/flaky", *[500] * (ATTEMPTS * WARN_AFTER), then=200)
    wiring = await wired(live, receiver, "/flaky")
    commitment = await new_commitment(live)
    for done in range(WARN_AFTER):
        commitment = await settle_one_more(live, wiring, commitment, done)
    [warning] = await alerts_of(live, wiring, "INTEGRATION_FAILING")
    assert warning["status"] == "NEW"
    await settle_one_more(live, wiring, commitment, WARN_AFTER)
    [resolved] = await alerts_of(live, wiring, "INTEGRATION_FAILING")
    assert resolved["status"] == "RESOLVED"
    assert "of this integration was delivered" in resolved["description"]


async def test_https_only_refuses_plain_http_at_delivery_time(
    own_db: Database, tmp_path: Path, receiver: Receiver
) -> None:
    """A destination stored with an http URL (before MB_WEBHOOK_HTTPS_ONLY was set) gets
    nothing: its runs fail, saying why."""
    async with live_engine(own_db, tmp_path / "plain", delivery_attempts=1) as plain:
        api = await new_org_api(plain, own_db, "Before https only")
        webhook, rule = await wire_webhook(api, receiver, "/plain", M3TER)
    async with live_engine(
        own_db, tmp_path / "strict", delivery_attempts=1, webhook_https_only=True
    ) as strict:
        api.client = strict
        await spend(api, await new_commitment(api), 1)

        async def failed() -> list[dict[str, Any]]:
            runs = (await api.get(f"integrationruns/Notification/{rule['id']}")).json()["data"]
            return [run for run in runs if run["status"] == "ERROR"]

        [run] = await poll(failed)
        [attempt] = await attempts_of(api, run["id"])
    assert "MB_WEBHOOK_HTTPS_ONLY" in attempt["error"]
    assert receiver.at("/plain") == []
    assert webhook["url"].startswith("http://")
