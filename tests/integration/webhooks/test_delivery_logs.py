"""The log of a delivery tells its story: with MB_LOG_FORMAT=json, every line about a run's
attempts is one JSON object carrying orgId, eventId, ruleId, runId and attempt."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import OrgApi
from tests.integration.webhooks.conftest import new_commitment, spend, wire
from tests.integration.webhooks.test_delivery import settled_runs
from tests.logcapture import logging_to
from tests.receiver import Receiver


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    with logging_to(stream, "info", "json"):
        yield stream


def lines_about(stream: io.StringIO, run_id: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line.get("runId") == run_id]


async def test_each_attempt_is_logged_with_the_ids_of_its_run(
    live: OrgApi, receiver: Receiver, json_log: io.StringIO
) -> None:
    receiver.answer("/logged", 500, then=200)
    wiring = await wire(live, receiver, "/logged", calculation=None, always=True)
    commitment = await new_commitment(live)
    await spend(live, commitment, 10)
    [run] = await settled_runs(live, wiring, 1)
    assert run["status"] == "COMPLETE"

    failed, delivered = lines_about(json_log, run["id"])
    ids = {
        "orgId": live.org_id,
        "eventId": run["eventId"],
        "ruleId": wiring.rule["id"],
        "runId": run["id"],
    }
    assert failed == failed | ids | {"attempt": 1, "statusCode": 500, "level": "warning"}
    assert failed["event"] == "webhook attempt failed"
    assert "retryAt" in failed
    assert delivered == delivered | ids | {"attempt": 2, "statusCode": 200, "level": "info"}
    assert delivered["event"] == "webhook delivered"
    updated = await live.get("events", params={"ids": run["eventId"]})
    assert updated.json()["data"][0]["eventName"] == "configuration.commitment.updated"
