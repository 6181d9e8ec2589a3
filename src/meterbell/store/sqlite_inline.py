"""aiosqlite's interface, with every call run directly on the event loop's thread.

aiosqlite hands each call to a worker thread and waits for the answer. A SQLite statement on
a local file takes microseconds, less than that round trip, and the hand-offs serialise on
the GIL anyway; running the calls inline roughly halves the cost of a transaction. The
price: a statement that must wait for another *process's* write lock blocks the event loop
for that wait (bounded by busy_timeout). Within one process, writers already queue on
`Database`'s lock before they begin.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite

CURSOR_CHUNK = 256


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
