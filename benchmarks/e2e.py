"""End-to-end benchmark: API update -> rule -> signed webhook -> receiver.

Starts `meterbell serve` (embedded SQLite unless --database-url is given) and a receiver in
its own process, creates 10 rules on `configuration.commitment.updated` (rule i fires when
`new.amountSpent % 10 == i`, so every update fires exactly one rule), each linked to its own
webhook, then drives commitment updates through the API: first at a fixed rate, then flat
out. Reports API updates/s, deliveries/s, and the latency from the API response to the
receiver's arrival (p50/p95/p99), and checks that every firing was delivered.

    .venv/bin/python benchmarks/e2e.py [--rate 200] [--seconds 20] [--concurrency 32]

Loopback only; every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

RULES = 10
COMMITMENTS = 64
DRAIN_TIMEOUT_S = 60.0
MEMBELL = Path(sys.executable).parent / "meterbell"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


# ---- the receiver (its own process, so it does not share a CPU core with the client) ------


def run_receiver(port: int) -> None:
    arrivals: dict[str, float] = {}

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        arrived = time.time()
        dto = json.loads(body)["m3terEvent"]["eventData"]["newDto"]
        arrivals.setdefault(f"{dto['id']}:{dto['version']}", arrived)
        return web.Response(text="ok")

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(arrivals)

    app = web.Application()
    app.router.add_post("/hook/{n}", hook)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# ---- the server ---------------------------------------------------------------------------


@dataclass
class Server:
    data_dir: Path
    database_url: str | None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MB_")}
        env |= {
            "MB_DATA_DIR": str(self.data_dir),
            "MB_PORT": str(self.port),
            "MB_WEBHOOK_ALLOW_PRIVATE": "true",
            "MB_LOG_LEVEL": "warning",
        }
        if self.database_url:
            env["MB_DATABASE_URL"] = self.database_url
        log = (self.data_dir.parent / "server.log").open("wb")
        self.process = subprocess.Popen(
            [str(MEMBELL), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
        )

    async def wait_ready(self, session: aiohttp.ClientSession, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{self.url}/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError("meterbell did not become ready")

    def cpu_s(self) -> float | None:
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().split()  # type: ignore[union-attr]
        except (OSError, AttributeError):
            return None
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


# ---- the client ---------------------------------------------------------------------------


@dataclass
class Api:
    session: aiohttp.ClientSession
    base: str
    headers: dict[str, str]

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.session.request(
            method, f"{self.base}/{path}", json=body, headers=self.headers
        ) as response:
            payload = await response.json()
            if response.status != 200:
                raise RuntimeError(f"{method} {path}: {response.status} {payload}")
            return payload


async def connect(server: Server, session: aiohttp.ClientSession) -> Api:
    credentials = json.loads((server.data_dir / "initial-credentials.json").read_text())
    basic = aiohttp.encode_basic_auth(credentials["clientId"], credentials["clientSecret"])
    async with session.post(
        f"{server.url}/oauth/token",
        json={"grant_type": "client_credentials"},
        headers={"Authorization": basic},
    ) as response:
        token = (await response.json())["access_token"]
    return Api(
        session,
        f"{server.url}/organizations/{credentials['orgId']}",
        {"Authorization": f"Bearer {token}"},
    )


async def wire_rules(api: Api, receiver_port: int) -> None:
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
                "url": f"http://127.0.0.1:{receiver_port}/hook/{n}",
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
                "accountId": "6a3d5b1e-2c4f-4e8a-9b7c-000000000001",
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
    started: float = 0.0
    ended: float = 0.0


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
    api: Api, commitments: list[dict[str, Any]], rate: float, seconds: float
) -> Phase:
    phase = Phase(f"fixed {rate:g}/s")
    phase.started = time.monotonic()
    queues: list[asyncio.Queue[None]] = [asyncio.Queue() for _ in commitments]

    async def worker(index: int) -> None:
        while True:
            await queues[index].get()
            commitments[index] = await update(api, commitments[index], phase)
            queues[index].task_done()

    workers = [asyncio.create_task(worker(i)) for i in range(len(commitments))]
    total = int(rate * seconds)
    for n in range(total):
        target = phase.started + n / rate
        await asyncio.sleep(max(0.0, target - time.monotonic()))
        queues[n % len(commitments)].put_nowait(None)
    await asyncio.wait_for(asyncio.gather(*(q.join() for q in queues)), timeout=60)
    for task in workers:
        task.cancel()
    phase.ended = time.monotonic()
    return phase


async def flat_out(
    api: Api, commitments: list[dict[str, Any]], concurrency: int, seconds: float
) -> Phase:
    phase = Phase(f"flat out, {concurrency} clients")
    phase.started = time.monotonic()
    stop_at = phase.started + seconds

    async def worker(indexes: list[int]) -> None:
        while time.monotonic() < stop_at:
            for i in indexes:
                commitments[i] = await update(api, commitments[i], phase)

    groups = [list(range(i, len(commitments), concurrency)) for i in range(concurrency)]
    await asyncio.gather(*(worker(g) for g in groups if g))
    phase.ended = time.monotonic()
    return phase


async def arrivals(session: aiohttp.ClientSession, port: int) -> dict[str, float]:
    async with session.get(f"http://127.0.0.1:{port}/stats") as response:
        return dict(await response.json())


async def drained(session: aiohttp.ClientSession, port: int, phase: Phase) -> dict[str, Any]:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while True:
        seen = await arrivals(session, port)
        missing = [key for key in phase.sent_at if key not in seen]
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    latencies = [(seen[k] - sent) * 1000 for k, sent in phase.sent_at.items() if k in seen]
    last_arrival = max((seen[k] for k in phase.sent_at if k in seen), default=0.0)
    first_sent = min(phase.sent_at.values(), default=0.0)
    duration = phase.ended - phase.started
    return {
        "phase": phase.name,
        "updates": len(phase.sent_at),
        "errors": phase.errors,
        "updates_per_s": len(phase.sent_at) / duration if duration else 0.0,
        "delivered": len(latencies),
        "missing": len(missing),
        "deliveries_per_s": len(latencies) / (last_arrival - first_sent) if latencies else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
    }


def table(rows: list[dict[str, Any]]) -> str:
    header = (
        "| phase | updates | updates/s | delivered | missing | deliveries/s | "
        "p50 ms | p95 ms | p99 ms | server CPU s |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [
        f"| {r['phase']} | {r['updates']} | {r['updates_per_s']:.0f} | {r['delivered']} | "
        f"{r['missing']} | {r['deliveries_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
        f"{r['p99_ms']:.1f} | {r.get('server_cpu_s', float('nan')):.1f} |"
        for r in rows
    ]
    return "\n".join([header, *lines])


async def benchmark(
    args: argparse.Namespace, server: Server, receiver_port: int
) -> list[dict[str, Any]]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await server.wait_ready(session)
        api = await connect(server, session)
        await wire_rules(api, receiver_port)
        commitments = await new_commitments(api)
        rows = []
        for run in (
            lambda: fixed_rate(api, commitments, args.rate, args.seconds),
            lambda: flat_out(api, commitments, args.concurrency, args.seconds),
        ):
            cpu_before = server.cpu_s()
            phase = await run()
            row = await drained(session, receiver_port, phase)
            cpu_after = server.cpu_s()
            if cpu_before is not None and cpu_after is not None:
                row["server_cpu_s"] = cpu_after - cpu_before
            rows.append(row)
        return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="updates/s in the fixed phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--concurrency", type=int, default=32, help="clients when flat out")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default SQLite)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    receiver_port = free_port()
    receiver = multiprocessing.Process(target=run_receiver, args=(receiver_port,), daemon=True)
    receiver.start()
    with tempfile.TemporaryDirectory(prefix="mb-e2e-") as tmp:
        server = Server(Path(tmp) / "data", args.database_url)
        server.start()
        try:
            rows = asyncio.run(benchmark(args, server, receiver_port))
        finally:
            server.stop()
            receiver.terminate()
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 0 if all(r["missing"] == 0 and r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
