"""End-to-end benchmark: API update -> rule -> signed webhook -> receiver.

Starts `meterbell serve` (embedded: SQLite, API and workers in one process, unless
`--store postgres` or `--database-url`) and a webhook receiver in its own process, creates 10
rules on `configuration.commitment.updated` (rule i fires when `new.amountSpent % 10 == i`, so
every update fires exactly one rule), each linked to its own webhook, then drives commitment
updates through the API: an unmeasured warm-up, a phase at a fixed rate, then one flat out.
Reports per phase API updates/s, deliveries/s, the latency from the API response to the
receiver's arrival (p50/p95/p99), the server's CPU per update (whole process, and its event
loop's thread alone) and the machine's other load, and checks that every firing was delivered.

    .venv/bin/python benchmarks/e2e.py [--rate 200] [--seconds 20] [--concurrency 32]
    .venv/bin/python benchmarks/e2e.py --store postgres --json

The issue's targets (2 cores, embedded): p99 <= 100 ms at 200 updates/s; >= 500 updates/s
flat out with every firing delivered. The load generator and the receiver share the machine
with the server: `client CPU` and `other cores` say how much. Loopback only; every loop is
bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from harness import (
    Receiver,
    Server,
    cpu_use,
    interrupt_on_sigterm,
    meterbell_server,
    new_event_loop,
    percentile,
    temporary_store,
    wait_for_quiet,
)

RULES = 10
COMMITMENTS = 64
DRAIN_TIMEOUT_S = 60.0
ACCOUNT_ID = "6a3d5b1e-2c4f-4e8a-9b7c-000000000001"


def entity_version(body: Mapping[str, Any], _headers: Mapping[str, str]) -> str:
    """Receiver key: `<commitment id>:<version>` of the update that fired."""
    dto = body["m3terEvent"]["eventData"]["newDto"]
    return f"{dto['id']}:{dto['version']}"


# ---- the client ---------------------------------------------------------------------------


@dataclass
class Api:
    session: aiohttp.ClientSession
    base: str
    headers: dict[str, str]

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(
            method,
            f"{self.base}/{path}",
            data=None if body is None else orjson.dumps(body),
            headers=self.headers,
        ) as response:
            payload = orjson.loads(await response.read())
            if response.status != 200:
                raise RuntimeError(f"{method} {path}: {response.status} {payload}")
            return payload


async def wire_rules(api: Api, receiver: Receiver) -> None:
    for n in range(RULES):
        rule = await api.call(
            "POST",
            "notifications/configurations",
            {
                "name": f"bucket {n}",
                "code": f"bucket-{n}",
                "eventName": "configuration.commitment.updated",
                "calculation": f"new.amountSpent % {RULES} == {n}",
            },
        )
        webhook = await api.call(
            "POST",
            "integrationdestinations/webhooks",
            {
                "name": f"hook {n}",
                "url": receiver.url(str(n)),
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


async def new_commitments(api: Api) -> list[dict[str, Any]]:
    return [
        await api.call(
            "POST",
            "commitments",
            {
                "accountId": ACCOUNT_ID,
                "amount": 1e9,
                "currency": "USD",
                "startDate": "2026-01-01",
                "endDate": "2027-01-01",
                "amountSpent": 0,
            },
        )
        for _ in range(COMMITMENTS)
    ]


@dataclass
class Phase:
    name: str
    sent_at: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    elapsed_s: float = 0.0
    server_cpu_s: float | None = None
    loop_cpu_s: float | None = None
    client_cpu_s: float = 0.0
    machine_busy_s: float | None = None


async def update(api: Api, commitment: dict[str, Any], phase: Phase) -> dict[str, Any]:
    body = {**commitment, "amountSpent": commitment["amountSpent"] + 1}
    try:
        updated = await api.call("PUT", f"commitments/{commitment['id']}", body)
    except RuntimeError:
        phase.errors += 1
        return commitment
    phase.sent_at[f"{updated['id']}:{updated['version']}"] = time.time()
    return dict(updated)


async def fixed_rate(
    api: Api, commitments: list[dict[str, Any]], rate: float, seconds: float, phase: Phase
) -> None:
    """Open loop: update n is due at n / rate; each commitment's updates stay in order."""
    started = time.monotonic()
    queues: list[asyncio.Queue[None]] = [asyncio.Queue() for _ in commitments]

    async def worker(index: int) -> None:
        while True:
            await queues[index].get()
            commitments[index] = await update(api, commitments[index], phase)
            queues[index].task_done()

    workers = [asyncio.create_task(worker(i)) for i in range(len(commitments))]
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        queues[n % len(commitments)].put_nowait(None)
    async with asyncio.timeout(60):
        await asyncio.gather(*(q.join() for q in queues))
    for task in workers:
        task.cancel()


async def flat_out(
    api: Api, commitments: list[dict[str, Any]], concurrency: int, seconds: float, phase: Phase
) -> None:
    stop_at = time.monotonic() + seconds

    async def worker(indexes: list[int]) -> None:
        while time.monotonic() < stop_at:
            for i in indexes:
                commitments[i] = await update(api, commitments[i], phase)

    groups = [list(range(i, len(commitments), concurrency)) for i in range(concurrency)]
    await asyncio.gather(*(worker(g) for g in groups if g))


async def measured(phase: Phase, server: Server, drive: Callable[[], Awaitable[None]]) -> None:
    with cpu_use([server.pid]) as use:
        await drive()
    phase.elapsed_s = use.elapsed_s
    phase.client_cpu_s = use.client_s
    phase.server_cpu_s = use.server_s
    phase.loop_cpu_s = use.loop_s
    phase.machine_busy_s = use.machine_busy_s


async def drained(receiver: Receiver, phase: Phase) -> dict[str, Any]:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while True:
        seen = await asyncio.to_thread(receiver.arrivals)
        missing = [key for key in phase.sent_at if key not in seen]
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    latencies = sorted((seen[k] - sent) * 1000 for k, sent in phase.sent_at.items() if k in seen)
    last_arrival = max((seen[k] for k in phase.sent_at if k in seen), default=0.0)
    first_sent = min(phase.sent_at.values(), default=0.0)
    updates = len(phase.sent_at)

    def per_update_ms(cpu_s: float | None) -> float | None:
        return None if cpu_s is None or not updates else round(1000 * cpu_s / updates, 3)

    def cores(cpu_s: float | None) -> float | None:
        return None if cpu_s is None or not phase.elapsed_s else round(cpu_s / phase.elapsed_s, 2)

    other = (
        None
        if phase.machine_busy_s is None or phase.server_cpu_s is None
        else max(0.0, phase.machine_busy_s - phase.server_cpu_s - phase.client_cpu_s)
    )
    return {
        "phase": phase.name,
        "updates": updates,
        "errors": phase.errors,
        "updates_per_s": updates / phase.elapsed_s if phase.elapsed_s else 0.0,
        "delivered": len(latencies),
        "missing": len(missing),
        "deliveries_per_s": len(latencies) / (last_arrival - first_sent) if latencies else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "server_cpu_ms_per_update": per_update_ms(phase.server_cpu_s),
        "loop_cpu_ms_per_update": per_update_ms(phase.loop_cpu_s),
        "server_cpu_cores": cores(phase.server_cpu_s),
        "client_cpu_cores": cores(phase.client_cpu_s),
        "other_cpu_cores": cores(other),
    }


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    header = (
        "| phase | updates | updates/s | delivered | missing | deliveries/s | p50 ms | p95 ms "
        "| p99 ms | max ms | server CPU ms/update | loop thread CPU ms/update | server cores "
        "| client cores | other cores |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [
        f"| {r['phase']} | {r['updates']} | {r['updates_per_s']:.0f} | {r['delivered']} "
        f"| {r['missing']} | {r['deliveries_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} "
        f"| {r['p99_ms']:.1f} | {r['max_ms']:.1f} | {_cell(r['server_cpu_ms_per_update'], 2)} "
        f"| {_cell(r['loop_cpu_ms_per_update'], 2)} | {_cell(r['server_cpu_cores'], 2)} "
        f"| {_cell(r['client_cpu_cores'], 2)} | {_cell(r['other_cpu_cores'], 2)} |"
        for r in rows
    ]
    return "\n".join([header, *lines])


async def benchmark(
    args: argparse.Namespace, server: Server, receiver: Receiver, token: str
) -> list[dict[str, Any]]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        api = Api(
            session,
            server.org_url(),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        await wire_rules(api, receiver)
        commitments = await new_commitments(api)
        if args.warmup > 0:
            warmup = Phase("warm-up")
            await fixed_rate(api, commitments, args.rate, args.warmup, warmup)
            await drained(receiver, warmup)
        fixed = Phase(f"fixed {args.rate:g}/s")
        flat = Phase(f"flat out, {args.concurrency} clients")
        rows = []
        for phase, drive in (
            (fixed, lambda: fixed_rate(api, commitments, args.rate, args.seconds, fixed)),
            (flat, lambda: flat_out(api, commitments, args.concurrency, args.seconds, flat)),
        ):
            await measured(phase, server, drive)
            rows.append(await drained(receiver, phase))
        return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="updates/s in the fixed phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured, at --rate")
    parser.add_argument("--concurrency", type=int, default=32, help="clients when flat out")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=None, help="where to create the database")
    parser.add_argument("--database-url", default=None, help="use this store as it is")
    parser.add_argument("--wait-quiet", type=float, default=0.0, help="wait for an idle machine")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    interrupt_on_sigterm()
    if args.wait_quiet > 0:
        wait_for_quiet(args.wait_quiet)
    store = "sqlite" if args.database_url else args.store
    with (
        temporary_store(store, args.postgres_url) as url,
        Receiver(entity_version) as receiver,
        meterbell_server(
            database_url=args.database_url or url, env={"MB_LOG_LEVEL": "warning"}
        ) as server,
    ):
        print(f"server pid {server.pid}", file=sys.stderr, flush=True)
        token = server.token()
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            rows = runner.run(benchmark(args, server, receiver, token))
    machine = {"cpus": os.cpu_count(), "store": "postgres" if url or args.database_url else store}
    print(json.dumps({"machine": machine, "results": rows}, indent=2) if args.json else table(rows))
    return 0 if all(r["missing"] == 0 and r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
