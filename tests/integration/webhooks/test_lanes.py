"""Delivery lanes (an extension beyond m3ter): a destination's `maxRequestsPerSecond` caps the
requests started to it, and `ordered: true` sends its runs one at a time in the order their
events were written, a failing one holding those behind it. Both stores; the same over two
worker processes on PostgreSQL is tests/e2e/test_lanes.py."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from meterbell.store.db import Database
from meterbell.store.tables import integration_runs
from tests.conftest import OrgApi
from tests.delivery_lanes import (
    RATE_TOLERANCE,
    amounts_spent,
    busiest_second,
    in_order,
    spread_s,
)
from tests.integration.webhooks.conftest import live_engine, new_commitment, spend
from tests.integration.webhooks.test_delivery import poll
from tests.integration.webhooks.test_signing import wire_webhook
from tests.receiver import Receiver

M3TER = {"type": "M3TER_SIGNED_REQUEST", "apiKey": "key", "secret": "secret"}
FIRINGS = 30
PER_SECOND = 5
UPDATES_IN_ORDER = 12
STALLED_FIRINGS = 12
# Past the slots of the 6 runs after the first: without spacing they would start together.
STALL_S = 1.3
FAIL_1_4_5_9 = (503, 200, 200, 500, 500, 200, 200, 200, 500)
# Honoured on a 503: the failed run waits this long, and later runs could overtake it.
RETRY_AFTER_S = "1"


@pytest.fixture(scope="module")
async def live_client(
    db: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    # Concurrency to spare: without the cap, 30 runs would all start within a moment.
    async with live_engine(
        db, tmp_path_factory.mktemp("lanes"), destination_concurrency=8, delivery_attempts=6
    ) as client:
        yield client


async def update_many(api: OrgApi, times: int) -> None:
    """Update one commitment `times` times, amountSpent 1, 2, …: each fires every rule."""
    commitment = await new_commitment(api)
    for spent in range(1, times + 1):
        commitment = await spend(api, commitment, spent)


async def runs_to(db: Database, destination_id: str) -> list[Any]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(integration_runs).where(integration_runs.c.destination_id == destination_id)
        )
        return list(rows)


async def test_a_capped_destination_gets_30_firings_at_5_a_second_and_none_fails(
    live: OrgApi, receiver: Receiver, db: Database
) -> None:
    webhook, _ = await wire_webhook(
        live, receiver, "/capped", M3TER, maxRequestsPerSecond=PER_SECOND
    )
    assert webhook["maxRequestsPerSecond"] == PER_SECOND
    started = time.monotonic()
    await update_many(live, FIRINGS)
    arrived = await receiver.wait_for("/capped", FIRINGS, timeout_s=20)
    took = time.monotonic() - started
    offsets = [round(r.at - arrived[0].at, 3) for r in arrived]
    assert busiest_second(arrived) <= PER_SECOND + RATE_TOLERANCE, offsets
    # 30 starts 1/5 s apart: 5.8 s from the first to the last, "within about 6 s".
    assert 5.0 <= spread_s(arrived) <= 7.5, spread_s(arrived)
    assert took < 10, took
    assert sorted(amounts_spent(arrived)) == list(range(1, FIRINGS + 1))  # each once
    runs = await poll(lambda: _all_complete(db, webhook["id"], FIRINGS), timeout_s=10)
    assert {run.attempts for run in runs} == {1}, "a run held back by the cap counts no failure"


async def test_runs_whose_slots_passed_during_a_stall_still_start_at_5_a_second(
    live: OrgApi, receiver: Receiver
) -> None:
    await wire_webhook(live, receiver, "/stalled", M3TER, maxRequestsPerSecond=PER_SECOND)
    await update_many(live, STALLED_FIRINGS)
    await receiver.wait_for("/stalled", 1)  # the others are held, each with its slot
    # The fault: the event loop stalls, as in a long garbage collection.
    time.sleep(STALL_S)  # noqa: ASYNC251
    arrived = await receiver.wait_for("/stalled", STALLED_FIRINGS, timeout_s=20)
    offsets = [round(r.at - arrived[0].at, 3) for r in arrived]
    assert busiest_second(arrived) <= PER_SECOND + RATE_TOLERANCE, offsets
    assert sorted(amounts_spent(arrived)) == list(range(1, STALLED_FIRINGS + 1))


async def _all_complete(db: Database, destination_id: str, count: int) -> list[Any] | None:
    runs = await runs_to(db, destination_id)
    done = len(runs) == count and all(run.status == "COMPLETE" for run in runs)
    return runs if done else None


async def test_an_ordered_destination_sees_versions_in_order_though_some_attempts_fail(
    live: OrgApi, receiver: Receiver
) -> None:
    # The 1st, 4th, 5th and 9th requests fail, the first asking for a 1 s pause: each failed
    # run is retried before any later one goes, so what arrives never goes back to an older
    # version.
    receiver.answer("/ordered", *FAIL_1_4_5_9, then=200, headers={"Retry-After": RETRY_AFTER_S})
    await wire_webhook(live, receiver, "/ordered", M3TER, ordered=True)
    await update_many(live, UPDATES_IN_ORDER)
    arrived = await receiver.wait_for("/ordered", UPDATES_IN_ORDER + 4, timeout_s=20)
    spent = amounts_spent(arrived)
    assert in_order(spent), spent
    assert sorted(set(spent)) == list(range(1, UPDATES_IN_ORDER + 1))


async def test_an_unordered_destination_still_sends_in_parallel(
    live: OrgApi, receiver: Receiver
) -> None:
    """The control for the test above: without `ordered`, a failed run's retry comes after
    the later runs (sent while it waits), so the receiver sees versions out of order."""
    receiver.answer("/parallel", 503, then=200, headers={"Retry-After": RETRY_AFTER_S})
    await wire_webhook(live, receiver, "/parallel", M3TER)
    await update_many(live, 4)
    arrived = await receiver.wait_for("/parallel", 5, timeout_s=20)
    assert not in_order(amounts_spent(arrived))


async def test_a_failed_head_ending_error_lets_the_next_run_go(
    live: OrgApi, receiver: Receiver, db: Database
) -> None:
    receiver.answer("/dead-head", *([500] * 6), then=200)
    webhook, _ = await wire_webhook(live, receiver, "/dead-head", M3TER, ordered=True)
    await update_many(live, 2)
    arrived = await receiver.wait_for("/dead-head", 7, timeout_s=20)
    assert amounts_spent(arrived) == [1] * 6 + [2]
    runs = await poll(lambda: _finished(db, webhook["id"], 2), timeout_s=10)
    assert sorted(run.status for run in runs) == ["COMPLETE", "ERROR"]


async def _finished(db: Database, destination_id: str, count: int) -> list[Any] | None:
    runs = await runs_to(db, destination_id)
    done = len(runs) == count and all(run.next_attempt_at is None for run in runs)
    return runs if done else None


async def test_turning_order_off_frees_the_runs_queued_in_its_lane(
    live: OrgApi, receiver: Receiver, db: Database
) -> None:
    # The head fails for as long as the retry policy allows (a 2 s pause asked for on each
    # try): the runs behind it wait in its lane until order is turned off.
    receiver.answer("/toggle", *([503] * 6), then=200, headers={"Retry-After": "2"})
    webhook, _ = await wire_webhook(live, receiver, "/toggle", M3TER, ordered=True)
    await update_many(live, 3)
    await receiver.wait_for("/toggle", 1)
    queued = await poll(lambda: _in_lane(db, webhook["id"], 3), timeout_s=10)
    assert len(queued) == 3
    changed = await live.put(
        f"integrationdestinations/webhooks/{webhook['id']}",
        {**_fields(webhook), "ordered": False, "version": webhook["version"]},
    )
    assert changed.status_code == 200, changed.text
    assert "ordered" not in changed.json()
    arrived = await receiver.wait_for("/toggle", 3, timeout_s=5)
    assert sorted(amounts_spent(arrived)[1:]) == [2, 3]  # sent while the head still waits
    assert await _in_lane(db, webhook["id"], 0) == []


async def _in_lane(db: Database, destination_id: str, count: int) -> list[Any] | None:
    async with db.read() as conn:
        rows = list(
            await conn.execute(
                select(integration_runs).where(integration_runs.c.lane == destination_id)
            )
        )
    return rows if len(rows) == count else None


def _fields(webhook: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": webhook["name"],
        "url": webhook["url"],
        "credentials": M3TER,
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"maxRequestsPerSecond": 0}, "maxRequestsPerSecond"),
        ({"maxRequestsPerSecond": -1.5}, "maxRequestsPerSecond"),
        ({"maxRequestsPerSecond": "5"}, "maxRequestsPerSecond"),
        ({"maxRequestsPerSecond": 1_000_000}, "maxRequestsPerSecond"),
        ({"ordered": "yes"}, "ordered"),
    ],
)
async def test_bad_lane_settings_are_a_400_that_names_the_field(
    live: OrgApi, receiver: Receiver, fields: dict[str, Any], message: str
) -> None:
    response = await live.post(
        "integrationdestinations/webhooks",
        {"name": "bad", "url": receiver.url("/bad"), "credentials": M3TER, **fields},
    )
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
