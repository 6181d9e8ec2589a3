"""Usage export speed: measurements written to a CSV (or JSONL) export file per second, raw and
aggregated by account and day, the peak memory of an export, and how long an export running
beside an event loop (as the exporter runs it) keeps that loop from running.

    .venv/bin/python benchmarks/export.py            # 100,000 and 1,000,000 rows, temporary SQLite
    .venv/bin/python benchmarks/export.py --postgres-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/export.py --rows 50000,500000 --repeat 5 --json

What it does, for each store size N of `--rows` (default 100,000 and 1,000,000):

1. Builds a store (a temporary SQLite file, or with `--postgres-url` a fresh PostgreSQL
   database created through that URL and dropped at the end): one organization, one meter
   (WHO `user`, MEASURE `requests` and `bytes`, derived `bytesPerRequest`), 1000 accounts, all
   created as entities the way the API creates them; then N measurements as the ingest
   validator stores them (`insert_measurements`, in big transactions), their `ts` spread
   evenly over 30 days (whole milliseconds), every other one with an `ets`, the accounts taken
   in turn (so the export's order, by account, is not the table's).
2. For each export (raw; aggregated by ACCOUNT and TIME DAY with SUM and COUNT of `requests`
   and UNIQUE of `user`: 30,000 groups whatever N), `--repeat` times, a fresh Python process
   builds a USAGE job over the 30 days and times `write_job_files` — what the exporter runs in
   its worker thread. The process's peak RSS (VmHWM) is that export's peak; its RSS before the
   export (app built) is shown too. Medians are reported.
3. Event-loop lag, at the largest N: a fresh process holding what a server holds (the app
   built, its start-up objects frozen, as `meterbell serve` does) runs the export with
   `asyncio.to_thread` (as `Exporter.job_step` does) while a task on the main loop sleeps
   `--tick-ms` at a time and records how late each wake-up is; max and p99 lateness, and the
   same ticker's lateness with no export running (idle).

Rows/s counts measurements read (for the aggregated export, rows of the file are far fewer).
The machine may be shared: repeat runs and compare medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import METER, TemporaryPostgres

ACCOUNTS = 1000
USERS = 50
DAYS = 30
BATCH = 50_000
START = datetime(2026, 3, 1, tzinfo=UTC)
STEP_MS = DAYS * 86_400_000
ACTOR = "benchmark"
BENCH_SECRET_KEY = "export-benchmark-secret-key"
CHILD_TIMEOUT_S = 1800.0
KINDS = ("raw", "aggregated")


# -- the store ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    url: str  # with the async driver, as `Database` takes it
    org_id: str
    meter_id: str
    rows: int


def measurement(org_id: str, meter_id: str, accounts: list[str], i: int, step: int) -> Any:
    ts = START + timedelta(milliseconds=i * step)
    requests = i % 17 + 1
    size = requests * 250 + i % 7
    return {
        "org_id": org_id,
        "meter_id": meter_id,
        "account_id": accounts[i % len(accounts)],
        "uid": f"bench-{i:010d}",
        "ts": ts,
        "ets": ts + timedelta(seconds=1) if i % 2 else None,
        "received_at": ts + timedelta(seconds=2),
        "fields": {
            "user": f"user-{i % USERS}",
            "requests": requests,
            "bytes": size,
            "bytesPerRequest": size / requests,
        },
    }


def account_body(n: int) -> dict[str, str]:
    return {"name": f"Customer {n}", "code": f"customer-{n:04d}", "emailAddress": f"c{n}@x.com"}


async def create_entities(db: Any, org_id: str) -> tuple[str, list[str]]:
    """The meter and the accounts, as the API creates them; (meter id, account ids)."""
    from meterbell.domain.catalog import entity_by_name
    from meterbell.domain.validation import validate_entity_body
    from meterbell.services import entities

    meter_spec, account_spec = entity_by_name("meter"), entity_by_name("account")
    async with db.write() as conn:
        meter = await entities.create_in(
            conn, org_id, meter_spec, validate_entity_body(meter_spec, METER), ACTOR
        )
        accounts = [
            await entities.create_in(conn, org_id, account_spec, account, ACTOR)
            for account in (
                validate_entity_body(account_spec, account_body(n)) for n in range(ACCOUNTS)
            )
        ]
    return str(meter["id"]), [str(a["id"]) for a in accounts]


async def build_store(url: str, rows: int) -> Store:
    from meterbell.services.orgs import create_organization
    from meterbell.store.db import Database
    from meterbell.store.ingest import insert_measurements
    from meterbell.store.migrate import upgrade

    db = Database(url)
    try:
        await upgrade(db)
        org_id = (await create_organization(db, "Export benchmark")).org_id
        meter_id, accounts = await create_entities(db, org_id)
        step = max(1, STEP_MS // rows)  # ms between consecutive measurements
        for first in range(0, rows, BATCH):
            batch = [
                measurement(org_id, meter_id, accounts, i, step)
                for i in range(first, min(rows, first + BATCH))
            ]
            async with db.write() as conn:
                await insert_measurements(conn, batch)
        if db.is_sqlite:
            return Store(url, org_id, meter_id, rows)
        async with db.write() as conn:
            await conn.exec_driver_sql("ANALYZE measurements")
        return Store(url, org_id, meter_id, rows)
    finally:
        await db.dispose()


def checkpoint_sqlite(path: Path) -> None:
    """Empty the write-ahead log so exports read the database file itself."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# -- one export, in a process of its own ----------------------------------------------------------


def iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_spec(store: Store, kind: str, file_format: str) -> dict[str, Any]:
    """A USAGE job's spec whose window holds every measurement of the store."""
    end = START + timedelta(days=DAYS)
    spec: dict[str, Any] = {
        "sourceType": "USAGE",
        "exportFileFormat": file_format,
        "startDate": iso(START),
        "endDate": iso(end),
        "runAt": iso(end),
    }
    if kind == "aggregated":
        spec["aggregations"] = [
            {"meterId": store.meter_id, "fieldCode": code, "fieldType": type_, "function": fn}
            for code, type_, fn in (
                ("requests", "MEASURE", "SUM"),
                ("requests", "MEASURE", "COUNT"),
                ("user", "DIMENSION", "UNIQUE"),
            )
        ]
        spec["groups"] = [{"groupType": "ACCOUNT"}, {"groupType": "TIME", "frequency": "DAY"}]
    return spec


def peak_rss_mb() -> float:
    """This process's peak RSS in MB: VmHWM on Linux. (`ru_maxrss` would do elsewhere, but on
    Linux a child started by vfork + exec inherits its parent's peak in `ru_maxrss`.)"""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


class Ticker:
    """Sleeps `tick_s` at a time on the running loop and records how late it wakes (seconds)."""

    def __init__(self, tick_s: float) -> None:
        self.tick_s = tick_s
        self.lateness: list[float] = []

    async def run(self) -> None:
        while True:
            asked = time.perf_counter() + self.tick_s
            await asyncio.sleep(self.tick_s)
            self.lateness.append(max(0.0, time.perf_counter() - asked))

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.lateness) or [math.nan]
        p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
        return {"lag_max_ms": ordered[-1] * 1000, "lag_p99_ms": p99 * 1000}


async def ticking(seconds: float | None, work: Any, tick_s: float) -> dict[str, float]:
    """Run `work` (a blocking callable) in a thread, or sleep `seconds`, under a ticker."""
    ticker = Ticker(tick_s)
    task = asyncio.create_task(ticker.run())
    await asyncio.sleep(tick_s * 5)  # the ticker's first wake-ups are not the export's
    ticker.lateness.clear()
    if seconds is None:
        await asyncio.to_thread(work)
    else:
        await asyncio.sleep(seconds)
    task.cancel()
    return ticker.summary()


def run_child(task: dict[str, Any]) -> dict[str, Any]:
    """One export as `task` says; what it measured."""
    from meterbell.app import create_app
    from meterbell.config import Settings
    from meterbell.domain.clock import utcnow
    from meterbell.heap import freeze_startup_objects
    from meterbell.store.exports import JobRow
    from meterbell.workers.export_writer import write_job_files

    job = JobRow(
        id=str(uuid.uuid4()),
        org_id=task["org_id"],
        schedule_id=None,
        source_type="USAGE",
        status="RUNNING",
        spec=task["spec"],
        dt_created=utcnow(),
    )
    work_dir = Path(task["work_dir"])
    # The heap of a server: its app built and its start-up objects frozen, as `serve` does.
    create_app(Settings(data_dir=work_dir, secret_key=BENCH_SECRET_KEY), run_workers=False)
    freeze_startup_objects()
    result: dict[str, Any] = {"baseline_rss_mb": peak_rss_mb()}
    files: list[Any] = []
    started = time.perf_counter()
    if task["lag"]:
        idle = asyncio.run(ticking(1.0, None, task["tick_s"]))
        result.update({f"idle_{key}": value for key, value in idle.items()})

        def work() -> None:
            files.extend(write_job_files(task["url"], job, work_dir))

        started = time.perf_counter()
        result.update(asyncio.run(ticking(None, work, task["tick_s"])))
    else:
        files = write_job_files(task["url"], job, work_dir)
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = peak_rss_mb()
    result["file_rows"] = sum(f.rows for f in files)
    result["file_bytes"] = sum(f.bytes for f in files)
    for written in files:
        written.path.unlink()
    return result


def spawn(task: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(task)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"export process failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class Options:
    rows: list[int]
    repeat: int
    file_format: str
    postgres_url: str | None
    tick_ms: float
    lag: bool
    as_json: bool


def median_of(results: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in results))


def measure(store: Store, opts: Options, work_dir: Path, kind: str) -> dict[str, Any]:
    """`opts.repeat` runs of one export of the whole store, and the lag runs if wanted."""
    task = {
        "url": store.url,
        "org_id": store.org_id,
        "spec": job_spec(store, kind, opts.file_format),
        "work_dir": str(work_dir),
        "lag": False,
        "tick_s": opts.tick_ms / 1000,
    }
    runs = [spawn(task) for _ in range(opts.repeat)]
    seconds = median_of(runs, "seconds")
    row = {"kind": kind, "size": store.rows, "runs": runs, "seconds": seconds}
    row["rows_per_s"] = store.rows / seconds
    for key in ("peak_rss_mb", "baseline_rss_mb", "file_rows", "file_bytes"):
        row[key] = median_of(runs, key)
    if opts.lag and store.rows == max(opts.rows):
        row["lag"] = [spawn({**task, "lag": True}) for _ in range(opts.repeat)]
    print(summary_line(row), file=sys.stderr, flush=True)
    return row


def summary_line(row: dict[str, Any]) -> str:
    runs = ", ".join(f"{r['seconds']:.2f}" for r in row["runs"])
    return (
        f"{row['kind']} {row['size']}: {row['rows_per_s']:,.0f} rows/s (runs {runs} s), "
        f"peak RSS {row['peak_rss_mb']:.0f} MB"
    )


def built_store(opts: Options, rows: int, stack: ExitStack) -> tuple[Store, float]:
    """A store of `rows` measurements (see the module docstring), removed by `stack`, and the
    seconds it took to build."""
    from meterbell.config import async_driver_url

    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mb-export-bench-")))
    if opts.postgres_url:
        url = async_driver_url(
            stack.enter_context(TemporaryPostgres(opts.postgres_url, prefix="mb_export_bench")).url
        )
    else:
        url = f"sqlite+aiosqlite:///{tmp / 'meterbell.db'}"
    started = time.perf_counter()
    store = asyncio.run(build_store(url, rows))
    if not opts.postgres_url:
        checkpoint_sqlite(tmp / "meterbell.db")
    build_s = time.perf_counter() - started
    print(f"store built: {rows:,} rows in {build_s:.1f} s", file=sys.stderr, flush=True)
    return store, build_s


def run(opts: Options) -> dict[str, Any]:
    results, build_s = [], {}
    for rows in opts.rows:
        with ExitStack() as stack:
            store, build_s[rows] = built_store(opts, rows, stack)
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mb-export-")))
            results += [measure(store, opts, work_dir, kind) for kind in KINDS]
    return {
        "store": "postgres" if opts.postgres_url else "sqlite",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {
            "rows": opts.rows,
            "repeat": opts.repeat,
            "format": opts.file_format,
            "tick_ms": opts.tick_ms,
        },
        "build_s": build_s,  # per store size
        "results": results,
    }


def _lag_cell(lag: list[dict[str, Any]] | None, key: str) -> str:
    return "" if not lag else f"{median_of(lag, key):.1f}"


def markdown(report: dict[str, Any]) -> str:
    s, m = report["settings"], report["machine"]
    built = ", ".join(f"{int(n):,} rows in {t:.0f} s" for n, t in report["build_s"].items())
    lines = [
        f"meterbell export benchmark: store **{report['store']}**, {m['cpus']} CPUs, Python "
        f"{m['python']}; stores built: {built}; {s['format']}, median of {s['repeat']} runs, "
        "each in a fresh process",
        "",
        "| export | rows | file rows | MB (gz) | s | rows/s | RSS before MB | peak RSS MB "
        f"| lag max ms | lag p99 ms | idle lag max / p99 ms (tick {s['tick_ms']:g} ms) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in report["results"]:
        lag = r.get("lag")
        idle = (
            f"{_lag_cell(lag, 'idle_lag_max_ms')} / {_lag_cell(lag, 'idle_lag_p99_ms')}"
            if lag
            else ""
        )
        lines.append(
            f"| {r['kind']} | {r['size']:,} | {r['file_rows']:,.0f} "
            f"| {r['file_bytes'] / 1e6:.1f} | {r['seconds']:.2f} | {r['rows_per_s']:,.0f} "
            f"| {r['baseline_rss_mb']:.0f} | {r['peak_rss_mb']:.0f} "
            f"| {_lag_cell(lag, 'lag_max_ms')} | {_lag_cell(lag, 'lag_p99_ms')} | {idle} |"
        )
    lines += [
        "",
        "RSS before: the export process with a server's app built, before the export. Lag: how "
        "late a task sleeping on the main loop woke up while the export ran in a thread "
        "(`asyncio.to_thread`, as the exporter runs it); idle: the same with no export.",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows",
        default="100000,1000000",
        help="comma-separated sizes: a store of each many measurements is built and exported",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each export")
    parser.add_argument("--format", dest="file_format", choices=["CSV", "JSONL"], default="CSV")
    parser.add_argument(
        "--postgres-url",
        help="benchmark PostgreSQL: an existing database to connect to while creating and "
        "dropping the benchmark's own (default: SQLite)",
    )
    parser.add_argument("--tick-ms", type=float, default=1.0, help="the lag ticker's sleep")
    parser.add_argument("--no-lag", action="store_true", help="skip the event-loop lag runs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    rows = sorted({int(value) for value in args.rows.split(",")})
    if rows[0] < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be positive")
    return Options(
        rows=rows,
        repeat=args.repeat,
        file_format=args.file_format,
        postgres_url=args.postgres_url,
        tick_ms=args.tick_ms,
        lag=not args.no_lag,
        as_json=args.json,
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--child"]:
        print(json.dumps(run_child(json.loads(args[1]))))
        return 0
    opts = parse_args(args)
    report = run(opts)
    print(json.dumps(report, indent=2) if opts.as_json else markdown(report))
    bad = [r for r in report["results"] if r["kind"] == "raw" and r["file_rows"] != r["size"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
