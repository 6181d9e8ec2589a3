"""Token-endpoint latency and entity write throughput of a real `meterbell serve` process.

    .venv/bin/python benchmarks/api.py                     # SQLite in a temporary data folder
    .venv/bin/python benchmarks/api.py --store postgres    # a fresh database, dropped at the end
    .venv/bin/python benchmarks/api.py --seconds 20 --concurrency 32 --json
    .venv/bin/python benchmarks/api.py --no-workers        # the API without the dispatcher
    .venv/bin/python benchmarks/api.py --store postgres --processes 2   # cluster-mode shape

What it does, in order (everything on 127.0.0.1, the whole run bounded by `--budget` seconds):

1. Starts `meterbell serve` (the console script next to this Python) on a free port with a
   temporary `MB_DATA_DIR`, and for `--store postgres` a freshly created database
   (`MB_DATABASE_URL`, created through `--postgres-url`); polls `/ready`; reads
   `<data_dir>/initial-credentials.json`. With `--processes N`, N servers share the store and
   the secret key; the first runs the workers, the others `--no-workers`.
2. Token endpoint: N sequential `GET /health`, then N sequential `POST /oauth/token`
   (HTTP Basic + `{"grant_type": "client_credentials"}`), after a short warm-up. Server time of
   the token call is estimated two ways without touching the server's code: (a) client latency
   of the token call minus client latency of `/health` (same client, same keep-alive
   connection, measured the same way), and (b) the server process's CPU time per request
   (`/proc/<pid>/stat`, all threads).
3. Creates one account, then drives `POST /commitments` with C concurrent clients for T seconds
   (create throughput), keeps K of the created commitments, gives each client its own share,
   and drives `PUT /commitments/{id}` (the previous entity with a changed `amountSpent` and the
   current `version`) for T seconds (update throughput). Each throughput phase has an unmeasured
   warm-up first. Clients own disjoint commitments, so any error (non-200) is a real failure.
4. Checks that every commitment's stored `version` equals the client's view (no lost update).
5. Stops the server(s) by pid (also on error, Ctrl-C or SIGTERM), drops the temporary database
   and removes the temporary folder. Exit status 1 if any write failed or an update was lost.

Reading the numbers. The load generator shares the machine's cores with the server; its own
CPU is reported (`client CPU ms/req`) so that a saturated client can be told from a saturated
server, and `other CPU cores` is every other busy core-second on the machine during the phase
(PostgreSQL's backends, and anything else running). On a shared or virtual machine, results
move with the neighbours: use `--wait-quiet` to start on an idle machine, repeat runs, and
compare configurations in alternation rather than across hours. `server CPU ms/req` divided by
the `/health` row's is a useful machine-independent ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from harness import (
    DEFAULT_POSTGRES_URL,
    Server,
    cpu_use,
    interrupt_on_sigterm,
    new_event_loop,
    parse_env,
    percentile,
    temporary_store,
    wait_for_quiet,
)

REQUEST_TIMEOUT_S = 30.0
TOKEN_WARMUP = 200


# -- measurements -----------------------------------------------------------------------------


@dataclass
class Result:
    """One measured phase: latencies in ms, CPU of server and client over the phase."""

    name: str
    concurrency: int
    requests: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    server_cpu_s: float | None = None
    client_cpu_s: float = 0.0
    machine_busy_s: float | None = None
    postgres_cpu_s: float | None = None
    error_samples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return (self.requests - self.errors) / self.elapsed_s if self.elapsed_s else 0.0

    def pct(self, p: float) -> float:
        return percentile(sorted(self.latencies_ms), p)

    def server_cpu_ms_per_req(self) -> float | None:
        if self.server_cpu_s is None or not self.requests:
            return None
        return 1000 * self.server_cpu_s / self.requests

    def other_cpu_s(self) -> float | None:
        """Busy CPU of everything but server and client (PostgreSQL, other work on the box)."""
        if self.machine_busy_s is None or self.server_cpu_s is None:
            return None
        return max(0.0, self.machine_busy_s - self.server_cpu_s - self.client_cpu_s)

    def client_cpu_ms_per_req(self) -> float | None:
        return 1000 * self.client_cpu_s / self.requests if self.requests else None

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        del data["latencies_ms"]
        data.update(
            requests_per_s=round(self.rate, 1),
            p50_ms=round(self.pct(50), 3),
            p95_ms=round(self.pct(95), 3),
            p99_ms=round(self.pct(99), 3),
            mean_ms=round(sum(self.latencies_ms) / len(self.latencies_ms), 3)
            if self.latencies_ms
            else None,
            server_cpu_ms_per_req=_round(self.server_cpu_ms_per_req()),
            client_cpu_ms_per_req=_round(self.client_cpu_ms_per_req()),
            server_cpu_cores=_round(self.server_cpu_s / self.elapsed_s)
            if self.server_cpu_s is not None and self.elapsed_s
            else None,
            postgres_cpu_ms_per_req=_round(1000 * self.postgres_cpu_s / self.requests)
            if self.postgres_cpu_s is not None and self.requests
            else None,
            other_cpu_cores=_round(other / self.elapsed_s)
            if (other := self.other_cpu_s()) is not None and self.elapsed_s
            else None,
        )
        return data


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class Meter:
    """What a phase measures besides latency: the server processes, and PostgreSQL's."""

    server_pids: list[int]
    with_postgres: bool


@contextlib.contextmanager
def measuring(result: Result, meter: Meter) -> Iterator[None]:
    with cpu_use(meter.server_pids, postgres=meter.with_postgres) as use:
        yield
    result.elapsed_s = use.elapsed_s
    result.client_cpu_s = use.client_s
    result.server_cpu_s = use.server_s
    result.machine_busy_s = use.machine_busy_s
    result.postgres_cpu_s = use.postgres_s


class Client:
    """One aiohttp session against the server, with the bearer token and JSON helpers."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, org_id: str) -> None:
        self.session = session
        self.base_url = base_url
        self.org_id = org_id
        self.headers: dict[str, str] = {}

    def org_url(self, path: str) -> str:
        return f"{self.base_url}/organizations/{self.org_id}/{path}"

    async def call(
        self, method: str, url: str, body: object | None = None, **kwargs: Any
    ) -> tuple[int, Any, float]:
        """(status, decoded JSON or text, latency in ms) of one request, body read whole."""
        headers = kwargs.pop("headers", self.headers)
        started = time.perf_counter()
        async with self.session.request(
            method, url, json=body, headers=headers, **kwargs
        ) as response:
            raw = await response.read()
        elapsed_ms = (time.perf_counter() - started) * 1000
        try:
            payload: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            payload = raw.decode(errors="replace")
        return response.status, payload, elapsed_ms


def _note_error(result: Result, status: int, payload: Any) -> None:
    result.errors += 1
    if len(result.error_samples) < 5:
        result.error_samples.append(f"{status}: {str(payload)[:300]}")


async def sequential(
    name: str,
    n: int,
    meter: Meter,
    request: Callable[[], Awaitable[tuple[int, Any, float]]],
) -> Result:
    for _ in range(min(n, TOKEN_WARMUP)):
        await request()
    result = Result(name=name, concurrency=1)
    with measuring(result, meter):
        for _ in range(n):
            status, payload, ms = await request()
            result.requests += 1
            result.latencies_ms.append(ms)
            if status != 200:
                _note_error(result, status, payload)
    return result


Worker = Callable[[int, float, Result | None], Awaitable[None]]


async def timed_phase(
    name: str,
    concurrency: int,
    seconds: float,
    warmup_s: float,
    meter: Meter,
    work: Worker,
) -> Result:
    """Run `work(client_index, deadline, result)` on C clients: a warm-up, then T measured s."""
    if warmup_s > 0:
        deadline = time.perf_counter() + warmup_s
        await asyncio.gather(*(work(i, deadline, None) for i in range(concurrency)))
    result = Result(name=name, concurrency=concurrency)
    with measuring(result, meter):
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(work(i, deadline, result) for i in range(concurrency)))
    return result


def _record(result: Result | None, status: int, payload: Any, ms: float) -> None:
    if result is None:
        return
    result.requests += 1
    result.latencies_ms.append(ms)
    if status != 200:
        _note_error(result, status, payload)


def commitment_body(account_id: str, n: int) -> dict[str, Any]:
    return {
        "accountId": account_id,
        "amount": 10000.0,
        "amountSpent": 0.0,
        "currency": "USD",
        "startDate": "2026-01-01",
        "endDate": "2027-01-01",
        "commitmentFeeDescription": f"benchmark commitment {n}",
    }


@dataclass
class Options:
    store: str
    seconds: float
    warmup: float
    concurrency: int
    token_requests: int
    commitments: int
    postgres_url: str
    server_env: dict[str, str]
    serve_args: list[str]
    as_json: bool
    budget: float
    pause_before_updates: float
    wait_quiet: float
    processes: int


async def run_benchmark(
    servers: list[Server], opts: Options, idle_before: float | None
) -> dict[str, Any]:
    server = servers[0]
    creds = server.credentials()
    pids = [srv.pid for srv in servers]
    meter = Meter(pids, with_postgres=opts.store == "postgres")
    connector = aiohttp.TCPConnector(limit=opts.concurrency + 4, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, json_serialize=lambda v: orjson.dumps(v).decode()
    ) as session:
        client = Client(session, server.base_url, creds.org_id)
        # Concurrent client i talks to server process i mod P (one process unless --processes).
        clients = [client] + [Client(session, srv.base_url, creds.org_id) for srv in servers[1:]]
        basic_headers = {"Authorization": creds.basic_auth}
        token_body = {"grant_type": "client_credentials"}

        async def health() -> tuple[int, Any, float]:
            return await client.call("GET", f"{server.base_url}/health", headers={})

        async def token() -> tuple[int, Any, float]:
            return await client.call(
                "POST", f"{server.base_url}/oauth/token", token_body, headers=basic_headers
            )

        health_result = await sequential("GET /health", opts.token_requests, meter, health)
        token_result = await sequential("POST /oauth/token", opts.token_requests, meter, token)

        status, payload, _ = await token()
        if status != 200:
            raise RuntimeError(f"token request failed: {status} {payload}")
        for each in clients:
            each.headers = {"Authorization": f"Bearer {payload['access_token']}"}

        status, account, _ = await client.call(
            "POST",
            client.org_url("accounts"),
            {
                "name": "Benchmark account",
                "code": f"bench-{secrets.token_hex(4)}",
                "emailAddress": "bench@example.com",
                "currency": "USD",
            },
        )
        if status != 200:
            raise RuntimeError(f"account create failed: {status} {account}")

        created: list[list[dict[str, Any]]] = [[] for _ in range(opts.concurrency)]

        async def create_worker(index: int, deadline: float, result: Result | None) -> None:
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                body = commitment_body(account["id"], n)
                mine = clients[index % len(clients)]
                status, entity, ms = await mine.call("POST", mine.org_url("commitments"), body)
                _record(result, status, entity, ms)
                if status == 200:
                    created[index].append(entity)

        create_result = await timed_phase(
            "POST /commitments",
            opts.concurrency,
            opts.seconds,
            opts.warmup,
            meter,
            create_worker,
        )

        # Each client updates only its own commitments (round-robin), so versions never clash.
        pool = [entity for mine in created for entity in mine]
        while len(pool) < opts.commitments:
            status, entity, _ = await client.call(
                "POST", client.org_url("commitments"), commitment_body(account["id"], len(pool))
            )
            if status != 200:
                raise RuntimeError(f"commitment create failed: {status} {entity}")
            pool.append(entity)
        random.Random(0).shuffle(pool)
        owned: list[list[dict[str, Any]]] = [
            pool[i : opts.commitments : opts.concurrency] for i in range(opts.concurrency)
        ]

        async def update_worker(index: int, deadline: float, result: Result | None) -> None:
            mine = owned[index]
            via = clients[index % len(clients)]
            turn = 0
            while time.perf_counter() < deadline:
                slot = turn % len(mine)
                turn += 1
                current = mine[slot]
                body = {**current, "amountSpent": round(current["amountSpent"] + 1.25, 2)}
                url = via.org_url(f"commitments/{current['id']}")
                status, entity, ms = await via.call("PUT", url, body)
                _record(result, status, entity, ms)
                if status == 200:
                    mine[slot] = entity
                else:  # resynchronise so one failure does not cascade into many
                    status, entity, _ = await via.call("GET", url)
                    if status == 200:
                        mine[slot] = entity

        if opts.pause_before_updates > 0:  # time to attach a profiler to the server pid
            print(
                f"server pid {pids[0]}: updates start in {opts.pause_before_updates}s", flush=True
            )
            await asyncio.sleep(opts.pause_before_updates)
        update_result = await timed_phase(
            "PUT /commitments/{id}",
            opts.concurrency,
            opts.seconds,
            opts.warmup,
            meter,
            update_worker,
        )

        lost = 0
        for mine in owned:
            for entity in mine:
                status, stored, _ = await client.call(
                    "GET", client.org_url(f"commitments/{entity['id']}")
                )
                if status != 200 or stored["version"] != entity["version"]:
                    lost += 1

    return {
        "store": opts.store,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "busy_cores_before_start": _round(idle_before, 2),
        },
        "settings": {
            "seconds": opts.seconds,
            "warmup_s": opts.warmup,
            "concurrency": opts.concurrency,
            "token_requests": opts.token_requests,
            "commitments_updated": opts.commitments,
            "serve_args": opts.serve_args,
            "processes": opts.processes,
            "server_env": opts.server_env,
        },
        "token_server_time_ms": {
            f"p{p}": round(token_result.pct(p) - health_result.pct(p), 3) for p in (50, 95, 99)
        },
        "results": [
            r.summary() for r in (health_result, token_result, create_result, update_result)
        ],
        "versions_mismatched_after_updates": lost,
    }


def _cell(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    m = report["machine"]
    pg = report["store"] == "postgres"
    lines = [
        f"meterbell API benchmark: store **{report['store']}**, {m['cpus']} CPUs, "
        f"Python {m['python']}"
        + (
            f" (machine busy {m['busy_cores_before_start']} cores just before start)"
            if m["busy_cores_before_start"] is not None
            else ""
        )
        + f"; throughput phases {s['seconds']:g} s after {s['warmup_s']:g} s "
        f"warm-up, {s['concurrency']} concurrent clients, "
        f"{s['commitments_updated']} commitments updated round-robin"
        + (f", {s['processes']} server processes" if s["processes"] > 1 else "")
        + (f", serve args {s['serve_args']}" if s["serve_args"] else "")
        + (f", server env {s['server_env']}" if s["server_env"] else ""),
        "",
        "| measurement | clients | requests | errors | req/s | p50 ms | p95 ms | p99 ms "
        "| server CPU ms/req | server CPU cores | client CPU ms/req | other CPU cores |"
        + (" PostgreSQL CPU ms/req |" if pg else ""),
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|" + ("--:|" if pg else ""),
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['name']} | {r['concurrency']} | {r['requests']} | {r['errors']} "
            f"| {_cell(r['requests_per_s'], 0)} | {_cell(r['p50_ms'])} | {_cell(r['p95_ms'])} "
            f"| {_cell(r['p99_ms'])} | {_cell(r['server_cpu_ms_per_req'])} "
            f"| {_cell(r['server_cpu_cores'])} | {_cell(r['client_cpu_ms_per_req'])} "
            f"| {_cell(r['other_cpu_cores'])} |"
            + (f" {_cell(r['postgres_cpu_ms_per_req'])} |" if pg else "")
        )
    t = report["token_server_time_ms"]
    token = report["results"][1]
    health = report["results"][0]
    token_cpu = token["server_cpu_ms_per_req"]
    health_cpu = health["server_cpu_ms_per_req"]
    extra_cpu = (
        _cell(token_cpu - health_cpu) if token_cpu is not None and health_cpu is not None else "n/a"
    )
    lines += [
        "",
        f"Token server time ≈ token - health latency: p50 {_cell(t['p50'])} ms, "
        f"p95 {_cell(t['p95'])} ms, p99 {_cell(t['p99'])} ms; server CPU per token call "
        f"{_cell(token_cpu)} ms ({extra_cpu} ms more than /health).",
        "CPU columns: server = the `meterbell serve` process (all threads); client = this "
        "script; other = every other busy core-second on the machine (PostgreSQL backends, and "
        "anything else running: a high value there means the numbers are disturbed)"
        + ("; PostgreSQL = all `postgres` processes (included in other)." if pg else "."),
        f"Commitments whose stored version differs from the client's view after the run: "
        f"{report['versions_mismatched_after_updates']}.",
    ]
    for r in report["results"]:
        for sample in r["error_samples"]:
            lines.append(f"- error in {r['name']}: {sample}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=10.0, help="each throughput phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured, before each phase")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--token-requests", type=int, default=2000, help="sequential requests")
    parser.add_argument(
        "--commitments", type=int, default=64, help="commitments updated (at least --concurrency)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("MB_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="an existing database to connect to while creating/dropping the benchmark's own",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the server (repeatable)",
    )
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        help="extra `meterbell serve` argument (write --serve-arg=--flag for flags)",
    )
    parser.add_argument(
        "--no-workers",
        action="store_true",
        help="no worker loops in any server process (measures the API without the dispatcher)",
    )
    parser.add_argument(
        "--pause-before-updates",
        type=float,
        default=0.0,
        help="seconds to wait (printing the server pid) before the update phase, e.g. for py-spy",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="server processes on one store (the first runs the workers, the rest --no-workers)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="first wait up to this many seconds for the machine to be idle (shared machines)",
    )
    parser.add_argument(
        "--budget", type=float, default=600.0, help="abort the whole run after this many seconds"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if min(args.concurrency, args.token_requests, args.processes) < 1 or args.seconds <= 0:
        parser.error("--concurrency, --seconds, --token-requests, --processes must be positive")
    try:
        server_env = parse_env(args.server_env)
    except ValueError as exc:
        parser.error(str(exc))
    return Options(
        store=args.store,
        seconds=args.seconds,
        warmup=args.warmup,
        concurrency=args.concurrency,
        token_requests=args.token_requests,
        commitments=max(args.commitments, args.concurrency),
        postgres_url=args.postgres_url,
        server_env=server_env,
        serve_args=list(args.serve_arg) + (["--no-workers"] if args.no_workers else []),
        as_json=args.json,
        budget=args.budget,
        pause_before_updates=args.pause_before_updates,
        wait_quiet=args.wait_quiet,
        processes=args.processes,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    interrupt_on_sigterm()
    idle_before = wait_for_quiet(opts.wait_quiet) if opts.wait_quiet > 0 else None
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mb-bench-")))
        database_url = stack.enter_context(temporary_store(opts.store, opts.postgres_url))
        # Process 0 runs the workers (and creates the first organization); any others serve the
        # API only, on the same store with the same secret key (cluster mode's shape).
        secret_key = "benchmark-" + secrets.token_hex(16)
        servers: list[Server] = []
        for index in range(opts.processes):
            server = Server(
                tmp / "data",
                database_url=database_url,
                secret_key=secret_key,
                env=opts.server_env,
                serve_args=opts.serve_args
                + (["--no-workers"] if index and "--no-workers" not in opts.serve_args else []),
                name=f"server-{index}",
            )
            servers.append(server)
            stack.callback(server.stop)
            server.start()

        async def bounded() -> dict[str, Any]:
            async with asyncio.timeout(opts.budget):
                return await run_benchmark(servers, opts, idle_before)

        try:
            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                report = runner.run(bounded())
        except Exception:
            for server in servers:
                tail = server.output()[-4000:]
                print(f"--- {server.log_path.name} (tail) ---\n{tail}", file=sys.stderr)
            raise
    print(json.dumps(report, indent=2) if opts.as_json else markdown(report))
    failed = any(r["errors"] for r in report["results"][2:])
    return 1 if failed or report["versions_mismatched_after_updates"] else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the server is stopped and the temporary store removed by now
        print("interrupted", file=sys.stderr)
        sys.exit(130)
