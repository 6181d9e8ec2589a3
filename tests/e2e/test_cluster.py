"""Cluster mode: `serve --no-workers` takes the API calls, a `meterbell worker` process on the
same PostgreSQL store dispatches and delivers them, woken through LISTEN/NOTIFY.

The worker polls only every 5 minutes here, so a webhook arriving within seconds of an
update proves the API process's wake-up reached it.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.conftest import POSTGRES_URL, fresh_database_url
from tests.e2e.commitments import authorised, new_commitment, spend, wire_every_update
from tests.e2e.server import MeterbellServer, MeterbellWorker, eventually
from tests.receiver import Receiver

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not POSTGRES_URL, reason="cluster mode runs on PostgreSQL: set MB_TEST_POSTGRES_URL"
    ),
]

WORKER_POLL_S = "300"
UPDATES = 5
WITHIN_S = 10.0
REVOKED_WITHIN_S = 5.0


async def test_a_worker_process_delivers_each_update_the_api_process_accepted_at_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    receiver = Receiver()
    await receiver.start()
    receiver.answer("/cluster", then=200)
    env = {"MB_WEBHOOK_ALLOW_PRIVATE": "true", "MB_WORKER_POLL_S": WORKER_POLL_S}
    async with fresh_database_url("postgres") as url:
        server = MeterbellServer(
            tmp_path_factory.mktemp("cluster") / "data",
            database_url=url,
            extra_env=env,
            serve_args=("--no-workers",),
        )
        await asyncio.to_thread(server.start)
        worker = MeterbellWorker(server)
        try:
            await asyncio.to_thread(worker.start, "wake-up relay connected")
            async with await authorised(server) as api:
                await wire_every_update(api, receiver.url("/cluster"))
                commitment = await new_commitment(api)
                for spent in range(1, UPDATES + 1):
                    commitment = await spend(api, commitment, spent)
                    # Each update waits for the one before it: the worker is idle, not
                    # finishing a batch, when this update's wake-up arrives.
                    try:
                        arrived = await receiver.wait_for("/cluster", spent, timeout_s=WITHIN_S)
                    except TimeoutError:
                        raise AssertionError(
                            f"update {spent} was not delivered within {WITHIN_S}s; "
                            f"worker output:\n{worker.log_tail()}"
                        ) from None
                    new_dto = arrived[-1].json["m3terEvent"]["eventData"]["newDto"]
                    assert new_dto["amountSpent"] == spent
            # SIGTERM: the worker finishes its work and exits on its own (not killed by it).
            assert await asyncio.to_thread(worker.stop) == 0, worker.log_tail()
        finally:
            worker.stop()
            server.stop()
            await receiver.stop()


def _revoke_and_watch(servers: list[MeterbellServer]) -> None:
    with servers[0], servers[1]:
        credentials = servers[0].initial_credentials()
        token = servers[0].token(credentials).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        path = f"/organizations/{credentials.org_id}/events/types"
        for server in servers:
            assert httpx.get(server.url(path), headers=headers).status_code == 200
        servers[1].cli_ok("credentials", "revoke", credentials.client_id)
        deadline = time.monotonic() + REVOKED_WITHIN_S
        for server in servers:
            eventually(
                lambda s=server: httpx.get(s.url(path), headers=headers).status_code == 401,
                deadline_s=deadline - time.monotonic(),
            )
        assert servers[0].token(credentials).status_code == 401


async def test_every_api_process_refuses_a_revoked_credentials_token_within_5_s(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Two `serve --no-workers` processes on one PostgreSQL store accept a token, then both
    refuse it within 5 s of `meterbell credentials revoke`."""
    root = tmp_path_factory.mktemp("revocation")
    async with fresh_database_url("postgres") as url:
        servers = [
            MeterbellServer(
                root / name / "data", database_url=url, serve_args=("--no-workers",), name=name
            )
            for name in ("first", "second")
        ]
        await asyncio.to_thread(_revoke_and_watch, servers)
