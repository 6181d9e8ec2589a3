"""The database handle: one async engine, read and write transactions, for SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import event, make_url
from sqlalchemy.engine import Connection as SyncConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from meterbell.metrics import SQLITE_LOG_RESTART_SECONDS
from meterbell.store.sqlite_inline import InlineConnection, WalCheckpointer, inline_creator
from meterbell.store.wakeups import Wakeup, Wakeups

# Checkpoints run on a thread of their own (WalCheckpointer), never inside a commit.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA wal_autocheckpoint=0",
)
IDLE_SQLITE_READERS = 4
# No pre-ping (a round trip per checkout): a connection a restarted server dropped fails the
# one statement that finds it, which invalidates every connection the pool held before it;
# connections are replaced after 30 minutes in case something on the way drops idle ones.
POSTGRES_RECYCLE_S = 1800


UNIT_OF_WORK = "meterbell.unit_of_work"


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass
class UnitOfWork:
    """What must happen once a write transaction has committed, and only then: the wake-ups
    its writes call for (the dispatcher for new events, the deliverer for queued runs…) and
    other actions (updating a cache). A transaction that rolls back runs none of them."""

    wakeups: set[Wakeup] = field(default_factory=set)
    actions: list[Callable[[], None]] = field(default_factory=list)


def _unit_of(conn: AsyncConnection) -> UnitOfWork:
    unit = conn.info.get(UNIT_OF_WORK)
    if not isinstance(unit, UnitOfWork):
        raise RuntimeError("after-commit work needs a transaction opened by Database.write()")
    return unit


def wake_after_commit(conn: AsyncConnection, kind: Wakeup) -> None:
    """Wake the workers waiting for `kind` (in every process) once this transaction commits."""
    _unit_of(conn).wakeups.add(kind)


def after_commit(conn: AsyncConnection, action: Callable[[], None]) -> None:
    """Run `action` once this write transaction has committed (never after a rollback)."""
    _unit_of(conn).actions.append(action)


class Database:
    """Owns the engine. `read()` and `write()` each yield a connection inside one transaction.

    SQLite allows one writer at a time: writers in this process queue on a lock and take the
    write lock up front (`BEGIN IMMEDIATE`), so a transaction never fails half-way on upgrade.
    A process that writes to a SQLite file also checkpoints it, off the event loop's thread
    (`WalCheckpointer`, started by the first `write()` and stopped by `dispose()`); now and
    then a writer waits, before it begins, while the log is emptied.

    Each write transaction is a unit of work (`UnitOfWork`): what its writes register with
    `wake_after_commit` and `after_commit` runs once it has committed. `wakeups` are this
    process's (and, relayed, the other processes') wake-ups of the workers.

    SQLite connections are kept between transactions (the one writes go through, and a few
    idle ones for reads) rather than taken from the pool and returned each time, and BEGIN
    runs directly on the driver: an empty transaction costs a quarter of what it did.
    """

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: AsyncEngine = self._create_engine(url, pool_size)
        self.wakeups = Wakeups()
        self._write_lock = asyncio.Lock()
        self._checkpointer = _checkpointer_for(url) if self.is_sqlite else None
        # SQLite: the one connection writes go through (and its driver), open connections
        # for reads.
        self._writer: tuple[AsyncConnection, InlineConnection] | None = None
        self._idle_readers: list[AsyncConnection] = []

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _create_engine(self, url: str, pool_size: int) -> AsyncEngine:
        if self.is_sqlite:
            engine = create_async_engine(
                url,
                json_serializer=_dumps,
                json_deserializer=orjson.loads,
                async_creator=inline_creator(str(make_url(url).database)),
            )
            _install_sqlite_hooks(engine)
            return engine
        return create_async_engine(
            url,
            json_serializer=_dumps,
            json_deserializer=orjson.loads,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_recycle=POSTGRES_RECYCLE_S,
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        if not self.is_sqlite:
            async with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        conn = self._idle_readers.pop() if self._idle_readers else await self.engine.connect()
        async with self._kept_transaction(conn, self._keep_reader):
            yield conn

    @asynccontextmanager
    async def write(self, *, off_loop: bool = False) -> AsyncIterator[AsyncConnection]:
        """A write transaction; its after-commit work runs once it has committed.

        `off_loop` (SQLite): its statements run on a worker thread, and the event loop serves
        everything but writes meanwhile. For long statements (retention's batches), where
        the hand-over costs little beside them; other writers wait for the lock as ever."""
        unit = UnitOfWork()
        async with self._write_transaction(off_loop) as conn:
            conn.info[UNIT_OF_WORK] = unit
            try:
                yield conn
            finally:
                del conn.info[UNIT_OF_WORK]
        for kind in unit.wakeups:
            self.wakeups.set(kind)
        for action in unit.actions:
            action()

    @asynccontextmanager
    async def _write_transaction(self, off_loop: bool) -> AsyncIterator[AsyncConnection]:
        if not self.is_sqlite:
            async with self.engine.begin() as conn:
                yield conn
            return
        checkpointer = self._checkpointer
        if checkpointer is not None and not checkpointer.running:
            checkpointer.start()
        async with self._write_lock:
            if checkpointer is not None and checkpointer.restart_wanted:
                with SQLITE_LOG_RESTART_SECONDS.time():
                    await asyncio.to_thread(checkpointer.restart)  # the loop runs on meanwhile
            writer, driver = await self._the_writer()
            driver.off_loop = off_loop
            try:
                async with self._kept_transaction(writer, lambda _conn: True):
                    yield writer
            finally:
                driver.off_loop = False

    async def _the_writer(self) -> tuple[AsyncConnection, InlineConnection]:
        if self._writer is None or self._writer[0].closed:
            conn = await self.engine.connect()
            await conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            driver = (await conn.get_raw_connection()).driver_connection
            assert isinstance(driver, InlineConnection)
            self._writer = (conn, driver)
        return self._writer

    def _keep_reader(self, conn: AsyncConnection) -> bool:
        if len(self._idle_readers) >= IDLE_SQLITE_READERS:
            return False
        self._idle_readers.append(conn)
        return True

    @staticmethod
    @asynccontextmanager
    async def _kept_transaction(
        conn: AsyncConnection, keep: Callable[[AsyncConnection], bool]
    ) -> AsyncIterator[None]:
        """A transaction on a SQLite connection kept between transactions: afterwards (also
        after an error in the block, which rolled it back; not after BEGIN failed) `keep`
        may keep it, else it is closed."""
        began = False
        try:
            async with conn.begin():
                began = True
                yield
        finally:
            reusable = began and not (conn.closed or conn.invalidated or conn.in_transaction())
            if not (reusable and keep(conn)):
                await conn.close()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        held, self._idle_readers = self._idle_readers, []
        if self._writer is not None:
            held.append(self._writer[0])
            self._writer = None
        for conn in held:
            await conn.close()  # (a no-op if already closed)
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
        await self.engine.dispose()


def _checkpointer_for(url: str) -> WalCheckpointer | None:
    path = make_url(url).database
    return WalCheckpointer(path) if path and path != ":memory:" else None


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    """BEGIN is ours to choose (SQLAlchemy's recipe): connections are opened in autocommit
    mode (`isolation_level=None`, see sqlite_inline) and each transaction emits its BEGIN."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: SyncConnection) -> None:
        statement = conn.get_execution_options().get("sqlite_begin", "BEGIN")
        driver = conn.connection.driver_connection
        if not isinstance(driver, InlineConnection):
            conn.exec_driver_sql(statement)
            return
        try:  # directly: a third of the cost of an empty transaction through the adapter
            driver.execute_now(statement)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc
