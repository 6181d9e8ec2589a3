"""A receiver slower than the delivery lease: the worker holding the runs renews their leases,
so no run is claimed again and sent twice while its request is queued or in flight."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from meterbell.store.db import Database
from tests.conftest import OrgApi, new_org_api
from tests.integration.webhooks.conftest import live_engine, new_commitment, spend, wire
from tests.integration.webhooks.test_delivery import settled_runs
from tests.receiver import Receiver

LEASE_S = 1.0
ANSWER_AFTER_S = 3.0
RUNS = 24


@pytest.fixture(scope="module")
async def live_client(
    db: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    # Half the runs wait in this worker's queue for one answer (3 s) before they are sent.
    async with live_engine(
        db,
        tmp_path_factory.mktemp("slow"),
        delivery_lease_s=LEASE_S,
        delivery_timeout_s=ANSWER_AFTER_S + 5,
        destination_concurrency=RUNS // 2,
    ) as client:
        yield client


@pytest.fixture
async def live(live_client: httpx.AsyncClient, db: Database) -> OrgApi:
    return await new_org_api(live_client, db, "Slow receiver organization")


async def test_a_run_held_by_a_live_worker_is_sent_once(live: OrgApi, receiver: Receiver) -> None:
    receiver.answer("/slow", then=200, delay_s=ANSWER_AFTER_S)
    wiring = await wire(live, receiver, "/slow", calculation=None, always=True)
    commitment = await new_commitment(live)
    for spent in range(1, RUNS + 1):
        commitment = await spend(live, commitment, spent)
    await settled_runs(live, wiring, RUNS, timeout_s=30)
    # A run queued after any second copies (queues are first in, first out): once it is
    # done, every copy queued before it has been sent.
    await spend(live, commitment, RUNS + 1)

    runs = await settled_runs(live, wiring, RUNS + 1, timeout_s=30)

    assert {r["status"] for r in runs} == {"COMPLETE"}
    assert {r["attempts"] for r in runs} == {1}
    sends = Counter(r.headers["X-m3ter-delivery-id"] for r in receiver.at("/slow"))
    assert sends == Counter({r["id"]: 1 for r in runs})
