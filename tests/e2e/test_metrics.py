"""Metrics and logs of real processes: `meterbell worker --metrics-port` serves /metrics
(Bearer MB_METRICS_TOKEN) counting the deliveries it made, `serve --no-workers` serves it on
the API port, and with MB_LOG_FORMAT=json every line the worker writes is one JSON object,
its delivery line carrying the run's ids."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from tests.e2e.commitments import authorised, new_commitment, spend, wire_every_update
from tests.e2e.server import MeterbellServer, MeterbellWorker, free_port
from tests.receiver import Receiver
from tests.scraping import Samples, parsed, series

pytestmark = pytest.mark.slow

TOKEN = "e2e-metrics-token"
WITHIN_S = 15.0
SUCCESSES = series("meterbell_deliveries_total", outcome="success")
FAILURES = series("meterbell_deliveries_total", outcome="failure")


async def scraped(http: httpx.AsyncClient, url: str, until: Any) -> Samples:
    """Scrape `url` with the token until `until(samples)` holds."""
    deadline = time.monotonic() + WITHIN_S
    while True:
        response = await http.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200, response.text
        samples = parsed(response.text)
        if until(samples):
            return samples
        assert time.monotonic() < deadline, f"{url} never showed what was expected: {samples}"
        await asyncio.sleep(0.05)


async def refused(http: httpx.AsyncClient, url: str) -> None:
    response = await http.get(url)
    assert response.status_code == 401, response.text
    assert "MB_METRICS_TOKEN" in response.json()["message"]


async def test_a_worker_serves_metrics_and_logs_json_lines(
    database_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    receiver = Receiver()
    await receiver.start()
    env = {
        "MB_WEBHOOK_ALLOW_PRIVATE": "true",
        "MB_WORKER_POLL_S": "0.2",  # on SQLite, wake-ups do not cross processes
        "MB_LOG_FORMAT": "json",
        "MB_METRICS_TOKEN": TOKEN,
    }
    server = MeterbellServer(
        tmp_path_factory.mktemp("metrics") / "data",
        database_url=database_url,
        extra_env=env,
        serve_args=("--no-workers",),
    )
    await asyncio.to_thread(server.start)
    port = free_port()
    worker = MeterbellWorker(server, args=("--metrics-port", str(port)))
    try:
        await asyncio.to_thread(worker.start, "serving /metrics")
        async with await authorised(server) as api:
            await wire_every_update(api, receiver.url("/observed"))
            await spend(api, await new_commitment(api), 1)
            [arrived] = await receiver.wait_for("/observed", 1, timeout_s=WITHIN_S)
        worker_metrics = f"http://127.0.0.1:{port}/metrics"
        async with httpx.AsyncClient(timeout=10) as http:
            await refused(http, worker_metrics)
            await refused(http, server.url("/metrics"))
            samples = await scraped(http, worker_metrics, lambda s: s.get(SUCCESSES))
            api_samples = await scraped(http, server.url("/metrics"), lambda s: True)
        assert worker.stop() == 0, worker.log_tail()
    finally:
        worker.stop()
        server.stop()
        await receiver.stop()

    assert (samples[SUCCESSES], samples.get(FAILURES)) == (1, 0)
    # The API process wrote the update's event; the worker dispatched it.
    assert api_samples[series("meterbell_events_total", category="Configuration")] >= 1
    assert samples[series("meterbell_rule_evaluations_total", result="fired")] == 1
    lines = [json.loads(line) for line in worker.log_path.read_text().splitlines()]
    [delivered] = [line for line in lines if line["event"] == "webhook delivered"]
    run_id = arrived.headers["X-m3ter-delivery-id"]
    org_id = server.initial_credentials().org_id
    assert delivered | {"runId": run_id, "orgId": org_id, "attempt": 1} == delivered
    assert delivered["eventId"]
    assert delivered["ruleId"]
    server_lines = [json.loads(line) for line in server.output().splitlines() if line[:1] == "{"]
    assert any(line["event"].startswith("Uvicorn running on") for line in server_lines)
