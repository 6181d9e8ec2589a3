"""aiosqlite's interface, with every call run directly on the event loop's thread.

aiosqlite hands each call to a worker thread and waits for the answer. A SQLite statement on
a local file takes microseconds, less than that round trip, and the hand-offs serialise on
the GIL anyway; running the calls inline roughly halves the cost of a transaction. The
price: a statement that must wait for another *process's* write lock blocks the event loop
for that wait (bounded by busy_timeout). Within one process, writers already queue on
`Database`'s lock before they begin.

Checkpoints (copying the write-ahead log back into the database file) are not run by
commits either: see `WalCheckpointer`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite
import structlog

log = structlog.get_logger(__name__)

CURSOR_CHUNK = 256
CHECKPOINT_INTERVAL_S = 0.1
RESTART_WAL_FRAMES = 8192  # pages: 32 MiB of 4 KiB pages
TRUNCATE_WAL_BYTES = 128 * 1024 * 1024
RESTART_WAIT_S = 0.05


class InlineConnection(aiosqlite.Connection):
    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, CURSOR_CHUNK)

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _open(self) -> InlineConnection:
        self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._open().__await__()

    def execute_now(self, sql: str) -> None:
        """Run a statement that returns no rows (BEGIN) synchronously, from SQLAlchemy's
        synchronous side, without the round trip through the async adapter."""
        if self._connection is None:
            raise ValueError("Connection closed")
        self._connection.execute(sql).close()

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.stop()


def inline_creator(path: str) -> Callable[[], Any]:
    """An `async_creator` for SQLAlchemy's aiosqlite dialect."""

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(path, check_same_thread=False, isolation_level=None)

    async def create() -> InlineConnection:
        return await InlineConnection(connect)

    return create


class WalCheckpointer:
    """Checkpoints one SQLite file in WAL mode from a thread and a connection of its own.

    With SQLite's automatic checkpoints, the commit that takes the log past 1000 pages copies
    them into the database file and syncs it, on the event loop's thread: 15 to 30 ms in
    which nothing else runs, every few hundred updates. Connections therefore run with
    `wal_autocheckpoint=0`, and:

    - this thread runs a PASSIVE checkpoint whenever the log has grown (at most every
      `interval_s`): SQLite copies the pages without holding the GIL, never waiting for nor
      blocking readers and writers. It does the bulk of the work, but with writers appending
      all the time it seldom finds the log fully copied, and only then can a writer start the
      log again from the beginning;
    - so once the log holds more than `restart_frames` pages, `restart_wanted` asks the
      `Database` for a quiet moment: it holds its writers back (the event loop keeps running)
      and calls `restart()` on a worker thread: a RESTART checkpoint copies what the last
      PASSIVE one left, syncs, and makes the next writer start the log from the beginning
      (5 to 15 ms; TRUNCATE, which also empties the file, when it grew past `truncate_bytes`).
      It waits at most `restart_wait_s` for readers; if they hold on longer, it gives up and
      asks again when the log has grown as much again.
    """

    def __init__(
        self,
        path: str,
        *,
        interval_s: float = CHECKPOINT_INTERVAL_S,
        restart_frames: int = RESTART_WAL_FRAMES,
        truncate_bytes: int = TRUNCATE_WAL_BYTES,
        restart_wait_s: float = RESTART_WAIT_S,
    ) -> None:
        self.path = path
        self.wal_path = f"{path}-wal"
        self.interval_s = interval_s
        self.restart_frames = restart_frames
        self.truncate_bytes = truncate_bytes
        self.restart_wait_s = restart_wait_s
        self.restart_wanted = False
        self._restart_above = restart_frames
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards the connection and the thread
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start the thread (once; later calls do nothing until `stop`)."""
        with self._lock:
            if self._thread is not None:
                return
            self._conn = sqlite3.connect(
                self.path,
                timeout=self.restart_wait_s,
                isolation_level=None,
                check_same_thread=False,
            )
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="sqlite-wal-checkpointer", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (a checkpoint in progress finishes first)."""
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        self.restart_wanted = False

    def restart(self) -> bool:
        """Copy the whole log and have the next writer start it again; call it while no
        writer of this process is in a transaction (it blocks new ones). False when readers
        held on too long."""
        with self._lock:
            self.restart_wanted = False
            if self._conn is None:
                return False
            try:
                size = os.stat(self.wal_path).st_size
                mode = "TRUNCATE" if size > self.truncate_bytes else "RESTART"
                busy, _frames, _copied = checkpoint(self._conn, mode)
            except (OSError, sqlite3.Error) as exc:
                log.warning("WAL checkpoint failed", path=self.path, error=str(exc))
                busy = 1
        if busy:
            self._restart_above += self.restart_frames
            return False
        self._restart_above = self.restart_frames
        return True

    def _run(self) -> None:
        last_seen: int | None = None
        while not self._stop.wait(self.interval_s):
            if self.restart_wanted:
                continue  # a restart is on its way
            with self._lock:
                if self._conn is None:
                    return
                try:
                    seen = _committed_version(self._conn)
                    if seen == last_seen:
                        continue  # nothing written since the last pass
                    _busy, frames, copied = checkpoint(self._conn, "PASSIVE")
                except sqlite3.Error as exc:  # tried again at the next tick
                    log.warning("WAL checkpoint failed", path=self.path, error=str(exc))
                    continue
            if copied == frames:  # else a reader held some back: try again at the next tick
                last_seen = seen
            if frames > self._restart_above:
                self.restart_wanted = True


def _committed_version(conn: sqlite3.Connection) -> int:
    """A number that changes with every commit of another connection, once readers can see
    it. (Not the `-shm` file's header read with `open()`: closing any descriptor of a file
    drops all the POSIX locks this process holds on it, SQLite's included, and the next
    process to open the store would then reset the index under this one's mapping of it.)"""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def checkpoint(conn: sqlite3.Connection, mode: str) -> tuple[int, int, int]:
    """Run `PRAGMA wal_checkpoint(mode)`: (busy, frames in the log, frames checkpointed)."""
    busy, frames, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return int(busy), int(frames), int(copied)
