"""Kill the process (SIGKILL) while webhooks are in flight, restart it: every run arrives.

Duplicates are allowed (delivery is at least once) but carry the same delivery id and body;
every event is dispatched exactly once (one Notification event per update).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import STORES, fresh_database_url
from tests.e2e.commitments import authorised, new_commitment, spend, wire_every_update
from tests.e2e.server import MeterbellServer
from tests.receiver import Receiver

pytestmark = pytest.mark.slow

UPDATES = 20
ENGINE_ENV = {
    "MB_WEBHOOK_ALLOW_PRIVATE": "true",
    "MB_DELIVERY_LEASE_S": "2",
    "MB_DELIVERY_BACKOFF_S": "0.2",
    "MB_DESTINATION_CONCURRENCY": "4",
}


@pytest.fixture(params=STORES)
async def database_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    async with fresh_database_url(request.param) as url:
        yield url


async def wire_and_update(api: httpx.AsyncClient, receiver: Receiver) -> None:
    await wire_every_update(api, receiver.url("/crash"))
    commitment = await new_commitment(api)
    for spent in range(1, UPDATES + 1):
        commitment = await spend(api, commitment, spent)


async def test_sigkill_mid_delivery_loses_no_run(
    database_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    receiver = Receiver()
    await receiver.start()
    receiver.answer("/crash", then=200, delay_s=0.5)
    server = MeterbellServer(
        tmp_path_factory.mktemp("crash") / "data",
        database_url=database_url,
        extra_env=ENGINE_ENV,
    )
    try:
        await asyncio.to_thread(server.start)
        async with await authorised(server) as api:
            await wire_and_update(api, receiver)
        await receiver.wait_for("/crash", 2)
        server.kill()
        in_flight_at_kill = UPDATES - len(
            {r.headers["X-m3ter-delivery-id"] for r in receiver.at("/crash")}
        )
        assert in_flight_at_kill > 0, "the kill came too late to test anything"
        await asyncio.to_thread(server.start)

        async def all_delivered() -> bool:
            ids = {r.headers["X-m3ter-delivery-id"] for r in receiver.at("/crash")}
            return len(ids) >= UPDATES

        deadline = asyncio.get_running_loop().time() + 30
        while not await all_delivered():
            assert asyncio.get_running_loop().time() < deadline, (
                f"only {len({r.headers['X-m3ter-delivery-id'] for r in receiver.at('/crash')})}"
                f" of {UPDATES} runs arrived; server log:\n{server.log_tail()}"
            )
            await asyncio.sleep(0.05)

        bodies: dict[str, set[bytes]] = defaultdict(set)
        for request in receiver.at("/crash"):
            bodies[request.headers["X-m3ter-delivery-id"]].add(request.body)
        assert len(bodies) == UPDATES
        assert all(len(variants) == 1 for variants in bodies.values())
        async with await authorised(server) as api:
            notifications = await api.get(
                "events", params={"eventType": "Notification", "pageSize": 100}
            )
        assert len(notifications.json()["data"]) == UPDATES
    finally:
        server.stop()
        await receiver.stop()
