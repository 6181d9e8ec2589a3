"""Usage ingest speed of a real `meterbell serve` process: measurements accepted per second,
validated per second, and the delay from acceptance to validation.

    .venv/bin/python benchmarks/ingest.py                     # SQLite in a temporary data folder
    .venv/bin/python benchmarks/ingest.py --store postgres    # a fresh database, dropped at the end
    .venv/bin/python benchmarks/ingest.py --seconds 20 --paced-rate 8000 --paced-rate 12000 --json

What it does, in order (everything on 127.0.0.1, bounded by `--budget` seconds):

1. Starts `meterbell serve` (embedded: API and workers in one process) on a free port,
   gets a token, creates a meter (a WHO field, two MEASURE fields, a derived field dividing
   them), and submits one batch naming every account code, so the validator auto-creates the
   accounts before anything is measured.
2. Saturated: C concurrent clients (aiohttp) POST batches of 1000 measurements (unique uids,
   ~200 bytes each) as fast as the server accepts them, for T seconds after a warm-up.
   Accepted/s counts `{"result": "accepted"}` answers. Validated/s is the growth of the stored
   measurements over the same window, sampled from the store every `--sample-ms`; the backlog
   left at the end is then drained and timed (validated/s over load + drain).
3. Paced, for each `--paced-rate` R (default 10,000 and 15,000): batches are POSTed at a
   fixed total rate of R measurements/s (open loop) for T seconds;
   the delay of each batch from its acceptance (its POST returned) to its validation (the first
   sample in which the store holds every measurement accepted up to and including it; batches
   are validated in acceptance order) gives p50/p95/p99 (resolution: the sample interval).
4. Checks that the store holds exactly the measurements accepted and that the validator raised
   no ingest failure, stops the server, and drops the temporary database.

The store is read directly (read-only) to sample progress: the API has no measurement query.
The load generator shares the machine's cores with the server; its CPU use is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from harness import (
    DEFAULT_POSTGRES_URL,
    METER,
    METER_CODE,
    Server,
    cpu_use,
    interrupt_on_sigterm,
    new_event_loop,
    parse_env,
    percentile,
    temporary_store,
    wait_for_quiet,
)

BATCH = 1000
ACCOUNTS = 100
USERS = 50
REQUEST_TIMEOUT_S = 60.0


# -- what is sent -------------------------------------------------------------------------------


class Batches:
    """Request bodies of 1000 measurements each; every measurement has a unique uid."""

    def __init__(self) -> None:
        self.run = secrets.token_hex(4)
        self.count = 0
        self.items = [
            {
                "uid": "",
                "meter": METER_CODE,
                "account": f"customer-{i % ACCOUNTS:03d}",
                "ts": f"2026-11-23T10:{i % 60:02d}:{i * 7 % 60:02d}.000Z",
                "who": {"user": f"user-{i % USERS}"},
                "measure": {"requests": i % 17 + 1, "bytes": (i % 17 + 1) * 250},
                "where": {"region": "eu-west-1"},
            }
            for i in range(BATCH)
        ]

    def next_body(self) -> bytes:
        self.count += 1
        prefix = f"{self.run}-{self.count}-"
        for i, item in enumerate(self.items):
            item["uid"] = f"{prefix}{i}"
        return orjson.dumps({"measurements": self.items})


# -- progress in the store ---------------------------------------------------------------------


class Store:
    """Read-only look at how many measurements are stored (max seq: rows are never deleted
    or rolled back here, so it equals the count and costs one index probe)."""

    def __init__(self, sqlite_path: Path | None, postgres_url: str | None) -> None:
        self.sqlite_path = sqlite_path
        self.postgres_url = postgres_url
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None

    async def open(self) -> None:
        if self.postgres_url:
            import asyncpg  # type: ignore[import-untyped]  # only for --store postgres

            self._pg = await asyncpg.connect(self.postgres_url)
        else:
            uri = f"file:{self.sqlite_path}?mode=ro"
            self._sqlite = sqlite3.connect(uri, uri=True, check_same_thread=False)

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()
        if self._sqlite is not None:
            self._sqlite.close()

    async def _value(self, sql: str) -> int:
        if self._pg is not None:
            return int(await self._pg.fetchval(sql) or 0)
        assert self._sqlite is not None
        connection = self._sqlite
        row = await asyncio.to_thread(lambda: connection.execute(sql).fetchone())
        return int(row[0] or 0)

    async def stored(self) -> int:
        return await self._value("SELECT max(seq) FROM measurements")

    async def counted(self) -> int:
        return await self._value("SELECT count(*) FROM measurements")

    async def failures(self) -> int:
        return await self._value("SELECT count(*) FROM ingest_failures")


@dataclass
class Progress:
    """Samples of (time, measurements stored), taken in the background."""

    store: Store
    interval_s: float
    samples: list[tuple[float, int]] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            self.samples.append((time.perf_counter(), await self.store.stored()))
            await asyncio.sleep(self.interval_s)

    def at(self, moment: float) -> int:
        """Stored count of the last sample taken at or before `moment`."""
        value = 0
        for taken, stored in self.samples:
            if taken > moment:
                break
            value = stored
        return value

    def first_time_reaching(self, count: int, after: int = 0) -> tuple[float | None, int]:
        """Time of the first sample (from index `after`) with at least `count` stored."""
        for index in range(after, len(self.samples)):
            if self.samples[index][1] >= count:
                return self.samples[index][0], index
        return None, len(self.samples)


# -- phases --------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    concurrency: int
    started: float = 0.0
    elapsed_s: float = 0.0
    accepted: list[tuple[float, int]] = field(default_factory=list)  # (time answered, count)
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    validated_during: int = 0
    server_cpu_s: float | None = None
    client_cpu_s: float = 0.0
    machine_busy_s: float | None = None
    delays_ms: list[float] = field(default_factory=list)
    drain_s: float | None = None

    @property
    def measurements(self) -> int:
        return sum(count for _, count in self.accepted)

    def summary(self) -> dict[str, Any]:
        latencies, delays = sorted(self.latencies_ms), sorted(self.delays_ms)
        elapsed = self.elapsed_s or math.nan
        drained = self.elapsed_s + (self.drain_s or 0.0)
        return {
            "name": self.name,
            "clients": self.concurrency,
            "requests": len(self.accepted) + len(self.errors),
            "errors": len(self.errors),
            "error_samples": self.errors[:5],
            "measurements_accepted": self.measurements,
            "accepted_per_s": round(self.measurements / elapsed, 1),
            "validated_per_s_during": round(self.validated_during / elapsed, 1),
            "drain_s": None if self.drain_s is None else round(self.drain_s, 2),
            "validated_per_s_load_and_drain": round(self.measurements / drained, 1)
            if self.drain_s is not None
            else None,
            "post_ms": {f"p{p}": round(percentile(latencies, p), 2) for p in (50, 95, 99)},
            "delay_ms": {f"p{p}": round(percentile(delays, p), 1) for p in (50, 95, 99)}
            if delays
            else None,
            "server_cpu_cores": _ratio(self.server_cpu_s, elapsed),
            "client_cpu_cores": _ratio(self.client_cpu_s, elapsed),
            "other_cpu_cores": _ratio(
                None
                if self.machine_busy_s is None or self.server_cpu_s is None
                else max(0.0, self.machine_busy_s - self.server_cpu_s - self.client_cpu_s),
                elapsed,
            ),
        }


def _ratio(value: float | None, elapsed: float) -> float | None:
    return None if value is None or not elapsed else round(value / elapsed, 2)


class Load:
    """Sends batches: `post()` once, recording into the current phase (None: warm-up)."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self.session = session
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.batches = Batches()
        self.total_accepted = 0
        self.order: list[tuple[float, int, Phase | None]] = []  # (answered, cumulative, phase)

    async def post(self, phase: Phase | None) -> None:
        body = self.batches.next_body()
        started = time.perf_counter()
        async with self.session.post(self.url, data=body, headers=self.headers) as response:
            text = await response.read()
        answered = time.perf_counter()
        if response.status != 200:
            if phase is not None:
                phase.errors.append(f"{response.status}: {text[:300]!r}")
            return
        self.total_accepted += BATCH
        self.order.append((answered, self.total_accepted, phase))
        if phase is not None:
            phase.accepted.append((answered, BATCH))
            phase.latencies_ms.append((answered - started) * 1000)


@contextlib.contextmanager
def measuring(phase: Phase, pid: int) -> Any:
    with cpu_use([pid]) as use:
        phase.started = use.started
        yield
    phase.elapsed_s = use.elapsed_s
    phase.client_cpu_s = use.client_s
    phase.server_cpu_s = use.server_s
    phase.machine_busy_s = use.machine_busy_s


async def saturate(load: Load, clients: int, deadline: float, phase: Phase | None) -> None:
    async def client() -> None:
        while time.perf_counter() < deadline:
            await load.post(phase)

    await asyncio.gather(*(client() for _ in range(clients)))


async def paced(load: Load, rate: float, seconds: float, phase: Phase) -> None:
    """Open loop: a batch every BATCH/rate seconds, whatever the answers' latency."""
    interval, started = BATCH / rate, time.perf_counter()
    tasks = []
    for k in range(int(seconds * rate / BATCH)):
        await asyncio.sleep(max(0.0, started + k * interval - time.perf_counter()))
        tasks.append(asyncio.create_task(load.post(phase)))
    await asyncio.gather(*tasks)


async def drained(progress: Progress, expected: int, timeout_s: float) -> float | None:
    """Seconds until the store holds `expected` measurements (None: not within the timeout)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if progress.samples and progress.samples[-1][1] >= expected:
            return progress.samples[-1][0] - started
        await asyncio.sleep(progress.interval_s)
    return None


def delays(load: Load, progress: Progress, phase: Phase) -> list[float]:
    """Per accepted batch of `phase`: ms from its answer to the first sample covering it."""
    result, index = [], 0
    for answered, cumulative, owner in sorted(load.order, key=lambda entry: entry[1]):
        validated_at, index = progress.first_time_reaching(cumulative, index)
        if owner is phase and validated_at is not None:
            result.append(max(0.0, validated_at - answered) * 1000)
    return result


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Options:
    store: str
    seconds: float
    warmup: float
    concurrency: int
    paced_rates: list[float]
    sample_ms: float
    drain_timeout: float
    postgres_url: str
    server_env: dict[str, str]
    budget: float
    wait_quiet: float
    as_json: bool


async def setup(session: aiohttp.ClientSession, server: Server) -> tuple[str, str]:
    """(org id, token), with the meter created."""
    token = await asyncio.to_thread(server.token)
    headers = {"Authorization": f"Bearer {token}"}
    async with session.post(server.org_url("meters"), json=METER, headers=headers) as r:
        if r.status != 200:
            raise RuntimeError(f"meter create failed: {r.status} {await r.text()}")
    return server.credentials().org_id, token


async def measured(
    phase: Phase,
    load: Load,
    progress: Progress,
    server: Server,
    drive: Callable[[], Awaitable[None]],
    drain_timeout: float,
) -> dict[str, Any]:
    """Run `drive` as `phase`, then wait for the backlog to drain and compute the delays."""
    before = progress.samples[-1][1]
    with measuring(phase, server.pid):
        await drive()
    phase.validated_during = progress.at(phase.started + phase.elapsed_s) - before
    phase.drain_s = await drained(progress, load.total_accepted, drain_timeout)
    phase.delays_ms = delays(load, progress, phase)
    return phase.summary()


async def run_phases(
    session: aiohttp.ClientSession, server: Server, progress: Progress, opts: Options
) -> tuple[Load, list[dict[str, Any]]]:
    org_id, token = await setup(session, server)
    load = Load(session, f"{server.base_url}/organizations/{org_id}/measurements", token)
    await load.post(None)  # creates the accounts
    if await drained(progress, load.total_accepted, opts.drain_timeout) is None:
        raise RuntimeError("the first batch was not validated: see the server log")
    if opts.warmup > 0:
        await saturate(load, opts.concurrency, time.perf_counter() + opts.warmup, None)
        await drained(progress, load.total_accepted, opts.drain_timeout)
    full = Phase("saturated", opts.concurrency)
    results = [
        await measured(
            full,
            load,
            progress,
            server,
            lambda: saturate(load, opts.concurrency, time.perf_counter() + opts.seconds, full),
            opts.drain_timeout,
        )
    ]
    for rate in opts.paced_rates:
        steady = Phase(f"paced at {rate:g}/s", opts.concurrency)
        results.append(
            await measured(
                steady,
                load,
                progress,
                server,
                lambda rate=rate, steady=steady: paced(load, rate, opts.seconds, steady),
                opts.drain_timeout,
            )
        )
    return load, results


async def run_benchmark(server: Server, store: Store, opts: Options) -> dict[str, Any]:
    await store.open()
    progress = Progress(store, opts.sample_ms / 1000)
    sampler = asyncio.create_task(progress.run())
    connector = aiohttp.TCPConnector(limit=opts.concurrency * 4 + 4)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            load, results = await run_phases(session, server, progress, opts)
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    stored, counted, failed = await store.stored(), await store.counted(), await store.failures()
    await store.close()
    return {
        "store": opts.store,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {
            "seconds": opts.seconds,
            "warmup_s": opts.warmup,
            "concurrency": opts.concurrency,
            "batch": BATCH,
            "paced_rates": opts.paced_rates,
            "sample_ms": opts.sample_ms,
            "server_env": opts.server_env,
        },
        "results": results,
        "check": {
            "accepted": load.total_accepted,
            "stored": counted,
            "max_seq": stored,
            "ingest_failures": failed,
        },
    }


def _cell(value: Any) -> str:
    return "n/a" if value is None else str(value)


def markdown(report: dict[str, Any]) -> str:
    s, m, check = report["settings"], report["machine"], report["check"]
    lines = [
        f"meterbell ingest benchmark: store **{report['store']}**, {m['cpus']} CPUs, Python "
        f"{m['python']}"
        + (
            f" (machine busy {m['busy_cores_before_start']:.2f} cores just before start)"
            if m.get("busy_cores_before_start") is not None
            else ""
        )
        + f"; batches of {s['batch']}, {s['concurrency']} concurrent clients, "
        f"{s['seconds']:g} s per phase after {s['warmup_s']:g} s warm-up; progress sampled "
        f"every {s['sample_ms']:g} ms"
        + (f"; server env {s['server_env']}" if s["server_env"] else ""),
        "",
        "| phase | accepted | accepted/s | validated/s (during) | drain s | validated/s "
        "(load + drain) | POST p50 / p95 / p99 ms | delay p50 / p95 / p99 ms | errors "
        "| server CPU cores | client CPU cores | other CPU cores |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in report["results"]:
        post, delay = r["post_ms"], r["delay_ms"] or {}
        lines.append(
            f"| {r['name']} | {r['measurements_accepted']} | {r['accepted_per_s']:.0f} "
            f"| {r['validated_per_s_during']:.0f} | {_cell(r['drain_s'])} "
            f"| {_cell(r['validated_per_s_load_and_drain'])} "
            f"| {post['p50']} / {post['p95']} / {post['p99']} "
            f"| {_cell(delay.get('p50'))} / {_cell(delay.get('p95'))} / {_cell(delay.get('p99'))} "
            f"| {r['errors']} | {_cell(r['server_cpu_cores'])} | {_cell(r['client_cpu_cores'])} "
            f"| {_cell(r['other_cpu_cores'])} |"
        )
    lines += [
        "",
        "Delay: from a batch's `accepted` answer to the first progress sample in which the store "
        "holds it (0 when it was already there; resolution = the sample interval). Saturated "
        "delays include the backlog the overload builds; paced delays are the steady state.",
        f"Check: {check['accepted']} accepted, {check['stored']} stored, "
        f"{check['ingest_failures']} ingest failures.",
    ]
    for r in report["results"]:
        lines += [f"- error in {r['name']}: {sample}" for sample in r["error_samples"]]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=10.0, help="each measured phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured saturated load")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients")
    parser.add_argument(
        "--paced-rate",
        type=float,
        action="append",
        help="measurements/s of a paced phase (repeatable; default 10000 and 15000)",
    )
    parser.add_argument("--sample-ms", type=float, default=10.0, help="progress sampling")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
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
    parser.add_argument("--budget", type=float, default=600.0, help="abort after this many s")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="first wait up to this many seconds for the machine to be idle (shared machines)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    paced_rates = args.paced_rate or [10_000.0, 15_000.0]
    if args.concurrency < 1 or args.seconds <= 0 or min(paced_rates) <= 0:
        parser.error("--concurrency, --seconds and --paced-rate must be positive")
    try:
        server_env = parse_env(args.server_env)
    except ValueError as exc:
        parser.error(str(exc))
    return Options(
        store=args.store,
        seconds=args.seconds,
        warmup=args.warmup,
        concurrency=args.concurrency,
        paced_rates=paced_rates,
        sample_ms=args.sample_ms,
        drain_timeout=args.drain_timeout,
        postgres_url=args.postgres_url,
        server_env=server_env,
        budget=args.budget,
        wait_quiet=args.wait_quiet,
        as_json=args.json,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    interrupt_on_sigterm()
    busy_before = wait_for_quiet(opts.wait_quiet) if opts.wait_quiet > 0 else None
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mb-ingest-bench-")))
        database_url = stack.enter_context(temporary_store(opts.store, opts.postgres_url))
        server = Server(tmp / "data", database_url=database_url, env=opts.server_env)
        stack.callback(server.stop)
        server.start()
        print(f"server pid {server.pid} (e.g. for py-spy)", file=sys.stderr, flush=True)
        store = Store(tmp / "data" / "meterbell.db", database_url)

        async def bounded() -> dict[str, Any]:
            async with asyncio.timeout(opts.budget):
                return await run_benchmark(server, store, opts)

        try:
            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                report = runner.run(bounded())
            report["machine"]["busy_cores_before_start"] = busy_before
        except Exception:
            print(f"--- server log (tail) ---\n{server.output()[-4000:]}", file=sys.stderr)
            raise
    print(json.dumps(report, indent=2) if opts.as_json else markdown(report))
    check = report["check"]
    failed = any(r["errors"] for r in report["results"])
    return 1 if failed or check["stored"] != check["accepted"] or check["ingest_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
