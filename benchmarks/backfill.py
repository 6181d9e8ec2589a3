"""Live delivery during a large backfill: does a 100,000-event backfill hold back live
update -> delivery?

Starts `meterbell serve` (embedded SQLite unless `--store postgres`) and a receiver as
benchmarks/e2e.py does, wires e2e's 10 live rules and webhooks, then writes `--events`
stored events of another type (`configuration.product.updated`, dispatched, over the last
hour) straight into the store through meterbell's own store code, and a rule on them that
matches one event in `--match-every` (so 10,000 of 100,000 fire by default), with a webhook
of its own. Then, at `--rate` updates/s:

1. a baseline phase with no backfill;
2. a phase that starts the backfill (real run, a background job) at once and runs beside it.

Reports per phase the live latency from the API's answer to the receiver's arrival
(p50/p95/p99/max), the backfill's progress at the end of phase 2 and how long the whole job
took, and checks every live firing and every backfill firing arrived.

    .venv/bin/python benchmarks/backfill.py [--events 100000] [--rate 200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from harness import (
    Receiver,
    Server,
    interrupt_on_sigterm,
    meterbell_server,
    new_event_loop,
    temporary_store,
)

from e2e import Api, Phase, drained, entity_version, fixed_rate, new_commitments, wire_rules
from meterbell.store import events as event_store
from meterbell.store.db import Database
from meterbell.store.events import EventRow

EVENT_NAME = "configuration.product.updated"
PRELOAD_BATCH = 5_000


def product(n: int, match_every: int) -> dict[str, Any]:
    """The product of stored event n: named "match" in one of `match_every`."""
    name = "match" if n % match_every == 0 else f"product {n}"
    return {"id": f"bf-{n}", "version": 1, "name": name, "code": f"p{n}"}


async def preload(database_url: str, org_id: str, count: int, match_every: int) -> None:
    """`count` dispatched events of EVENT_NAME over the last hour, oldest first."""
    db = Database(database_url)
    start = datetime.now(UTC) - timedelta(hours=1)
    step = timedelta(hours=1) / max(count, 1)
    try:
        for first in range(0, count, PRELOAD_BATCH):
            rows = [
                EventRow(
                    id=str(uuid.uuid4()),
                    org_id=org_id,
                    event_name=EVENT_NAME,
                    category="Configuration",
                    event_time=start + n * step,
                    m3ter_event={"eventData": {"newDto": product(n, match_every)}},
                    dispatched_at=start + n * step,
                )
                for n in range(first, min(first + PRELOAD_BATCH, count))
            ]
            async with db.write() as conn:
                await event_store.insert_events(conn, rows)
    finally:
        await db.dispose()


async def wire_backfill_rule(api: Api, receiver: Receiver) -> str:
    rule = await api.call(
        "POST",
        "notifications/configurations",
        {
            "name": "backfilled",
            "code": "backfilled",
            "eventName": EVENT_NAME,
            "calculation": 'new.name == "match"',
            "active": True,
        },
    )
    webhook = await api.call(
        "POST",
        "integrationdestinations/webhooks",
        {
            "name": "backfill hook",
            "url": receiver.url("backfill"),
            "credentials": {"type": "M3TER_SIGNED_REQUEST", "apiKey": "k", "secret": "s"},
        },
    )
    await api.call(
        "POST",
        "integrationconfigs",
        {
            "entityType": "Notification",
            "entityId": rule["id"],
            "destination": "Webhook",
            "destinationId": webhook["id"],
        },
    )
    return str(rule["id"])


def summary(row: dict[str, Any]) -> str:
    return (
        f"| {row['phase']} | {row['updates']} | {row['delivered']} | {row['missing']} "
        f"| {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | {row['p99_ms']:.1f} | {row['max_ms']:.1f} |"
    )


async def benchmark(
    args: argparse.Namespace, server: Server, receiver: Receiver, database_url: str
) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        token = await asyncio.to_thread(server.token)
        api = Api(
            session,
            server.org_url(),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        await wire_rules(api, receiver)
        commitments = await new_commitments(api)
        began = time.monotonic()
        await preload(database_url, server.credentials().org_id, args.events, args.match_every)
        preload_s = time.monotonic() - began
        rule_id = await wire_backfill_rule(api, receiver)
        warmup = Phase("warm-up")
        await fixed_rate([api], commitments, args.rate, args.warmup, warmup)
        await drained(receiver, warmup)

        baseline = Phase(f"no backfill, {args.rate:g}/s")
        began = time.monotonic()
        await fixed_rate([api], commitments, args.rate, args.seconds, baseline)
        baseline.elapsed_s = time.monotonic() - began
        rows = [await drained(receiver, baseline)]

        now = datetime.now(UTC)
        window = {"since": (now - timedelta(hours=2)).isoformat(), "until": now.isoformat()}
        during = Phase(f"during backfill, {args.rate:g}/s")
        began = time.monotonic()
        job = await api.call("POST", f"notifications/configurations/{rule_id}/backfill", window)
        job_path = f"notifications/configurations/{rule_id}/backfills/{job['id']}"
        await fixed_rate([api], commitments, args.rate, args.seconds, during)
        during.elapsed_s = time.monotonic() - began
        at_phase_end = await api.call("GET", job_path)
        rows.append(await drained(receiver, during))
        deadline = time.monotonic() + args.job_timeout
        while (done := await api.call("GET", job_path))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        job_s = time.monotonic() - began
        expected = -(-args.events // args.match_every)
        deadline = time.monotonic() + args.job_timeout
        while True:
            arrived = sum(1 for k in await asyncio.to_thread(receiver.arrivals) if k[:3] == "bf-")
            if arrived >= expected or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        return {
            "events": args.events,
            "preload_s": round(preload_s, 1),
            "phases": rows,
            "backfill_at_phase_end": {
                k: at_phase_end[k] for k in ("status", "evaluated", "matched", "created")
            },
            "backfill": {k: done[k] for k in ("status", "evaluated", "matched", "created")},
            "backfill_job_s": round(job_s, 1),
            "backfill_deliveries": arrived,
            "backfill_deliveries_expected": expected,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="stored events backfilled")
    parser.add_argument("--match-every", type=int, default=10, help="the rule matches 1 in N")
    parser.add_argument("--rate", type=float, default=200.0, help="live updates/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured, at --rate")
    parser.add_argument("--job-timeout", type=float, default=300.0, help="wait for the job")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=None, help="where to create the database")
    args = parser.parse_args()
    interrupt_on_sigterm()
    with (
        temporary_store(args.store, args.postgres_url) as url,
        Receiver(entity_version) as receiver,
        meterbell_server(database_url=url, env={"MB_LOG_LEVEL": "warning"}) as server,
    ):
        database_url = url or f"sqlite+aiosqlite:///{(server.data_dir / 'meterbell.db')}"
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            result = runner.run(benchmark(args, server, receiver, database_url))
    print(json.dumps(result, indent=2))
    print("| phase | updates | delivered | missing | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in result["phases"]:
        print(summary(row))
    ok = all(r["missing"] == 0 for r in result["phases"])
    return 0 if ok and result["backfill"]["status"] == "COMPLETE" else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
