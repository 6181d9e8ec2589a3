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


async def authorised(server: MeterbellServer) -> httpx.AsyncClient:
    token = server.token(server.initial_credentials()).json()["access_token"]
    org_id = server.initial_credentials().org_id
    return httpx.AsyncClient(
        base_url=f"{server.base_url}/organizations/{org_id}/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


async def wire_and_update(api: httpx.AsyncClient, receiver: Receiver) -> None:
    rule = await api.post(
        "notifications/configurations",
        json={
            "name": "every update",
            "code": "every-update",
            "alwaysFireEvent": True,
            "eventName": "configuration.commitment.updated",
        },
    )
    webhook = await api.post(
        "integrationdestinations/webhooks",
        json={
            "name": "receiver",
            "url": receiver.url("/crash"),
            "credentials": {"type": "M3TER_SIGNED_REQUEST", "apiKey": "k", "secret": "s"},
        },
    )
    config = await api.post(
        "integrationconfigs",
        json={
            "entityType": "Notification",
            "entityId": rule.json()["id"],
            "destination": "Webhook",
            "destinationId": webhook.json()["id"],
        },
    )
    assert config.status_code == 200, config.text
    commitment = (
        await api.post(
            "commitments",
            json={
                "accountId": "6a3d5b1e-2c4f-4e8a-9b7c-000000000001",
                "amount": 100,
                "currency": "USD",
                "startDate": "2026-01-01",
                "endDate": "2027-01-01",
            },
        )
    ).json()
    for spent in range(1, UPDATES + 1):
        response = await api.put(
            f"commitments/{commitment['id']}", json={**commitment, "amountSpent": spent}
        )
        assert response.status_code == 200, response.text
        commitment = response.json()


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
