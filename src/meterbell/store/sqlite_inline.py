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

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite
import structlog

from meterbell.cancelling import uninterrupted

log = structlog.get_logger(__name__)

CURSOR_CHUNK = 256
CHECKPOINT_INTERVAL_S = 0.1
RESTART_WAL_FRAMES = 8192  # pages: 32 MiB of 4 KiB pages
TRUNCATE_WAL_BYTES = 128 * 1024 * 1024
RESTART_WAIT_S = 0.05
PROC_FDS = "/proc/self/fd"


class InlineConnection(aiosqlite.Connection):
    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, CURSOR_CHUNK)
        # While set, calls run on a worker thread instead (see `Database.write(off_loop=)`).
        self.off_loop = False

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._connection is None:
            raise ValueError("Connection closed")
        if self.off_loop:
            # Cancelled meanwhile, the statement still ends before the cancellation goes on:
            # the connection must not serve two threads at once.
            return await uninterrupted(asyncio.to_thread(fn, *args, **kwargs))
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
      and calls `restart()` on a worker thread. A PASSIVE checkpoint copies the few pages
      written since the last one; once the log is fully copied, the next writer starts it
      again from the beginning (SQLite does that itself, if no reader is still in the log).
      Not a RESTART checkpoint: that also waits for every reader to leave the log, sleeping
      1, 2, 5, 10 ms between looks, and writers waited 20 to 35 ms for it on a 2 GB store.
      A reader holding an older snapshot keeps its pages in the log: the restart gives up
      and asks again when the log has grown as much again. When the log file has grown past
      `truncate_bytes`, a TRUNCATE checkpoint (waiting at most `restart_wait_s` for readers)
      also empties the file.
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
        self._database_fd: int | None = None  # SQLite's, of self._conn: never closed here
        self._synced_frames = 0
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start the thread (once; later calls do nothing until `stop`)."""
        with self._lock:
            if self._thread is not None:
                return
            before = _descriptors_of(self.path)
            self._conn = sqlite3.connect(
                self.path,
                timeout=self.restart_wait_s,
                isolation_level=None,
                check_same_thread=False,
            )
            self._database_fd = _only(_descriptors_of(self.path) - before)
            self._synced_frames = 0
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
                self._database_fd = None
        self.restart_wanted = False

    def restart(self) -> bool:
        """Copy the whole log, so that the next writer starts it again; call it while no
        writer of this process is in a transaction (it blocks new ones). False when a reader
        kept pages in the log."""
        with self._lock:
            self.restart_wanted = False
            if self._conn is None:
                return False
            try:
                size = os.stat(self.wal_path).st_size
                mode = "TRUNCATE" if size > self.truncate_bytes else "PASSIVE"
                busy, frames, copied = checkpoint(self._conn, mode)
            except (OSError, sqlite3.Error) as exc:
                log.warning("WAL checkpoint failed", path=self.path, error=str(exc))
                return False
            finally:
                # Asked again only when the log has grown as much again, unless it starts
                # again meanwhile (see `_run`).
                self._restart_above += self.restart_frames
        return not busy and copied == frames

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
            self._sync_database_file(copied)  # outside the lock: a restart need not wait
            if copied == frames:  # else a reader held some back: try again at the next tick
                last_seen = seen
            if frames <= self.restart_frames:  # the log started again
                self._restart_above = self.restart_frames
            elif frames > self._restart_above:
                self.restart_wanted = True

    def _sync_database_file(self, copied: int) -> None:
        """Sync the pages a PASSIVE checkpoint copied. SQLite syncs the database file only
        after a checkpoint that finds nothing left to copy when it ends, which writers
        appending all the time seldom allow: the pages would stay unsynced until the
        restart, and writers would wait for that sync (20 to 35 ms on a 2 GB store)."""
        if self._database_fd is None or copied == self._synced_frames:
            return
        try:
            os.fsync(self._database_fd)
        except OSError as exc:
            log.warning("syncing the database file failed", path=self.path, error=str(exc))
        self._synced_frames = copied


def _descriptors_of(path: str) -> set[int]:
    """This process's open descriptors of `path` (empty where /proc cannot tell: not Linux)."""
    target = os.path.realpath(path)
    found = set()
    with contextlib.suppress(OSError):
        for name in os.listdir(PROC_FDS):
            with contextlib.suppress(OSError):
                if os.readlink(f"{PROC_FDS}/{name}") == target:
                    found.add(int(name))
    return found


def _only(descriptors: set[int]) -> int | None:
    """The descriptor SQLite opened for a new connection to the database file, found in
    /proc (Python's sqlite3 does not give it). Opening one of our own would not do: closing
    it would drop every POSIX lock this process holds on the file, SQLite's included. None
    if it cannot be told (not Linux, or another thread opened the file at the same moment)."""
    return next(iter(descriptors)) if len(descriptors) == 1 else None


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
