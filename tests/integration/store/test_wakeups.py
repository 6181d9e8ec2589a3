"""Wake-ups relayed between processes through PostgreSQL's LISTEN/NOTIFY.

Each `Wakeups` here stands for one process: its relay has a connection of its own, so two of
them in one test talk through the server exactly as two processes would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from meterbell.config import async_driver_url
from meterbell.store.db import Database
from meterbell.store.wakeups import APPLICATION_NAME, Wakeup, Wakeups
from tests.conftest import POSTGRES_URL, fresh_database_url
from tests.e2e.server import meterbell_env, run_cli_ok

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL, reason="LISTEN/NOTIFY is PostgreSQL's: set MB_TEST_POSTGRES_URL"
)

TIMEOUT_S = 10.0


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with fresh_database_url("postgres") as plain_url:
        assert plain_url is not None
        yield plain_url


@pytest.fixture
async def db(url: str) -> AsyncIterator[Database]:
    database = Database(async_driver_url(url))
    yield database
    await database.dispose()


async def woken(wakeups: Wakeups, *kinds: Wakeup) -> None:
    for kind in kinds:
        async with asyncio.timeout(TIMEOUT_S):
            await wakeups[kind].wait()


def clear(wakeups: Wakeups) -> None:
    for kind in Wakeup:
        wakeups[kind].clear()


async def listening(db: Database) -> Wakeups:
    """A process's wake-ups whose relay is connected: it wakes every loop once it is."""
    wakeups = Wakeups()
    wakeups.start_relay(db.url, listen=True)
    await woken(wakeups, *Wakeup)
    clear(wakeups)
    return wakeups


async def relay_backends(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = $1 AND datname = current_database()",
            APPLICATION_NAME,
        )
        return [row["pid"] for row in rows]
    finally:
        await conn.close()


async def wait_for_backends(url: str, count: int) -> list[int]:
    deadline = asyncio.get_running_loop().time() + TIMEOUT_S
    while len(pids := await relay_backends(url)) != count:
        assert asyncio.get_running_loop().time() < deadline, f"{len(pids)} relays, not {count}"
        await asyncio.sleep(0.02)
    return pids


async def test_a_wakeup_reaches_the_other_process_and_not_its_sender_again(
    db: Database,
) -> None:
    api, worker = await listening(db), await listening(db)
    try:
        api.set(Wakeup.RUNS_DUE)
        assert api[Wakeup.RUNS_DUE].is_set()  # this process's loops at once
        api[Wakeup.RUNS_DUE].clear()  # before the relay has sent anything
        await woken(worker, Wakeup.RUNS_DUE)

        worker.set(Wakeup.EXPORTS_QUEUED)
        await woken(api, Wakeup.EXPORTS_QUEUED)
        # The api's own notification was delivered to it before the worker's: ignored.
        assert not api[Wakeup.RUNS_DUE].is_set()
        assert not worker[Wakeup.EVENTS_WRITTEN].is_set()  # only the kind announced
    finally:
        await api.stop_relay()
        await worker.stop_relay()


async def test_a_process_that_does_not_listen_only_announces(url: str, db: Database) -> None:
    api = Wakeups()
    api.start_relay(db.url, listen=False)
    worker, other = await listening(db), await listening(db)
    try:
        await wait_for_backends(url, 3)
        worker.set(Wakeup.EVENTS_WRITTEN)
        await woken(other, Wakeup.EVENTS_WRITTEN)  # committed: queued for every listener
        api.set(Wakeup.MEASUREMENTS_RECEIVED)
        # The api's connection has passed the worker's notification by the time its own
        # arrives: had it listened, it would have been woken.
        await woken(worker, Wakeup.MEASUREMENTS_RECEIVED)
        assert not api[Wakeup.EVENTS_WRITTEN].is_set()
    finally:
        for wakeups in (api, worker, other):
            await wakeups.stop_relay()


async def test_after_losing_its_connection_a_relay_reconnects_and_wakes_every_loop(
    url: str, db: Database
) -> None:
    api, worker = await listening(db), await listening(db)
    try:
        old = await wait_for_backends(url, 2)
        admin = await asyncpg.connect(url)
        try:
            for pid in old:
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        # Wake-ups may have been missed while it was down: every loop looks for work.
        await woken(worker, *Wakeup)
        await woken(api, *Wakeup)
        clear(worker)
        assert not set(await wait_for_backends(url, 2)) & set(old)

        api.set(Wakeup.EVENTS_WRITTEN)
        await woken(worker, Wakeup.EVENTS_WRITTEN)
    finally:
        await api.stop_relay()
        await worker.stop_relay()


async def test_stopping_a_relay_closes_its_connection(url: str, db: Database) -> None:
    wakeups = await listening(db)
    await wait_for_backends(url, 1)
    await wakeups.stop_relay()
    await wait_for_backends(url, 0)
    wakeups.set(Wakeup.RUNS_DUE)  # still wakes this process's loops
    assert wakeups[Wakeup.RUNS_DUE].is_set()


async def test_a_cli_command_wakes_the_workers_of_running_processes(
    url: str, db: Database, tmp_path: Path
) -> None:
    worker = await listening(db)
    try:
        env = meterbell_env(tmp_path, database_url=url)
        await asyncio.to_thread(run_cli_ok, "orgs", "create", "--name", "From the CLI", env=env)
        await woken(worker, Wakeup.EVENTS_WRITTEN)  # the new organization's events
    finally:
        await worker.stop_relay()
