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
    .venv/bin/python benchmarks/e2e.py --preload 1000000            # a store with history
    .venv/bin/python benchmarks/e2e.py --preload 1000000 --preload-expired   # retention at work
    .venv/bin/python benchmarks/e2e.py --store postgres --cluster 2,1  # 2 API, 1 worker process
    .venv/bin/python benchmarks/e2e.py --cluster 1,1    # the same processes on one SQLite file
    .venv/bin/python benchmarks/e2e.py --without-metrics  # the baseline of the metrics cost

`--preload N` first writes N accounts and N events into the store (benchmarks/preload.py);
with `--preload-expired` they are past retention, which runs every second and deletes them
while the phases run. `--cluster API,WORKERS` starts that many `serve --no-workers` and
`meterbell worker` processes; the client spreads its commitments over the API processes, and
CPU per update sums every meterbell process; on PostgreSQL the database's CPU is reported
beside it. On SQLite (one file shared by the processes, to measure the option against the
embedded mode's one process) nothing relays wake-ups between processes, so the workers poll
every 10 ms. `--signing STANDARD_WEBHOOKS` signs the
Standard Webhooks way instead of m3ter's. `repeats` counts deliveries that reached the receiver
twice (claim races: the receiver always answers 200, so nothing is retried).

The issue's targets (2 cores, embedded): p99 <= 100 ms at 200 updates/s; >= 500 updates/s
flat out with every firing delivered. The load generator and the receiver share the machine
with the server: `client CPU` and `other cores` say how much. Loopback only; every loop is
bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from harness import (
    Receiver,
    Server,
    cpu_use,
    interrupt_on_sigterm,
    new_event_loop,
    percentile,
    temporary_store,
    wait_for_quiet,
)
from preload import preload

RULES = 10
COMMITMENTS = 64
DRAIN_TIMEOUT_S = 60.0
SQLITE_CLUSTER_POLL_S = 0.01  # no LISTEN/NOTIFY relay between processes on SQLite
WITHOUT_METRICS = Path(__file__).with_name("without_metrics.py")
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


SIGNING = {
    "M3TER_SIGNED_REQUEST": {"type": "M3TER_SIGNED_REQUEST", "apiKey": "k", "secret": "s"},
    "STANDARD_WEBHOOKS": {"type": "STANDARD_WEBHOOKS"},  # the secret is generated
}


async def wire_rules(api: Api, receiver: Receiver, signing: str = "M3TER_SIGNED_REQUEST") -> None:
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
                "credentials": SIGNING[signing],
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
    postgres_cpu_s: float | None = None
    repeats_before: int = 0


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
    apis: list[Api], commitments: list[dict[str, Any]], rate: float, seconds: float, phase: Phase
) -> None:
    """Open loop: update n is due at n / rate; each commitment's updates stay in order."""
    started = time.monotonic()
    queues: list[asyncio.Queue[None]] = [asyncio.Queue() for _ in commitments]

    async def worker(index: int) -> None:
        while True:
            await queues[index].get()
            api = apis[index % len(apis)]
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
    apis: list[Api],
    commitments: list[dict[str, Any]],
    concurrency: int,
    seconds: float,
    phase: Phase,
) -> None:
    stop_at = time.monotonic() + seconds

    async def worker(indexes: list[int]) -> None:
        while time.monotonic() < stop_at:
            for i in indexes:
                commitments[i] = await update(apis[i % len(apis)], commitments[i], phase)

    groups = [list(range(i, len(commitments), concurrency)) for i in range(concurrency)]
    await asyncio.gather(*(worker(g) for g in groups if g))


async def measured(
    phase: Phase, processes: list[Server], postgres: bool, drive: Callable[[], Awaitable[None]]
) -> None:
    with cpu_use([p.pid for p in processes], postgres=postgres) as use:
        await drive()
    phase.postgres_cpu_s = use.postgres_s
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
    repeats = await asyncio.to_thread(receiver.repeats) - phase.repeats_before
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
        "postgres_cpu_ms_per_update": per_update_ms(phase.postgres_cpu_s),
        "server_cpu_cores": cores(phase.server_cpu_s),
        "client_cpu_cores": cores(phase.client_cpu_s),
        "other_cpu_cores": cores(other),
        "repeats": repeats,
    }


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    header = (
        "| phase | updates | updates/s | delivered | missing | deliveries/s | p50 ms | p95 ms "
        "| p99 ms | max ms | server CPU ms/update | loop thread CPU ms/update "
        "| PostgreSQL CPU ms/update | server cores | client cores | other cores | repeats |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [
        f"| {r['phase']} | {r['updates']} | {r['updates_per_s']:.0f} | {r['delivered']} "
        f"| {r['missing']} | {r['deliveries_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} "
        f"| {r['p99_ms']:.1f} | {r['max_ms']:.1f} | {_cell(r['server_cpu_ms_per_update'], 2)} "
        f"| {_cell(r['loop_cpu_ms_per_update'], 2)} "
        f"| {_cell(r['postgres_cpu_ms_per_update'], 2)} | {_cell(r['server_cpu_cores'], 2)} "
        f"| {_cell(r['client_cpu_cores'], 2)} | {_cell(r['other_cpu_cores'], 2)} "
        f"| {r['repeats']} |"
        for r in rows
    ]
    return "\n".join([header, *lines])


async def benchmark(
    args: argparse.Namespace, processes: Processes, receiver: Receiver
) -> list[dict[str, Any]]:
    connector = aiohttp.TCPConnector(limit=0)
    token = processes.apis[0].token()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector) as session:
        apis = [Api(session, server.org_url(), headers) for server in processes.apis]
        await wire_rules(apis[0], receiver, args.signing)
        commitments = await new_commitments(apis[0])
        if args.warmup > 0:
            warmup = Phase("warm-up")
            await fixed_rate(apis, commitments, args.rate, args.warmup, warmup)
            await drained(receiver, warmup)
        fixed = Phase(f"fixed {args.rate:g}/s")
        flat = Phase(f"flat out, {args.concurrency} clients")
        rows = []
        for phase, drive in (
            (fixed, lambda: fixed_rate(apis, commitments, args.rate, args.seconds, fixed)),
            (flat, lambda: flat_out(apis, commitments, args.concurrency, args.seconds, flat)),
        ):
            phase.repeats_before = await asyncio.to_thread(receiver.repeats)
            await measured(phase, processes.all, processes.postgres, drive)
            rows.append(await drained(receiver, phase))
        return rows


@dataclass
class Processes:
    """The meterbell processes under test: those serving the API, and all of them."""

    apis: list[Server]
    all: list[Server]
    postgres: bool


def cluster_shape(text: str) -> tuple[int, int]:
    try:
        api, workers = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("give API,WORKERS, e.g. 2,1") from None
    if api < 1 or workers < 1:
        raise argparse.ArgumentTypeError("at least one API and one worker process")
    return api, workers


def start_processes(
    stack: contextlib.ExitStack, args: argparse.Namespace, data_dir: Path, url: str | None
) -> Processes:
    """Embedded (one `serve`) or a cluster; with `--preload`, the history written first (by
    a first start that creates the organization, then stops)."""
    secret_key = f"benchmark-{secrets.token_hex(16)}"
    env = {"MB_LOG_LEVEL": "warning", "MB_WEBHOOK_ALLOW_PRIVATE": "true"}
    wrapper = [sys.executable, str(WITHOUT_METRICS)] if args.without_metrics else []

    def started(name: str, command: str = "serve", serve_args: tuple[str, ...] = ()) -> Server:
        server = Server(
            data_dir,
            database_url=url,
            env=env,
            serve_args=serve_args,
            secret_key=secret_key,
            name=name,
            command=command,
            wrapper=wrapper,
        )
        stack.callback(server.stop)
        server.start()
        print(f"{name} pid {server.pid}", file=sys.stderr, flush=True)
        return server

    if args.preload:
        first = started("bootstrap", serve_args=("--no-workers",))
        first.stop()
        store_url = url or f"sqlite:///{data_dir / 'meterbell.db'}"
        org_id = first.credentials().org_id
        took = asyncio.run(preload(store_url, org_id, args.preload, expired=args.preload_expired))
        print(f"preloaded {args.preload} accounts and events in {took:.0f} s", file=sys.stderr)
        if args.preload_expired:
            env["MB_RETENTION_INTERVAL_S"] = "1"
    if args.cluster is None:
        server = started("server")
        return Processes([server], [server], postgres=url is not None)
    if url is None:
        env["MB_WORKER_POLL_S"] = str(SQLITE_CLUSTER_POLL_S)
    api_count, worker_count = args.cluster
    apis = [started(f"api-{n}", serve_args=("--no-workers",)) for n in range(api_count)]
    workers = [started(f"worker-{n}", command="worker") for n in range(worker_count)]
    return Processes(apis, apis + workers, postgres=url is not None)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="updates/s in the fixed phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured, at --rate")
    parser.add_argument("--concurrency", type=int, default=32, help="clients when flat out")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=None, help="where to create the database")
    parser.add_argument("--database-url", default=None, help="use this store as it is")
    parser.add_argument("--preload", type=int, default=0, help="accounts and events first")
    parser.add_argument("--preload-expired", action="store_true", help="past retention")
    parser.add_argument("--cluster", type=cluster_shape, default=None, help="API,WORKERS")
    parser.add_argument("--signing", choices=sorted(SIGNING), default="M3TER_SIGNED_REQUEST")
    parser.add_argument("--wait-quiet", type=float, default=0.0, help="wait for an idle machine")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--without-metrics", action="store_true", help="counters and histograms as no-ops"
    )
    args = parser.parse_args()
    store = "sqlite" if args.database_url else args.store
    interrupt_on_sigterm()
    if args.wait_quiet > 0:
        wait_for_quiet(args.wait_quiet)
    with contextlib.ExitStack() as stack:
        url = args.database_url or stack.enter_context(temporary_store(store, args.postgres_url))
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mb-bench-")))
        receiver = stack.enter_context(Receiver(entity_version))
        processes = start_processes(stack, args, tmp / "data", url)
        try:
            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                rows = runner.run(benchmark(args, processes, receiver))
        except BaseException:
            for server in processes.all:
                print(
                    f"--- {server.name} log (tail) ---\n{server.output()[-4000:]}", file=sys.stderr
                )
            raise
    machine = {
        "cpus": os.cpu_count(),
        "store": "postgres" if url else "sqlite",
        "cluster": args.cluster,
        "preload": args.preload,
        "preload_expired": args.preload_expired,
        "signing": args.signing,
    }
    print(json.dumps({"machine": machine, "results": rows}, indent=2) if args.json else table(rows))
    return 0 if all(r["missing"] == r["errors"] == r["repeats"] == 0 for r in rows) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
