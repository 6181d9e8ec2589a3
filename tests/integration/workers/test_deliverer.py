"""Stopping the deliverer lets requests in flight finish and records each result once."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from meterbell.config import Settings
from meterbell.domain.secrets_box import SecretBox
from meterbell.store import runs as run_store
from meterbell.store.db import Database
from meterbell.store.tables import integration_health
from meterbell.workers.deliverer import Deliverer
from meterbell.workers.dispatcher import Dispatcher
from meterbell.workers.runner import delivery_limits
from tests.conftest import TEST_SECRET_KEY, OrgApi
from tests.integration.webhooks.conftest import new_commitment, spend, wire
from tests.integration.webhooks.test_delivery import events_named, runs_of
from tests.receiver import Receiver

RUNS = 6


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


async def test_stop_lets_requests_in_flight_finish_and_records_each_once(
    api: OrgApi, db: Database, receiver: Receiver, settings: Settings
) -> None:
    receiver.answer("/closing", then=500, delay_s=1.0)
    wiring = await wire(api, receiver, "/closing", calculation=None, always=True)
    commitment = await new_commitment(api)
    for spent in range(1, RUNS + 1):
        commitment = await spend(api, commitment, spent)
    limits = settings.model_copy(
        update={
            "delivery_attempts": 1,
            "delivery_timeout_s": 5.0,
            "auto_disable_after": 100,
            "destination_concurrency": RUNS,
        }
    )
    deliverer = Deliverer(db, SecretBox(TEST_SECRET_KEY), delivery_limits(limits))
    await deliverer.start()
    dispatcher = Dispatcher(db, receiver=deliverer)
    while await dispatcher.step():
        pass
    await receiver.wait_for("/closing", RUNS)

    await deliverer.stop()

    runs = await runs_of(api, wiring)
    assert [(r["status"], r["attempts"]) for r in runs] == [("ERROR", 1)] * RUNS
    async with db.read() as conn:
        for run in runs:
            assert len(await run_store.attempt_logs(conn, run["id"])) == 1
        failures = (
            await conn.execute(
                select(integration_health.c.consecutive_failures).where(
                    integration_health.c.config_id == wiring.config["id"]
                )
            )
        ).scalar_one()
    assert failures == RUNS
    errors = await events_named(api, "integration.perform.error")
    per_run = Counter(e["m3terEvent"]["eventData"]["newDto"]["integrationRunId"] for e in errors)
    assert per_run == Counter({r["id"]: 1 for r in runs})
