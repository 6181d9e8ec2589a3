"""SIGTERM while webhooks are in flight: `meterbell serve` lets the requests finish, records
each result once and exits cleanly; started again on the same store, it sends nothing twice.

The receiver holds every answer until the test releases it, after the server has begun its
shutdown, so the requests are in flight for certain when the signal arrives.
"""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.commitments import authorised, new_commitment, spend, wire_every_update
from tests.e2e.server import MeterbellServer
from tests.integration.webhooks.test_delivery import poll
from tests.receiver import Receiver

pytestmark = pytest.mark.slow

RUNS = 5
PATH = "/held"
ENGINE_ENV = {
    "MB_WEBHOOK_ALLOW_PRIVATE": "true",
    "MB_DESTINATION_CONCURRENCY": str(RUNS),  # every run in flight at once
}
# uvicorn logs this once the HTTP side is closed and the app's shutdown (the workers' stop)
# begins.
APP_SHUTDOWN_LINE = "Waiting for application shutdown."
EXIT_BOUND_S = 10.0
POLL_DEADLINE_S = 30.0


async def runs_of(api: httpx.AsyncClient, rule_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"integrationruns/Notification/{rule_id}", params={"pageSize": 100})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def attempts_of(api: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"integrationruns/logs/{run_id}")
    assert response.status_code == 200, response.text
    attempts: list[dict[str, Any]] = orjson.loads(base64.b64decode(response.json()["Payload"]))[
        "attempts"
    ]
    return attempts


async def assert_each_sent_once_and_recorded_once(
    api: httpx.AsyncClient, receiver: Receiver, runs: list[dict[str, Any]]
) -> None:
    """Each run COMPLETE after one attempt, answered 200 by the receiver, which got each
    delivery (its id is the run's) exactly once and nothing else."""
    assert [(r["status"], r["attempts"]) for r in runs] == [("COMPLETE", 1)] * len(runs)
    for run in runs:
        attempts = await attempts_of(api, run["id"])
        assert [(a["statusCode"], a["responseBody"]) for a in attempts] == [(200, "answer 200")]
    delivered = Counter(r.headers["X-m3ter-delivery-id"] for r in receiver.at(PATH))
    assert delivered == Counter(r["id"] for r in runs)


async def fire_while_held(
    server: MeterbellServer, receiver: Receiver
) -> tuple[str, dict[str, Any]]:
    """Wire a rule to the receiver and fire it RUNS times; return once every delivery has
    reached the receiver (and is held there). The rule's id and the commitment updated."""
    async with await authorised(server) as api:
        rule_id = await wire_every_update(api, receiver.url(PATH))
        commitment = await new_commitment(api)
        for spent in range(1, RUNS + 1):
            commitment = await spend(api, commitment, spent)
    await receiver.wait_for(PATH, RUNS)
    return rule_id, commitment


async def sigterm_and_release(server: MeterbellServer, release: asyncio.Event) -> int:
    """SIGTERM; once the server is stopping its workers, release the held answers. The
    exit code."""
    server.send_sigterm()

    async def shutting_down() -> bool:
        return APP_SHUTDOWN_LINE in server.output()

    await poll(shutting_down, timeout_s=POLL_DEADLINE_S)
    assert server.running, "the server exited with its requests still in flight"
    release.set()
    return await asyncio.to_thread(server.wait_exit, EXIT_BOUND_S)


async def test_sigterm_lets_requests_in_flight_finish_and_records_each_run_once(
    database_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    release = asyncio.Event()
    receiver = Receiver()
    await receiver.start()
    receiver.answer(PATH, then=200, hold=release)
    server = MeterbellServer(
        tmp_path_factory.mktemp("shutdown") / "data",
        database_url=database_url,
        extra_env=ENGINE_ENV,
    )
    try:
        await asyncio.to_thread(server.start)
        rule_id, commitment = await fire_while_held(server, receiver)

        code = await sigterm_and_release(server, release)

        assert code == 0, server.log_tail()
        assert len(receiver.at(PATH)) == RUNS
        await asyncio.to_thread(server.start)
        async with await authorised(server) as api:
            await assert_each_sent_once_and_recorded_once(
                api, receiver, await runs_of(api, rule_id)
            )
            # One more run after the restart: once it is delivered and recorded, the
            # restarted deliverer has had its chance to send anything left over. Nothing was.
            await spend(api, commitment, RUNS + 1)
            runs = await poll(
                lambda: completed_runs(api, rule_id, RUNS + 1), timeout_s=POLL_DEADLINE_S
            )
            await assert_each_sent_once_and_recorded_once(api, receiver, runs)
    finally:
        release.set()
        server.stop()
        await receiver.stop()


async def completed_runs(
    api: httpx.AsyncClient, rule_id: str, count: int
) -> list[dict[str, Any]] | None:
    runs = await runs_of(api, rule_id)
    done = len(runs) == count and all(r["status"] == "COMPLETE" for r in runs)
    return runs if done else None
