"""What the benchmarks that drive a real `meterbell serve` share: the server process on a
temporary data folder (optionally on a fresh PostgreSQL database), a token for its
organization, a webhook receiver in a process of its own, and CPU accounting from /proc.

    from harness import meterbell_server

    with meterbell_server(env={"MB_DELIVERY_ATTEMPTS": "1"}) as server:
        token = server.token()                      # bearer token for the first organization
        url = server.org_url("commitments")         # .../organizations/<orgId>/commitments
        ...                                         # server.pid, server.cpu_s(), server.output()
    # stopped (by its pid) and the temporary folder removed, whatever happened

    with temporary_store("postgres") as database_url, meterbell_server(database_url=database_url):
        ...                                         # a fresh database, dropped at the end

`Server` is the process itself, for benchmarks that run several on one store (same data folder
and secret key). Everything listens on 127.0.0.1 only. Imported by the scripts next to it
(`python benchmarks/<name>.py` puts this folder on `sys.path`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import multiprocessing
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MB_EXE = Path(sys.executable).parent / "meterbell"
LOOPBACK = "127.0.0.1"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
INITIAL_CREDENTIALS_FILE = "initial-credentials.json"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
POLL_INTERVAL_S = 0.05
BIND_RETRIES = 3
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# The meter the ingest and export benchmarks measure with: who called, how often, how much.
METER_CODE = "api_calls"
METER = {
    "name": "API calls",
    "code": METER_CODE,
    "dataFields": [
        {"category": "WHO", "code": "user", "name": "User"},
        {"category": "MEASURE", "code": "requests", "name": "Requests", "unit": "count"},
        {"category": "MEASURE", "code": "bytes", "name": "Bytes", "unit": "By"},
    ],
    "derivedFields": [
        {
            "category": "MEASURE",
            "code": "bytesPerRequest",
            "name": "Bytes per request",
            "calculation": "bytes / requests",
        }
    ],
}


# -- small helpers ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (NaN when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, min(len(sorted_values), math.ceil(pct / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def parse_env(items: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` strings (a repeatable `--server-env`) as a dict; ValueError if malformed."""
    env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--server-env wants KEY=VALUE, got {item!r}")
        env[key] = value
    return env


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed: a cheaper client loop leaves more CPU to the server."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def interrupt_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so servers are stopped and temporary stores dropped."""
    signal.signal(signal.SIGTERM, _raise_interrupt)


# -- CPU accounting (Linux /proc; None elsewhere) ------------------------------------------------


def _stat_cpu_s(stat_path: str, *, reaped_children: bool = False) -> float | None:
    try:
        stat = Path(stat_path).read_text()
    except OSError:
        return None
    # Fields after the parenthesised command name; utime, stime, cutime, cstime are 14..17.
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def process_cpu_s(pid: int, *, reaped_children: bool = False) -> float | None:
    """User + system CPU seconds of a process, all threads.

    With `reaped_children`, add the CPU of its children that exited and were waited for
    (cutime + cstime): PostgreSQL's postmaster reaps every backend that a pool closes.
    """
    return _stat_cpu_s(f"/proc/{pid}/stat", reaped_children=reaped_children)


def thread_cpu_s(pid: int, tid: int | None = None) -> float | None:
    """User + system CPU seconds of one thread (default: the main thread, which runs a
    server's event loop: the thread that saturates first)."""
    return _stat_cpu_s(f"/proc/{pid}/task/{tid or pid}/stat")


def machine_busy_s() -> float | None:
    """CPU seconds all cores spent busy since boot."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    ticks = [int(value) for value in first[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu_s() -> float:
    """CPU of this process's children that have exited and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_quiet(max_wait_s: float, threshold_cores: float = 0.25) -> float | None:
    """Wait (up to `max_wait_s`) for a 1 s window in which the machine is nearly idle.

    Returns the busy cores of the last window (None without /proc). On a shared machine this
    keeps other people's work from landing in the measurement, or at least says it did.
    """
    deadline = time.monotonic() + max_wait_s
    while True:
        before = machine_busy_s()
        time.sleep(1.0)
        after = machine_busy_s()
        if before is None or after is None:
            return None
        busy = after - before
        if busy < threshold_cores or time.monotonic() >= deadline:
            return busy


def postgres_cpu_s() -> float | None:
    """CPU seconds of every `postgres` process, including backends that already exited (all
    databases: other work on the same server is included)."""
    total = 0.0
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return None
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        total += process_cpu_s(int(entry.name), reaped_children=True) or 0.0
    return total


@dataclass
class CpuUse:
    """CPU seconds spent during a measured block (see `cpu_use`)."""

    started: float = 0.0  # time.perf_counter() at the start
    elapsed_s: float = 0.0
    server_s: float | None = None  # the server processes, all threads
    loop_s: float | None = None  # their main threads (the event loops)
    client_s: float = 0.0  # this process
    machine_busy_s: float | None = None  # every core of the machine
    postgres_s: float | None = None  # every `postgres` process, when asked for

    @property
    def other_s(self) -> float | None:
        """Busy CPU of everything but server and client (PostgreSQL, other work on the box)."""
        if self.machine_busy_s is None or self.server_s is None:
            return None
        return max(0.0, self.machine_busy_s - self.server_s - self.client_s)


def _summed(values: Sequence[float | None]) -> float | None:
    return None if None in values else sum(v for v in values if v is not None)


@contextlib.contextmanager
def cpu_use(pids: Sequence[int], *, postgres: bool = False) -> Iterator[CpuUse]:
    """Measure a block: its wall time, and the CPU the server processes `pids` (and their
    event-loop threads), this process, the whole machine and optionally PostgreSQL spent."""
    use = CpuUse()
    postgres_before = postgres_cpu_s() if postgres else None
    server_before = _summed([process_cpu_s(pid) for pid in pids])
    loop_before = _summed([thread_cpu_s(pid) for pid in pids])
    busy_before, client_before = machine_busy_s(), own_cpu_s()
    use.started = time.perf_counter()
    yield use
    use.elapsed_s = time.perf_counter() - use.started
    use.client_s = own_cpu_s() - client_before
    server_after = _summed([process_cpu_s(pid) for pid in pids])
    loop_after = _summed([thread_cpu_s(pid) for pid in pids])
    busy_after = machine_busy_s()
    postgres_after = postgres_cpu_s() if postgres else None
    if server_before is not None and server_after is not None:
        use.server_s = server_after - server_before
    if loop_before is not None and loop_after is not None:
        use.loop_s = loop_after - loop_before
    if busy_before is not None and busy_after is not None:
        use.machine_busy_s = busy_after - busy_before
    if postgres_before is not None and postgres_after is not None:
        use.postgres_s = postgres_after - postgres_before


# -- the store -----------------------------------------------------------------------------------


def require_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise SystemExit(f"refusing a non-loopback database host {host!r}: use 127.0.0.1")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def asyncpg_dsn(url: str) -> str:
    """asyncpg wants `postgresql://`; accept SQLAlchemy's `postgresql+asyncpg://` too."""
    scheme, _, rest = url.partition("://")
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


class TemporaryPostgres:
    """A fresh database next to the one `admin_url` names (loopback only); dropped (FORCE) on
    exit. `url` is the plain `postgresql://` URL of the new database."""

    def __init__(self, admin_url: str = DEFAULT_POSTGRES_URL, prefix: str = "mb_bench") -> None:
        self.admin_url = asyncpg_dsn(admin_url)
        require_loopback(self.admin_url)
        self.name = f"{prefix}_{secrets.token_hex(6)}"
        self.url = with_database(self.admin_url, self.name)

    async def _execute(self, sql: str) -> None:
        import asyncpg  # type: ignore[import-untyped]  # only for PostgreSQL

        conn = await asyncpg.connect(self.admin_url, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def __enter__(self) -> TemporaryPostgres:
        asyncio.run(self._execute(f'CREATE DATABASE "{self.name}"'))
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.run(self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


@contextlib.contextmanager
def temporary_store(store: str, postgres_url: str | None = None) -> Iterator[str | None]:
    """The `MB_DATABASE_URL` for a benchmark: None for SQLite (the server's own file in its
    data folder), or a fresh PostgreSQL database made through `postgres_url` (default
    $MB_BENCH_POSTGRES_URL or the local `test` database) and dropped afterwards."""
    if store == "sqlite":
        yield None
        return
    if store != "postgres":
        raise ValueError(f"unknown store {store!r}: sqlite or postgres")
    admin = postgres_url or os.environ.get("MB_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    with TemporaryPostgres(admin) as database:
        yield database.url


# -- the server ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    org_id: str
    client_id: str
    client_secret: str

    @property
    def basic_auth(self) -> str:
        pair = f"{self.client_id}:{self.client_secret}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"


class Server:
    """`meterbell serve` (or, with `command="worker"`, `meterbell worker` serving /metrics on
    its port) as a child process (its own session: our Ctrl-C reaches us, and we
    stop it), stopped by its pid on `stop()` or on leaving a `with` block, whatever happened.

    `env` is added to a clean environment (no inherited `MB_*` variables); `database_url`
    None means SQLite in `data_dir`. Servers sharing a data folder, store and `secret_key`
    serve the same organizations (cluster mode's shape: give the others `--no-workers`).
    `wrapper` goes before the command: a profiler, e.g. `["valgrind", "--tool=cachegrind"]`
    (`pid` is then the profiler's process, which runs the server in itself).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        database_url: str | None = None,
        env: Mapping[str, str] | None = None,
        serve_args: Sequence[str] = (),
        secret_key: str | None = None,
        name: str = "server",
        wrapper: Sequence[str] = (),
        command: str = "serve",
    ) -> None:
        self.data_dir = data_dir
        self.command = command
        self.wrapper = list(wrapper)
        self.database_url = database_url
        self.env = dict(env or {})
        self.serve_args = list(serve_args)
        self.secret_key = secret_key or f"benchmark-{secrets.token_hex(16)}"
        self.name = name
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{name}.log"
        self._credentials: Credentials | None = None

    # where it is

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not running"
        return self.process.pid

    def credentials(self) -> Credentials:
        """The first organization's API credentials, written by the server at its first start."""
        if self._credentials is None:
            data = json.loads((self.data_dir / INITIAL_CREDENTIALS_FILE).read_text())
            self._credentials = Credentials(data["orgId"], data["clientId"], data["clientSecret"])
        return self._credentials

    def org_url(self, path: str = "") -> str:
        base = f"{self.base_url}/organizations/{self.credentials().org_id}"
        return f"{base}/{path.lstrip('/')}" if path else base

    def token(self, credentials: Credentials | None = None) -> str:
        """A bearer token for the organization (`POST /oauth/token`, HTTP Basic)."""
        credentials = credentials or self.credentials()
        request = urllib.request.Request(
            f"{self.base_url}/oauth/token",
            data=json.dumps({"grant_type": "client_credentials"}).encode(),
            headers={"Authorization": credentials.basic_auth, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            token: str = json.loads(response.read())["access_token"]
        return token

    # how busy it is

    def cpu_s(self) -> float | None:
        """CPU seconds of the whole process so far (all threads)."""
        return process_cpu_s(self.pid)

    def loop_cpu_s(self) -> float | None:
        """CPU seconds of its main thread so far (the event loop's)."""
        return thread_cpu_s(self.pid)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # its life

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MB_")}
        env.update(
            {
                "MB_DATA_DIR": str(self.data_dir),
                "MB_SECRET_KEY": self.secret_key,
                "MB_HOST": LOOPBACK,
                "MB_PORT": str(self.port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.database_url:
            env["MB_DATABASE_URL"] = self.database_url
        env.update(self.env)
        return env

    def start(self) -> None:
        """Start on a free port and wait until `/ready` answers (a few tries if another
        process took the port first)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(BIND_RETRIES):
            self.port = free_port()
            with self.log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    [*self.wrapper, str(MB_EXE), *self._arguments()],
                    env=self._environment(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if self._wait_ready():
                return
            if "address already in use" not in self.output().lower():
                break
        raise RuntimeError(
            f"meterbell {self.command} did not become ready:\n{self.output()[-4000:]}"
        )

    def _arguments(self) -> list[str]:
        if self.command == "worker":
            return ["worker", "--metrics-port", str(self.port), *self.serve_args]
        return ["serve", "--host", LOOPBACK, "--port", str(self.port), *self.serve_args]

    @property
    def _ready_path(self) -> str:
        return "/metrics" if self.command == "worker" else "/ready"

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(f"{self.base_url}{self._ready_path}", timeout=2) as response,
            ):
                if response.status == 200:
                    return True
            time.sleep(POLL_INTERVAL_S)
        self.stop()
        raise RuntimeError(f"/ready did not answer within {START_TIMEOUT_S}s:\n{self.output()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_S)

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def meterbell_server(
    *,
    env: Mapping[str, str] | None = None,
    database_url: str | None = None,
    serve_args: Sequence[str] = (),
    wrapper: Sequence[str] = (),
    keep_log: bool = True,
) -> Iterator[Server]:
    """A started `meterbell serve` on a temporary data folder (SQLite there unless
    `database_url`), with webhooks to loopback receivers allowed; stopped and the folder
    removed on exit. On an error inside the block, the tail of the server's log goes to
    stderr (unless `keep_log` is False)."""
    tmp = Path(tempfile.mkdtemp(prefix="mb-bench-"))
    server = Server(
        tmp / "data",
        database_url=database_url,
        env={"MB_WEBHOOK_ALLOW_PRIVATE": "true", **(env or {})},
        serve_args=serve_args,
        wrapper=wrapper,
    )
    try:
        with server:
            try:
                yield server
            except BaseException:
                if keep_log:
                    print(f"--- server log (tail) ---\n{server.output()[-4000:]}", file=sys.stderr)
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- a webhook receiver in its own process -------------------------------------------------------


def delivery_id(_body: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    """The default receiver key: the run's delivery id (the same on every attempt)."""
    return headers.get("X-m3ter-delivery-id", "")


KeyOf = Callable[[Mapping[str, Any], Mapping[str, str]], str]


def _serve_receiver(port: int, key_of: KeyOf) -> None:
    from aiohttp import web

    arrivals: dict[str, float] = {}
    repeats = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal repeats
        body = await request.read()
        arrived = time.time()
        key = key_of(json.loads(body), request.headers)
        if key in arrivals:
            repeats += 1
        else:
            arrivals[key] = arrived
        return web.Response(text="ok")

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(arrivals)

    async def repeated(_request: web.Request) -> web.Response:
        return web.json_response(repeats)

    app = web.Application()
    app.router.add_post("/hook/{name}", hook)
    app.router.add_get("/stats", stats)
    app.router.add_get("/repeats", repeated)
    web.run_app(app, host=LOOPBACK, port=port, print=None, access_log=None)


class Receiver:
    """A webhook receiver in a process of its own (so it does not share a core with the
    load generator): every POST to `url(name)` answers 200 and records the wall-clock time
    (`time.time()`) of its first arrival under `key_of(body, headers)`, a module-level
    function. `arrivals()` returns them all; `repeats()` counts the requests whose key had
    already arrived (with a receiver that always answers 200, duplicate deliveries)."""

    def __init__(self, key_of: KeyOf = delivery_id) -> None:
        self.port = free_port()
        self._process = multiprocessing.Process(
            target=_serve_receiver, args=(self.port, key_of), daemon=True
        )

    def url(self, name: str) -> str:
        return f"http://{LOOPBACK}:{self.port}/hook/{name}"

    def start(self) -> None:
        self._process.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                self.arrivals()
                return
            time.sleep(POLL_INTERVAL_S)
        raise RuntimeError("the webhook receiver did not start")

    def arrivals(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{self.port}/stats", timeout=30) as r:
            data: dict[str, float] = json.loads(r.read())
        return data

    def repeats(self) -> int:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{self.port}/repeats", timeout=30) as r:
            count: int = json.loads(r.read())
        return count

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(STOP_TIMEOUT_S)

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
