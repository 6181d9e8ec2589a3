"""The log tells each event's and each run's story: with MB_LOG_FORMAT=json, every line about a
run and its attempts is one JSON object carrying orgId, eventId, ruleId, runId and attempt, and
a rule's error on an event carries orgId, eventId and ruleId."""

from __future__ import annotations

import io
from typing import Any

from meterbell.store.db import Database
from meterbell.workers.isolation import MAX_ITEM_FAILURES
from tests.conftest import OrgApi
from tests.integration.webhooks.conftest import FAST_DELIVERY, Wiring, new_commitment, spend, wire
from tests.integration.webhooks.test_delivery import poll, settled_runs
from tests.integration.webhooks.test_delivery_faults import (
    _seal_with_another_key,
    refusing_attempt_logs,
)
from tests.integration.webhooks.test_rule_error_isolation import (
    new_account,
    rule_errors,
    tier_above_2_rule,
)
from tests.logcapture import json_lines
from tests.receiver import Receiver


async def logged(stream: io.StringIO, count: int, **match: Any) -> list[dict[str, Any]]:
    """The lines with each of `match`'s keys and values, once there are `count` of them."""

    async def check() -> list[dict[str, Any]] | None:
        lines = json_lines(stream, **match)
        return lines if len(lines) >= count else None

    return list(await poll(check))


async def one_run(api: OrgApi, wiring: Wiring) -> dict[str, Any]:
    """Fire the wiring's rule once; its run, once settled."""
    await spend(api, await new_commitment(api), 10)
    (run,) = await settled_runs(api, wiring, 1)
    return run


def ids_of(api: OrgApi, wiring: Wiring, run: dict[str, Any]) -> dict[str, Any]:
    """The ids every line about `run` carries (its attempt aside)."""
    return {
        "orgId": api.org_id,
        "eventId": run["eventId"],
        "ruleId": wiring.rule["id"],
        "runId": run["id"],
    }


async def test_each_attempt_is_logged_with_the_ids_of_its_run(
    live: OrgApi, receiver: Receiver, json_log: io.StringIO
) -> None:
    receiver.answer("/logged", 500, then=200)
    wiring = await wire(live, receiver, "/logged", calculation=None, always=True)
    run = await one_run(live, wiring)
    assert run["status"] == "COMPLETE"

    failed, delivered = await logged(json_log, 2, runId=run["id"])
    ids = ids_of(live, wiring, run)
    assert failed == failed | ids | {"attempt": 1, "statusCode": 500, "level": "warning"}
    assert failed["event"] == "webhook attempt failed"
    assert "retryAt" in failed
    assert delivered == delivered | ids | {"attempt": 2, "statusCode": 200, "level": "info"}
    assert delivered["event"] == "webhook delivered"
    updated = await live.get("events", params={"ids": run["eventId"]})
    assert updated.json()["data"][0]["eventName"] == "configuration.commitment.updated"


async def test_a_run_whose_last_attempt_fails_is_logged_as_failed_with_its_ids(
    live: OrgApi, receiver: Receiver, json_log: io.StringIO
) -> None:
    receiver.answer("/down", then=500)
    wiring = await wire(live, receiver, "/down", calculation=None, always=True)
    run = await one_run(live, wiring)
    assert run["status"] == "ERROR"

    attempts = FAST_DELIVERY["delivery_attempts"]
    lines = await logged(json_log, attempts, runId=run["id"])
    assert [line["event"] for line in lines] == [
        *["webhook attempt failed"] * (attempts - 1),
        "webhook run failed",
    ]
    assert [line["attempt"] for line in lines] == list(range(1, attempts + 1))
    failed = lines[-1]
    ids = ids_of(live, wiring, run)
    assert failed == failed | ids | {"status": "ERROR", "statusCode": 500, "level": "warning"}


async def test_an_integration_its_receiver_disables_is_logged_with_the_ids_of_the_run(
    live: OrgApi, receiver: Receiver, json_log: io.StringIO
) -> None:
    receiver.answer("/gone", then=410)
    wiring = await wire(live, receiver, "/gone", calculation=None, always=True)
    run = await one_run(live, wiring)

    failed, disabled = await logged(json_log, 2, runId=run["id"])
    ids = ids_of(live, wiring, run) | {"attempt": 1}
    assert failed == failed | ids | {"event": "webhook run failed", "statusCode": 410}
    assert disabled == disabled | ids | {"event": "integration disabled", "level": "warning"}
    assert disabled["configId"] == wiring.config["id"]
    assert "410 Gone" in disabled["why"]


async def test_a_run_to_an_inactive_webhook_is_logged_as_not_sent_with_its_ids(
    live: OrgApi, receiver: Receiver, json_log: io.StringIO
) -> None:
    wiring = await wire(live, receiver, "/asleep", calculation=None, always=True)
    webhook_id = wiring.webhook["id"]
    paused = await live.put(f"integrationdestinations/webhooks/{webhook_id}/active?active=false")
    assert paused.status_code == 200, paused.text
    run = await one_run(live, wiring)
    assert run["status"] == "DISABLED"

    (line,) = await logged(json_log, 1, event="webhook run not sent", runId=run["id"])
    assert line == line | ids_of(live, wiring, run) | {"status": "DISABLED", "level": "warning"}
    assert line["error"] == "Not sent: the webhook destination is inactive"
    assert receiver.at("/asleep") == []


async def test_a_rule_that_errors_on_an_event_is_logged_with_the_ids_of_both(
    live: OrgApi, json_log: io.StringIO
) -> None:
    rule = await tier_above_2_rule(live)
    await new_account(live, tier="gold")

    (error,) = await poll(lambda: rule_errors(live, rule["id"]))
    (line,) = await logged(json_log, 1, event="rule evaluation failed", ruleId=rule["id"])
    assert line == line | {"orgId": live.org_id, "eventId": error["eventId"], "level": "warning"}
    assert "tier" in line["error"]


async def test_a_run_that_keeps_failing_inside_meterbell_is_logged_with_its_ids_until_set_aside(
    live: OrgApi, receiver: Receiver, db: Database, json_log: io.StringIO
) -> None:
    wiring = await wire(live, receiver, "/sealed", calculation=None, always=True)
    await _seal_with_another_key(db, live.org_id, wiring.webhook["id"])
    run = await one_run(live, wiring)
    assert run["status"] == "ERROR"

    lines = await logged(json_log, MAX_ITEM_FAILURES + 1, runId=run["id"])
    assert [(line["event"], line["attempt"]) for line in lines] == [
        *[("delivery failed inside meterbell", n) for n in range(1, MAX_ITEM_FAILURES + 1)],
        ("work item set aside", MAX_ITEM_FAILURES),
    ]
    ids = ids_of(live, wiring, run)
    for line in lines:
        assert line == line | ids
    set_aside = lines[-1]
    assert set_aside == set_aside | {"worker": "deliverer", "level": "error"}
    assert set_aside["attempts"] == MAX_ITEM_FAILURES


async def test_a_result_the_store_refuses_is_logged_with_the_ids_of_its_run(
    live: OrgApi, receiver: Receiver, db: Database, json_log: io.StringIO
) -> None:
    wiring = await wire(live, receiver, "/refused", calculation=None, always=True)
    async with refusing_attempt_logs(db, "/refused"):
        run = await one_run(live, wiring)
    assert run["status"] == "ERROR"

    refused = json_lines(json_log, event="recording delivery results failed", runIds=[run["id"]])
    assert refused
    assert refused[-1]["orgIds"] == [live.org_id]
    (set_aside,) = await logged(json_log, 1, event="work item set aside", runId=run["id"])
    assert set_aside == set_aside | ids_of(live, wiring, run) | {"attempt": 1}
