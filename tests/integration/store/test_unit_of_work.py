"""A write transaction is a unit of work: what its writes register runs once it commits,
and never after a rollback."""

from __future__ import annotations

import uuid

import pytest

from meterbell.domain.clock import utcnow
from meterbell.store import events as event_store
from meterbell.store.db import Database, after_commit, wake_after_commit
from meterbell.store.events import EventRow
from meterbell.store.wakeups import Wakeup


class Rollback(Exception):
    pass


def event(org_id: str) -> EventRow:
    return EventRow(
        id=str(uuid.uuid4()),
        org_id=org_id,
        event_name="configuration.product.created",
        category="Configuration",
        event_time=utcnow(),
        m3ter_event={"eventData": {"newDto": {}}},
    )


async def test_actions_and_wakeups_run_once_committed(db: Database) -> None:
    ran: list[str] = []
    woken = db.wakeups[Wakeup.EXPORTS_QUEUED]
    woken.clear()
    async with db.write() as conn:
        after_commit(conn, lambda: ran.append("first"))
        after_commit(conn, lambda: ran.append("second"))
        wake_after_commit(conn, Wakeup.EXPORTS_QUEUED)
        assert ran == []  # not while the transaction is open
        assert not woken.is_set()
    assert ran == ["first", "second"]
    assert woken.is_set()


async def test_a_rolled_back_transaction_runs_nothing(db: Database) -> None:
    ran: list[str] = []
    woken = db.wakeups[Wakeup.EVENTS_WRITTEN]
    woken.clear()

    async def write_then_fail() -> None:
        async with db.write() as conn:
            await event_store.insert_events(conn, [event(str(uuid.uuid4()))])
            after_commit(conn, lambda: ran.append("action"))
            raise Rollback

    with pytest.raises(Rollback):
        await write_then_fail()
    assert ran == []
    assert not woken.is_set()


async def test_writing_undispatched_events_wakes_the_dispatcher(db: Database) -> None:
    woken = db.wakeups[Wakeup.EVENTS_WRITTEN]
    woken.clear()
    async with db.write() as conn:
        await event_store.insert_events(conn, [])
    assert not woken.is_set()
    async with db.write() as conn:
        await event_store.insert_events(conn, [event(str(uuid.uuid4()))])
    assert woken.is_set()


async def test_after_commit_work_needs_a_write_transaction(db: Database) -> None:
    async with db.read() as conn:
        with pytest.raises(RuntimeError, match=r"Database\.write"):
            after_commit(conn, lambda: None)
