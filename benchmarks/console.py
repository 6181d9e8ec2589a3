"""How long a real `meterbell serve` takes to render console pages of 50 rows.

    .venv/bin/python benchmarks/console.py                   # SQLite in a temporary folder
    .venv/bin/python benchmarks/console.py --store postgres  # a fresh database, dropped at the end
    .venv/bin/python benchmarks/console.py --requests 400 --json

It starts the server, writes 60 alerts and a day of deliveries (2,000 runs of one attempt
each, one in ten failed) into its store (as the workers would record them), signs in as the
first start's console user, then GETs the Alerts page (50 rows), the Events page (50 rows)
and the Dashboard (open alerts, deliveries per minute over the last hour and day, p50/p99
latency, disabled integrations, dispatch lag) N times each, one at a time on one keep-alive
connection, after a warm-up. Server time per page is estimated as the page's client latency
minus that of `/health` measured the same way (the HTTP round trip on loopback), and as the
server process's CPU time per request. The target (issue 15): under 50 ms for a page of 50
rows, and for the Dashboard.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from harness import meterbell_server, percentile, temporary_store
from sqlalchemy import insert

from meterbell.config import async_driver_url
from meterbell.domain.alerts import AlertType, Occurrence, ResourceType, Severity
from meterbell.domain.clock import isoformat, utcnow
from meterbell.domain.integrations import RunStatus
from meterbell.services.alerts import raise_alert
from meterbell.store.db import Database
from meterbell.store.tables import integration_runs, run_attempts

ROWS = 50
TARGET_MS = 50.0
WARM_UP = 20
DELIVERIES = 2000
FAILED_EVERY = 10


async def write_alerts(database_url: str, org_id: str, count: int) -> None:
    db = Database(database_url)
    try:
        async with db.write() as conn:
            for n in range(count):
                occurrence = Occurrence(
                    org_id,
                    AlertType.INTEGRATION_PERFORM_ERROR,
                    Severity.ERROR,
                    ResourceType.INTEGRATION_CONFIGURATION,
                    str(uuid.uuid4()),
                    f"Delivery {n} to https://hooks.example.com failed: 502 Bad Gateway",
                )
                await raise_alert(conn, occurrence, utcnow())
    finally:
        await db.dispose()


async def write_deliveries(database_url: str, org_id: str, count: int) -> None:
    """`count` finished runs spread over the last day, one attempt each (every
    FAILED_EVERY-th failed), as the deliverer records them."""
    now = utcnow()
    runs, attempts = [], []
    for n in range(count):
        at = now - timedelta(seconds=n * 86_000 / count)
        failed = n % FAILED_EVERY == 0
        run_id = str(uuid.uuid4())
        runs.append(
            {
                "id": run_id,
                "org_id": org_id,
                "config_id": str(uuid.uuid4()),
                "entity_type": "Notification",
                "entity_id": str(uuid.uuid4()),
                "destination": "Webhook",
                "destination_id": str(uuid.uuid4()),
                "event_id": str(uuid.uuid4()),
                "status": RunStatus.ERROR if failed else RunStatus.COMPLETE,
                "attempts": 1,
                "body": "{}",
                "dt_created": at,
                "dt_started": at,
                "dt_completed": at,
            }
        )
        log = {"at": isoformat(at), "durationMs": 20.0 + n % 50, "statusCode": 200}
        if failed:
            log.update(statusCode=502, error="502 Bad Gateway")
        attempts.append({"run_id": run_id, "attempt": 1, "log": log})
    db = Database(database_url)
    try:
        async with db.write() as conn:
            await conn.execute(insert(integration_runs), runs)
            await conn.execute(insert(run_attempts), attempts)
    finally:
        await db.dispose()


def signed_in(http: httpx.Client, email: str, password: str) -> None:
    form = http.get("/console/sign-in")
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text)
    assert token, form.text
    answer = http.post(
        "/console/sign-in",
        data={"csrf_token": token.group(1), "email": email, "password": password},
    )
    assert answer.status_code == 303, answer.text


def latencies_ms(http: httpx.Client, path: str, count: int, rows: int | None) -> list[float]:
    for _ in range(WARM_UP):
        http.get(path)
    measured = []
    for _ in range(count):
        started = time.perf_counter()
        answer = http.get(path)
        measured.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
    if rows is not None:
        shown = answer.text.count("<tr") - 1  # less the heading row
        assert shown == rows, f"{path} shows {shown} rows, not {rows}"
    return sorted(measured)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with (
        temporary_store(args.store) as database_url,
        meterbell_server(database_url=database_url) as server,
    ):
        saved = json.loads((server.data_dir / "initial-credentials.json").read_text())
        store = database_url or f"sqlite:///{Path(server.data_dir).resolve() / 'meterbell.db'}"
        asyncio.run(write_alerts(async_driver_url(store), saved["orgId"], ROWS + 10))
        asyncio.run(write_deliveries(async_driver_url(store), saved["orgId"], DELIVERIES))
        with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
            signed_in(http, saved["consoleEmail"], saved["consolePassword"])
            health = latencies_ms(http, "/health", args.requests, None)
            pages = {
                "alerts": (f"/console/orgs/{saved['orgId']}/alerts", ROWS),
                "events": (f"/console/orgs/{saved['orgId']}/events", ROWS),
                "dashboard": (f"/console/orgs/{saved['orgId']}/dashboard", None),
            }
            for name, (path, rows) in pages.items():
                cpu_before = server.cpu_s() or 0.0
                page = latencies_ms(http, path, args.requests, rows)
                cpu_ms = ((server.cpu_s() or 0.0) - cpu_before) * 1000 / (args.requests + WARM_UP)
                results[name] = {
                    "median_ms": statistics.median(page),
                    "p99_ms": percentile(page, 99),
                    "server_median_ms": statistics.median(page) - statistics.median(health),
                    "server_cpu_ms": cpu_ms,
                }
    if args.json:
        print(json.dumps({"store": args.store, "rows": ROWS, "pages": results}))
    else:
        print(f"store: {args.store}; {args.requests} requests per page of {ROWS} rows")
        for name, row in results.items():
            print(
                f"{name:>9}: median {row['median_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
                f"server ≈ {row['server_median_ms']:.1f} ms (CPU {row['server_cpu_ms']:.1f} ms)"
            )
    return 0 if all(r["server_median_ms"] < TARGET_MS for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
