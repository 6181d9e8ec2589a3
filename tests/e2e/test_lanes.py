"""Delivery lanes across processes: on PostgreSQL, `serve --no-workers` and two `meterbell
worker` processes deliver to a destination capped at 5 requests a second, summed over both,
and to an ordered one, one run at a time in event order, whichever worker claims it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL, fresh_database_url
from tests.delivery_lanes import (
    RATE_TOLERANCE,
    amounts_spent,
    busiest_second,
    in_order,
    spread_s,
)
from tests.e2e.commitments import authorised, new_commitment, spend, wire_every_update
from tests.e2e.server import MeterbellServer, MeterbellWorker
from tests.receiver import Receiver

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not POSTGRES_URL, reason="cluster mode runs on PostgreSQL: set MB_TEST_POSTGRES_URL"
    ),
]

FIRINGS = 30
PER_SECOND = 5
# The ordered receiver fails these requests (the first asks for a 1 s pause).
FAILS = (503, 200, 200, 500, 500, 200, 200, 200, 500)
ENV = {
    "MB_WEBHOOK_ALLOW_PRIVATE": "true",
    "MB_DELIVERY_BACKOFF_S": "0.1",
    "MB_DELIVERY_ATTEMPTS": "6",
}


async def test_two_workers_keep_a_rate_limit_together_and_an_order(tmp_path: Path) -> None:
    receiver = Receiver()
    await receiver.start()
    receiver.answer("/capped", then=200)
    receiver.answer("/ordered", *FAILS, then=200, headers={"Retry-After": "1"})
    async with fresh_database_url("postgres") as url:
        server = MeterbellServer(
            tmp_path / "data", database_url=url, extra_env=ENV, serve_args=("--no-workers",)
        )
        await asyncio.to_thread(server.start)
        workers = [MeterbellWorker(server, name=f"worker-{n}") for n in (1, 2)]
        try:
            for worker in workers:
                await asyncio.to_thread(worker.start, "wake-up relay connected")
            async with await authorised(server) as api:
                capped = {"maxRequestsPerSecond": PER_SECOND}
                await wire_every_update(api, receiver.url("/capped"), "capped", **capped)
                await wire_every_update(api, receiver.url("/ordered"), "ordered", ordered=True)
                commitment = await new_commitment(api)
                for spent in range(1, FIRINGS + 1):
                    commitment = await spend(api, commitment, spent)
            capped_arrived = await receiver.wait_for("/capped", FIRINGS, timeout_s=30)
            ordered_arrived = await receiver.wait_for(
                "/ordered", FIRINGS + len([s for s in FAILS if s != 200]), timeout_s=30
            )
        finally:
            for worker in workers:
                await asyncio.to_thread(worker.stop)
            await asyncio.to_thread(server.stop)
            await receiver.stop()
    logs = "\n".join(worker.log_tail() for worker in workers)
    assert busiest_second(capped_arrived) <= PER_SECOND + RATE_TOLERANCE, logs
    assert 5.0 <= spread_s(capped_arrived) <= 7.5, spread_s(capped_arrived)
    assert sorted(amounts_spent(capped_arrived)) == list(range(1, FIRINGS + 1))
    spent = amounts_spent(ordered_arrived)
    assert in_order(spent), spent
    assert sorted(set(spent)) == list(range(1, FIRINGS + 1))
