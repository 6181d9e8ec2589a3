"""Wake-ups: how the API tells the workers there is work now rather than at their next poll.

Within a process a wake-up is an `asyncio.Event` a worker loop waits on. On PostgreSQL each
process also relays the wake-ups it raises to the others (`NOTIFY meterbell_wakeups`) and, if it
runs workers, listens for theirs (`LISTEN`): a `meterbell worker` starts on an event
milliseconds after a `serve --no-workers` process committed it, not up to MB_WORKER_POLL_S
later. Relaying is best effort. While the relay's connection is down nothing is relayed and the
workers fall back to polling; when it is back, every local loop is woken once, in case a
wake-up was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from enum import StrEnum
from uuid import uuid4

import asyncpg
import structlog
from sqlalchemy import make_url

from meterbell import cancelling

log = structlog.get_logger(__name__)

CHANNEL = "meterbell_wakeups"
APPLICATION_NAME = "meterbell-wakeups"
CONNECT_TIMEOUT_S = 10.0
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 30.0
# An idle relay checks its connection this often (and so notices a silent loss).
KEEPALIVE_S = 30.0
# At most one NOTIFY per kind in this interval: a burst of API calls costs the store a few
# notifications, not one per call (the workers are busy during a burst anyway).
MIN_NOTIFY_GAP_S = 0.005
CLOSE_TIMEOUT_S = 2.0
# On stop, wake-ups not yet sent (runs handed back by stopping workers) get this long to go out.
DRAIN_TIMEOUT_S = 2.0

_CONNECTION_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def plain_dsn(database_url: str) -> str:
    """The store's URL as asyncpg takes it (without SQLAlchemy's driver name)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class Wakeup(StrEnum):
    EVENTS_WRITTEN = "events_written"
    RUNS_DUE = "runs_due"
    MEASUREMENTS_RECEIVED = "measurements_received"
    EXPORTS_QUEUED = "exports_queued"


_KINDS = frozenset(kind.value for kind in Wakeup)


class Wakeups:
    """One event per kind of wake-up; `set` wakes this process's loops and, once a relay is
    started (`start_relay`), the other processes' too."""

    def __init__(self) -> None:
        self._events = {kind: asyncio.Event() for kind in Wakeup}
        self._relay: PostgresRelay | None = None
        self._raised: set[Wakeup] = set()

    def __getitem__(self, kind: Wakeup) -> asyncio.Event:
        return self._events[kind]

    def set(self, kind: Wakeup) -> None:
        self._wake_here(kind)
        self._raised.add(kind)
        if self._relay is not None:
            self._relay.announce(kind)

    async def announce_once(self, database_url: str) -> None:
        """Tell the other processes, over a connection of its own, every kind of wake-up this
        process has raised: for a process that runs no relay (a CLI command), as it ends."""
        if not (self._raised and database_url.startswith("postgresql")):
            return
        conn = await asyncpg.connect(plain_dsn(database_url), timeout=CONNECT_TIMEOUT_S)
        try:
            for kind in sorted(self._raised):
                await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{kind} {uuid4().hex}")
        finally:
            await conn.close(timeout=CLOSE_TIMEOUT_S)

    def _wake_here(self, kind: Wakeup) -> None:
        self._events[kind].set()

    def wake_all(self) -> None:
        for wake in self._events.values():
            wake.set()

    def start_relay(self, database_url: str, *, listen: bool) -> None:
        """Relay through the store if it is PostgreSQL (SQLite has one process: nobody to
        tell); `listen` for the others' wake-ups too (processes that run workers)."""
        if not database_url.startswith("postgresql"):
            return
        self._relay = PostgresRelay(
            database_url,
            on_wakeup=self._wake_here if listen else None,
            on_connected=self.wake_all if listen else None,
        )
        self._relay.start()

    async def stop_relay(self) -> None:
        relay, self._relay = self._relay, None
        if relay is not None:
            await relay.stop()


class PostgresRelay:
    """One connection of its own that sends this process's wake-ups and receives the others'.

    A notification's payload is `<kind> <sender>`; a relay ignores its own.
    """

    def __init__(
        self,
        database_url: str,
        *,
        on_wakeup: Callable[[Wakeup], None] | None,
        on_connected: Callable[[], None] | None,
    ) -> None:
        self.dsn = plain_dsn(database_url)
        self.sender = uuid4().hex
        self.on_wakeup = on_wakeup
        self.on_connected = on_connected
        self._pending: set[Wakeup] = set()
        self._work = asyncio.Event()
        self._drained = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def announce(self, kind: Wakeup) -> None:
        self._pending.add(kind)
        self._drained.clear()
        self._work.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run_forever(), name="wakeup-relay")

    async def stop(self) -> None:
        """Close the connection, once what is pending is sent (waiting DRAIN_TIMEOUT_S at most)."""
        if self._pending:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN_TIMEOUT_S):
                    await self._drained.wait()
        task, self._task = self._task, None
        if task is not None:
            await cancelling.stop(task)

    async def _run_forever(self) -> None:
        retry_in = RECONNECT_FIRST_S
        while True:
            try:
                conn = await asyncpg.connect(
                    self.dsn,
                    timeout=CONNECT_TIMEOUT_S,
                    server_settings={"application_name": APPLICATION_NAME},
                )
            except _CONNECTION_ERRORS as exc:
                log.warning("wake-up relay cannot connect", error=str(exc), retry_in_s=retry_in)
                await asyncio.sleep(retry_in)
                retry_in = min(retry_in * 2, RECONNECT_MAX_S)
                continue
            retry_in = RECONNECT_FIRST_S
            try:
                await self._serve(conn)
            except _CONNECTION_ERRORS as exc:
                if cancelling.being_cancelled():
                    raise asyncio.CancelledError from exc
                log.warning("wake-up relay lost its connection", error=str(exc))
            finally:
                with contextlib.suppress(*_CONNECTION_ERRORS):
                    await conn.close(timeout=CLOSE_TIMEOUT_S)

    async def _serve(self, conn: asyncpg.Connection) -> None:
        conn.add_termination_listener(lambda _conn: self._work.set())
        if self.on_wakeup is not None:
            await conn.add_listener(CHANNEL, self._received)
        log.info("wake-up relay connected", channel=CHANNEL, listening=self.on_wakeup is not None)
        if self.on_connected is not None:
            self.on_connected()
        while True:
            try:
                # asyncio.timeout, not wait_for: see workers/loop.py `_idle`.
                async with asyncio.timeout(KEEPALIVE_S):
                    await self._work.wait()
            except TimeoutError:
                await conn.execute("SELECT 1")
                continue
            if conn.is_closed():
                raise ConnectionResetError("the store closed the connection")
            self._work.clear()
            await self._send_pending(conn)
            await asyncio.sleep(MIN_NOTIFY_GAP_S)

    async def _send_pending(self, conn: asyncpg.Connection) -> None:
        kinds, self._pending = self._pending, set()
        for kind in sorted(kinds):
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{kind} {self.sender}")
        if not self._pending:
            self._drained.set()

    def _received(
        self,
        _conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
        _pid: int,
        _channel: str,
        payload: object,
    ) -> None:
        kind, _, sender = str(payload).partition(" ")
        if sender == self.sender or kind not in _KINDS:
            return
        if self.on_wakeup is not None:
            self.on_wakeup(Wakeup(kind))
