"""The WAL checkpointer on a real SQLite file: it copies committed pages back into the
database file off the writers' thread, asks for a restart once the log grows, restarts or
truncates the log when no reader holds it, and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from meterbell import cancelling
from meterbell.metrics import REGISTRY
from meterbell.store.db import Database
from meterbell.store.sqlite_inline import TRUNCATE_WAL_BYTES, WalCheckpointer, checkpoint
from tests.e2e.server import eventually


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[str, sqlite3.Connection]]:
    path = str(tmp_path / "store.db")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # as meterbell's connections run
    writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    yield path, writer
    writer.close()


def write_rows(writer: sqlite3.Connection, count: int, size: int = 3000) -> None:
    writer.execute("BEGIN")
    writer.executemany("INSERT INTO t (body) VALUES (?)", [("x" * size,) for _ in range(count)])
    writer.execute("COMMIT")


def rows_in_file_alone(path: str, tmp: Path) -> int:
    """Rows the database file holds without its log (a copy of the file alone; -1 when the
    copy caught a checkpoint half-way)."""
    copy = tmp / f"copy-{time.monotonic_ns()}.db"
    shutil.copyfile(path, copy)
    try:
        with sqlite3.connect(copy) as conn:
            tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'").fetchone()
            return int(conn.execute("SELECT count(*) FROM t").fetchone()[0]) if tables[0] else 0
    except sqlite3.DatabaseError:
        return -1


def log_frames(path: str) -> int:
    with sqlite3.connect(path) as conn:
        return checkpoint(conn, "PASSIVE")[1]


def test_committed_pages_reach_the_database_file(
    database: tuple[str, sqlite3.Connection], tmp_path: Path
) -> None:
    path, writer = database
    checkpointer = WalCheckpointer(path, interval_s=0.01)
    checkpointer.start()
    try:
        assert checkpointer.running
        write_rows(writer, 50)
        eventually(lambda: rows_in_file_alone(path, tmp_path) == 50)
        write_rows(writer, 25)
        eventually(lambda: rows_in_file_alone(path, tmp_path) == 75)
    finally:
        checkpointer.stop()
    assert not checkpointer.running


def test_the_pages_a_passive_checkpoint_copies_are_synced_through_sqlites_own_descriptor(
    database: tuple[str, sqlite3.Connection],
) -> None:
    path, writer = database
    checkpointer = WalCheckpointer(path, interval_s=0.01)
    checkpointer.start()
    try:
        fd = checkpointer._database_fd
        assert fd is not None
        assert os.readlink(f"/proc/self/fd/{fd}") == os.path.realpath(path)
        write_rows(writer, 30)
        eventually(lambda: checkpointer._synced_frames > 0)
    finally:
        checkpointer.stop()
    assert checkpointer._database_fd is None  # SQLite closes it, with the connection


@pytest.mark.parametrize(
    ("truncate_bytes", "truncated"),
    [(1, True), (TRUNCATE_WAL_BYTES, False)],
    ids=["huge-log-truncated", "log-copied-and-kept"],
)
def test_a_grown_log_is_restarted_by_the_next_writer(
    database: tuple[str, sqlite3.Connection], truncate_bytes: int, truncated: bool
) -> None:
    """A restart copies the log without waiting for readers merely open; the next writer
    starts the log again. Past truncate_bytes, the file is emptied too."""
    path, writer = database
    checkpointer = WalCheckpointer(
        path, interval_s=0.01, restart_frames=20, truncate_bytes=truncate_bytes
    )
    checkpointer.start()
    idle_reader = sqlite3.connect(path, isolation_level=None)  # open, in no transaction
    try:
        write_rows(writer, 100)
        eventually(lambda: checkpointer.restart_wanted)
        grown = log_frames(path)
        assert checkpointer.restart() is True
        assert not checkpointer.restart_wanted
        assert (os.path.getsize(f"{path}-wal") == 0) is truncated
        write_rows(writer, 1, size=10)
        assert log_frames(path) < 5 < grown  # the next writer started the log again
        eventually(lambda: checkpointer._restart_above == checkpointer.restart_frames)
    finally:
        idle_reader.close()
        checkpointer.stop()


def test_a_restart_gives_up_while_a_reader_keeps_pages_in_the_log(
    database: tuple[str, sqlite3.Connection],
) -> None:
    path, writer = database
    checkpointer = WalCheckpointer(path, interval_s=0.01, restart_wait_s=0.05)
    checkpointer.start()
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        write_rows(writer, 10)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (10,)
        write_rows(writer, 10)  # after the reader's snapshot: it must stay in the log
        assert checkpointer.restart() is False
        reader.execute("COMMIT")
        assert checkpointer.restart() is True
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (20,)
    finally:
        reader.close()
        checkpointer.stop()


def test_start_is_idempotent_and_a_stopped_checkpointer_does_nothing(
    database: tuple[str, sqlite3.Connection],
) -> None:
    path, _writer = database
    checkpointer = WalCheckpointer(path, interval_s=0.01)
    before = set(threading.enumerate())
    checkpointer.start()
    checkpointer.start()
    [thread] = set(threading.enumerate()) - before
    checkpointer.stop()
    assert not thread.is_alive()
    checkpointer.stop()
    assert checkpointer.restart() is False


SHM_DEAD_MAN_SWITCH_BYTE = 128  # SQLite's unix VFS: the lock that says "the index is in use"

DMS_IS_FREE = """
import fcntl, sys
with open(sys.argv[1], "r+b") as index:
    try:
        fcntl.lockf(index, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, int(sys.argv[2]))
    except OSError:
        print("held")
    else:
        print("free")
"""


def test_watching_the_log_keeps_this_processs_locks_on_the_wal_index(
    database: tuple[str, sqlite3.Connection], tmp_path: Path
) -> None:
    """Closing any descriptor of a file drops every POSIX lock the process holds on it. Had
    the checkpointer opened and closed the `-shm` file to watch for commits, the next process
    to open the store would find it unlocked, reset the index under this process's mapping
    of it, and the server would die of SIGBUS."""
    path, writer = database
    checkpointer = WalCheckpointer(path, interval_s=0.01)
    checkpointer.start()
    try:
        write_rows(writer, 50)
        eventually(lambda: rows_in_file_alone(path, tmp_path) == 50)
        write_rows(writer, 5)
        eventually(lambda: rows_in_file_alone(path, tmp_path) == 55)
        probe = subprocess.run(
            [sys.executable, "-c", DMS_IS_FREE, f"{path}-shm", str(SHM_DEAD_MAN_SWITCH_BYTE)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert probe.stdout.strip() == "held"
    finally:
        checkpointer.stop()


async def test_the_time_writers_wait_for_a_log_restart_is_measured(tmp_path: Path) -> None:
    path = tmp_path / "measured.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    restarts = "meterbell_sqlite_log_restart_seconds_count"
    before = REGISTRY.get_sample_value(restarts) or 0.0
    db._checkpointer = WalCheckpointer(str(path), interval_s=0.01, restart_frames=20)
    try:
        async with db.write() as conn:
            await conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
        deadline = time.monotonic() + 10
        while (REGISTRY.get_sample_value(restarts) or 0.0) == before:
            assert time.monotonic() < deadline, "no log restart was timed"
            async with db.write() as conn:
                await conn.exec_driver_sql("INSERT INTO t VALUES (?)", ("x" * 3000,))
    finally:
        db._checkpointer.stop()
        await db.dispose()
    assert (REGISTRY.get_sample_value("meterbell_sqlite_log_restart_seconds_sum") or 0) > 0


async def test_an_off_loop_write_runs_its_statements_on_a_thread_while_the_loop_serves_others(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'off_loop.db'}")
    loop_ran = threading.Event()

    def thread_that_waited_for_the_loop() -> int:
        """Runs inside the statement: blocks until the event loop has run a callback."""
        return threading.get_ident() if loop_ran.wait(timeout=10) else 0

    try:
        async with db.write(off_loop=True) as conn:
            raw = (await conn.get_raw_connection()).driver_connection._connection
            raw.create_function("waited", 0, thread_that_waited_for_the_loop)
            asyncio.get_running_loop().call_soon(loop_ran.set)
            ran_on = (await conn.exec_driver_sql("SELECT waited()")).scalar()
        assert ran_on not in (0, threading.get_ident())
        async with db.write() as conn:  # the next write runs inline again
            raw.create_function("here", 0, threading.get_ident)
            assert (await conn.exec_driver_sql("SELECT here()")).scalar() == threading.get_ident()
    finally:
        await db.dispose()


async def test_a_cancelled_uninterrupted_off_loop_write_commits_then_is_cancelled(
    tmp_path: Path,
) -> None:
    """As retention runs its batches: the cancellation waits for the statement on the worker
    thread (the connection never serves two threads at once) and for the commit."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cancelled.db'}")
    entered, release = threading.Event(), threading.Event()

    def blocker() -> int:
        entered.set()
        return int(release.wait(timeout=10))

    async def batch() -> None:
        async with db.write(off_loop=True) as conn:
            raw = (await conn.get_raw_connection()).driver_connection._connection
            raw.create_function("blocker", 0, blocker)
            await conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            await conn.exec_driver_sql("INSERT INTO t SELECT blocker()")

    try:
        task = asyncio.create_task(cancelling.uninterrupted(batch()))
        assert await asyncio.to_thread(entered.wait, 10)
        task.cancel()
        for _ in range(20):
            await asyncio.sleep(0)  # let the cancellation reach the task
        assert not task.done()  # still waiting for the statement
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with db.write() as conn:
            assert (await conn.exec_driver_sql("SELECT id FROM t")).scalars().all() == [1]
    finally:
        release.set()
        await db.dispose()
