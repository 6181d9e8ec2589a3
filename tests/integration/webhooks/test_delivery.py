"""End to end through a live engine to a real HTTP receiver: rules fire, webhooks arrive
signed, failures retry, fail, auto-disable, and a slow receiver delays only itself."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import time
from typing import Any

import orjson
import pytest

from meterbell.domain.errors import NotFound
from meterbell.services import orgs, runs
from meterbell.store.db import Database
from meterbell.webhooks import verify
from tests.conftest import OrgApi
from tests.integration.webhooks.conftest import FAST_DELIVERY, Wiring, new_commitment, spend, wire
from tests.receiver import Receiver

BACKOFF = FAST_DELIVERY["delivery_backoff_s"]


async def poll(check: Any, timeout_s: float = 10.0) -> Any:
    """Call `check()` until it returns something truthy; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def runs_of(api: OrgApi, wiring: Wiring) -> list[dict[str, Any]]:
    response = await api.get(
        f"integrationruns/Notification/{wiring.rule['id']}", params={"pageSize": 100}
    )
    return list(response.json()["data"])


async def settled_runs(
    api: OrgApi, wiring: Wiring, count: int, timeout_s: float = 10.0
) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        runs = await runs_of(api, wiring)
        final = [r for r in runs if r["status"] in ("COMPLETE", "ERROR", "DISABLED")]
        return runs if len(final) >= count else None

    return list(await poll(check, timeout_s))


async def events_named(api: OrgApi, name: str) -> list[dict[str, Any]]:
    response = await api.get("events", params={"eventName": name, "pageSize": 100})
    return list(response.json()["data"])


async def test_seed_rule_fires_once_when_spend_crosses_90_percent(
    live: OrgApi, receiver: Receiver
) -> None:
    wiring = await wire(live, receiver, "/seed")
    commitment = await new_commitment(live, amount=1000)
    for spent in (100, 500, 899, 950, 960, 990, 1000):
        commitment = await spend(live, commitment, spent)
    await receiver.wait_for("/seed", 1)
    runs = await settled_runs(live, wiring, 1)
    assert len(runs) == 1
    assert len(receiver.at("/seed")) == 1
    payload = receiver.at("/seed")[0].json
    assert payload["m3terEvent"]["eventData"]["newDto"]["amountSpent"] == 950
    assert payload["m3terEvent"]["eventData"]["oldDto"]["amountSpent"] == 899
    notifications = (await live.get("events", params={"notificationId": wiring.rule["id"]})).json()[
        "data"
    ]
    assert [n["id"] for n in notifications] == [payload["id"]]
    by_code = await live.get("events", params={"notificationCode": wiring.rule["code"]})
    assert [n["id"] for n in by_code.json()["data"]] == [payload["id"]]


async def test_always_fire_and_inactive_rules(live: OrgApi, receiver: Receiver) -> None:
    always = await wire(live, receiver, "/always", calculation=None, always=True)
    inactive = await wire(live, receiver, "/inactive", calculation=None, always=True, active=False)
    commitment = await new_commitment(live)
    for spent in (1, 2, 3):
        commitment = await spend(live, commitment, spent)
    await receiver.wait_for("/always", 3)
    await settled_runs(live, always, 3)
    assert receiver.at("/inactive") == []
    assert await runs_of(live, inactive) == []


async def test_request_is_signed_and_carries_the_notification(
    live: OrgApi, receiver: Receiver
) -> None:
    wiring = await wire(live, receiver, "/signed?tenant=7&x=a%20b", calculation=None, always=True)
    path = "/signed"
    commitment = await new_commitment(live)
    await spend(live, commitment, 10)
    (request,) = await receiver.wait_for(path, 1)
    url = receiver.url(wiring.path)
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["X-m3ter-apikey"] == wiring.api_key
    assert abs(int(headers["X-m3ter-timestamp"]) / 1000 - time.time()) < 30
    assert verify(
        url=url, headers=headers, body=request.body, api_key=wiring.api_key, secret=wiring.secret
    )
    message = (
        f"{receiver.url('/signed')}|tenant=7&x=a%20b|{wiring.api_key}|"
        f"{headers['X-m3ter-timestamp']}|"
    ).encode() + request.body
    expected = hmac.new(wiring.secret.encode(), message, hashlib.sha256).hexdigest()
    assert headers["X-m3ter-signature"] == expected
    assert not verify(
        url=url,
        headers=headers,
        body=request.body + b" ",
        api_key=wiring.api_key,
        secret=wiring.secret,
    )
    assert not verify(
        url=url, headers=headers, body=request.body, api_key=wiring.api_key, secret="wrong"
    )
    payload = request.json
    assert set(payload) == {"id", "eventName", "eventTime", "dtActioned", "m3terEvent"}
    assert payload["eventName"] == "configuration.commitment.updated"
    assert payload["m3terEvent"]["notification"] == {
        "id": wiring.rule["id"],
        "code": wiring.rule["code"],
        "name": wiring.rule["name"],
        "eventName": "configuration.commitment.updated",
    }
    (run,) = await settled_runs(live, wiring, 1)
    assert headers["X-m3ter-delivery-id"] == run["id"]
    assert run["status"] == "COMPLETE"


async def test_retries_with_backoff_then_succeeds(live: OrgApi, receiver: Receiver) -> None:
    receiver.answer("/flaky", 500, 502, then=200)
    wiring = await wire(live, receiver, "/flaky", calculation=None, always=True)
    await spend(live, await new_commitment(live), 1)
    attempts = await receiver.wait_for("/flaky", 3)
    (run,) = await settled_runs(live, wiring, 1)
    assert run["status"] == "COMPLETE"
    assert run["attempts"] == 3
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= BACKOFF * 0.9
    assert gaps[1] >= BACKOFF * 2 * 0.9
    assert len({a.body for a in attempts}) == 1
    assert len({a.headers["X-m3ter-delivery-id"] for a in attempts}) == 1
    log = orjson.loads(
        base64.b64decode((await live.get(f"integrationruns/logs/{run['id']}")).json()["Payload"])
    )
    assert [a["statusCode"] for a in log["attempts"]] == [500, 502, 200]
    assert all(a["requestHeaders"]["X-m3ter-signature"] == "[redacted]" for a in log["attempts"])
    assert log["attempts"][0]["responseBody"] == "answer 500"
    assert log["attempts"][0]["error"] == "non-2xx response: HTTP 500"


async def test_last_failed_attempt_errors_the_run_and_raises_an_event(
    live: OrgApi, receiver: Receiver
) -> None:
    receiver.answer("/down", then=500)
    wiring = await wire(live, receiver, "/down", calculation=None, always=True)
    await spend(live, await new_commitment(live), 1)
    await receiver.wait_for("/down", FAST_DELIVERY["delivery_attempts"])
    (run,) = await settled_runs(live, wiring, 1)
    assert run["status"] == "ERROR"
    assert run["attempts"] == FAST_DELIVERY["delivery_attempts"]
    errors = await poll(lambda: events_named(live, "integration.perform.error"))
    detail = errors[0]["m3terEvent"]["eventData"]["newDto"]
    assert detail["integrationRunId"] == run["id"]
    assert detail["integrationConfigId"] == wiring.config["id"]
    assert detail["destinationId"] == wiring.webhook["id"]
    assert "HTTP 500" in detail["reason"]
    listed = await live.get("events", params={"eventType": "IntegrationEvent"})
    assert errors[0]["id"] in [e["id"] for e in listed.json()["data"]]


async def test_auto_disable_after_consecutive_failures_and_re_enable(
    live: OrgApi, receiver: Receiver
) -> None:
    receiver.answer("/broken", then=500)
    wiring = await wire(live, receiver, "/broken", calculation=None, always=True)
    commitment = await new_commitment(live)
    limit = FAST_DELIVERY["auto_disable_after"]
    for n in range(limit):
        commitment = await spend(live, commitment, n + 1)
        await settled_runs(live, wiring, n + 1)
    config = await poll(lambda: _config_if(live, wiring, enabled=False))
    assert "consecutive runs failed" in config["disabledReason"]
    disabled = await poll(lambda: events_named(live, "integration.disabled.error"))
    assert (
        disabled[0]["m3terEvent"]["eventData"]["newDto"]["integrationConfigId"]
        == (wiring.config["id"])
    )
    sent_before = len(receiver.at("/broken"))
    commitment = await spend(live, commitment, 100)
    runs = await settled_runs(live, wiring, limit + 1)
    assert runs[0]["status"] == "DISABLED"
    assert len(receiver.at("/broken")) == sent_before

    receiver.answer("/broken", then=200)
    enabled = await live.post(f"integrationconfigs/{wiring.config['id']}/enable")
    assert enabled.json()["enabled"] is True
    commitment = await spend(live, commitment, 200)
    runs = await settled_runs(live, wiring, limit + 2)
    assert runs[0]["status"] == "COMPLETE"


async def _config_if(api: OrgApi, wiring: Wiring, *, enabled: bool) -> dict[str, Any] | None:
    config = (await api.get(f"integrationconfigs/{wiring.config['id']}")).json()
    return config if config["enabled"] is enabled else None


async def test_410_gone_disables_at_once(live: OrgApi, receiver: Receiver) -> None:
    receiver.answer("/gone", then=410)
    wiring = await wire(live, receiver, "/gone", calculation=None, always=True)
    await spend(live, await new_commitment(live), 1)
    (run,) = await settled_runs(live, wiring, 1)
    assert run["status"] == "ERROR"
    assert run["attempts"] == 1
    config = await poll(lambda: _config_if(live, wiring, enabled=False))
    assert "410 Gone" in config["disabledReason"]
    assert config["status"] == "DISABLED"


async def test_retry_after_is_honoured_up_to_the_longest_backoff(
    live: OrgApi, receiver: Receiver
) -> None:
    receiver.answer("/busy", 429, then=200, headers={"Retry-After": "30"})
    wiring = await wire(live, receiver, "/busy", calculation=None, always=True)
    await spend(live, await new_commitment(live), 1)
    first, second = await receiver.wait_for("/busy", 2)
    longest = BACKOFF * 2 ** (FAST_DELIVERY["delivery_attempts"] - 2)
    assert second.at - first.at >= longest * 0.9
    assert second.at - first.at < 30
    (run,) = await settled_runs(live, wiring, 1)
    assert run["status"] == "COMPLETE"


async def test_redirects_are_failures(live: OrgApi, receiver: Receiver) -> None:
    receiver.answer("/moved", 301, then=200, headers={"Location": "/elsewhere"})
    wiring = await wire(live, receiver, "/moved", calculation=None, always=True)
    await spend(live, await new_commitment(live), 1)
    (run,) = await settled_runs(live, wiring, 1)
    assert run["attempts"] == 2
    assert receiver.at("/elsewhere") == []


async def test_hanging_receiver_does_not_delay_another_destination(
    live: OrgApi, receiver: Receiver
) -> None:
    receiver.answer("/hangs", then=200, delay_s=3.0)
    await wire(live, receiver, "/hangs", calculation=None, always=True)
    healthy = await wire(live, receiver, "/healthy", calculation=None, always=True)
    commitment = await new_commitment(live)
    started = time.monotonic()
    for n in range(6):
        commitment = await spend(live, commitment, n + 1)
    arrivals = await receiver.wait_for("/healthy", 6, timeout_s=5)
    assert arrivals[-1].at - started < 1.5
    await settled_runs(live, healthy, 6)


async def test_run_queries_and_resend(live: OrgApi, receiver: Receiver) -> None:
    wiring = await wire(live, receiver, "/runs", calculation=None, always=True)
    await spend(live, await new_commitment(live), 1)
    (run,) = await settled_runs(live, wiring, 1)
    assert (await live.get(f"integrationruns/{run['id']}")).json() == run
    latest = await live.get(f"integrationruns/Notification/latest/{wiring.rule['id']}")
    assert latest.json()["id"] == run["id"]
    by_destination = await live.get(f"integrationruns/destinations/{wiring.webhook['id']}")
    assert [r["id"] for r in by_destination.json()["data"]] == [run["id"]]
    complete = await live.get(
        f"integrationruns/Notification/{wiring.rule['id']}", params={"status": "COMPLETE"}
    )
    assert [r["id"] for r in complete.json()["data"]] == [run["id"]]
    errored = await live.get(
        f"integrationruns/Notification/{wiring.rule['id']}", params={"status": "ERROR"}
    )
    assert errored.json()["data"] == []
    future = await live.get(
        f"integrationruns/Notification/{wiring.rule['id']}", params={"startDate": "2099-01-01"}
    )
    assert future.json()["data"] == []

    resent = await live.post(f"integrationruns/{run['id']}/resend")
    assert resent.status_code == 200
    assert resent.json()["parentIntegrationRunId"] == run["id"]
    first, second = await receiver.wait_for("/runs", 2)
    assert second.body == first.body
    assert second.headers["X-m3ter-delivery-id"] == resent.json()["id"]
    runs = await settled_runs(live, wiring, 2)
    assert {r["status"] for r in runs} == {"COMPLETE"}


async def test_run_with_attempts_is_the_run_log_as_dicts_and_walled_per_org(
    live: OrgApi, receiver: Receiver, db: Database
) -> None:
    receiver.answer("/attempts", 503, then=200)
    wiring = await wire(live, receiver, "/attempts", calculation=None, always=True)
    await spend(live, await new_commitment(live), 1)
    (run,) = await settled_runs(live, wiring, 1)

    public, attempts = await runs.run_with_attempts(db, live.org_id, run["id"])
    assert public == run
    assert [(a["attempt"], a["statusCode"]) for a in attempts] == [(1, 503), (2, 200)]
    log = await live.get(f"integrationruns/logs/{run['id']}")
    assert orjson.loads(base64.b64decode(log.json()["Payload"])) == {
        "run": run,
        "attempts": attempts,
    }
    other = await orgs.create_organization(db, "Another organization")
    with pytest.raises(NotFound):
        await runs.run_with_attempts(db, other.org_id, run["id"])
