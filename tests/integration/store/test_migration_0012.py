"""Migration 0012 moves the dispatcher's marks out of `dt_actioned`: every value it held was a
dispatch time, so it becomes `dispatched_at` and `dt_actioned` (a person's mark) starts empty;
events not yet dispatched stay waiting for the dispatcher. And back again on downgrade."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Connection, select, text

from meterbell.config import async_driver_url
from meterbell.domain.clock import as_utc
from meterbell.store.db import Database
from meterbell.store.events import oldest_undispatched_time
from meterbell.store.migrate import alembic_config
from meterbell.store.tables import events
from tests.conftest import StoreInfo, fresh_database_url

DISPATCHED_AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WAITING_SINCE = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


@pytest.fixture
async def empty_db(
    store_info: StoreInfo, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    """A store of the session's kind with no schema yet."""
    async with fresh_database_url(store_info.kind) as url:
        sqlite_file = tmp_path_factory.mktemp("migration") / "meterbell.db"
        database = Database(async_driver_url(url) if url else f"sqlite+aiosqlite:///{sqlite_file}")
        yield database
        await database.dispose()


def _migrate(connection: Connection, direction: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, direction)(config, revision)


async def migrate(db: Database, direction: str, revision: str) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(_migrate, direction, revision)


async def insert_event(db: Database, dt_actioned: datetime | None, at: datetime) -> str:
    event_id = str(uuid.uuid4())
    async with db.write() as conn:
        await conn.execute(
            text(
                "INSERT INTO events (id, org_id, event_name, category, event_time, m3ter_event, "
                "dt_actioned) VALUES (:id, :org, 'configuration.product.created', "
                "'ConfigurationEvent', :at, :payload, :actioned)"
            ),
            {
                "id": event_id,
                "org": str(uuid.uuid4()),
                "at": at,
                "payload": "{}",
                "actioned": dt_actioned,
            },
        )
    return event_id


async def marks(db: Database, event_id: str) -> tuple[datetime | None, datetime | None]:
    """(dispatched_at, dt_actioned) of an event."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(events.c.dispatched_at, events.c.dt_actioned).where(events.c.id == event_id)
            )
        ).one()
    return tuple(as_utc(v) if v else None for v in row)  # type: ignore[return-value]


async def test_dispatch_times_move_to_dispatched_at_and_back(empty_db: Database) -> None:
    await migrate(empty_db, "upgrade", "0011_alerts")
    dispatched = await insert_event(empty_db, DISPATCHED_AT, DISPATCHED_AT)
    waiting = await insert_event(empty_db, None, WAITING_SINCE)

    await migrate(empty_db, "upgrade", "0012_fault_isolation")

    assert await marks(empty_db, dispatched) == (DISPATCHED_AT, None)
    assert await marks(empty_db, waiting) == (None, None)
    async with empty_db.read() as conn:
        assert as_utc(await oldest_undispatched_time(conn)) == WAITING_SINCE

    await migrate(empty_db, "downgrade", "0011_alerts")
    async with empty_db.read() as conn:
        rows = await conn.execute(text("SELECT id, dt_actioned FROM events ORDER BY seq"))
        restored = {row.id: row.dt_actioned is not None for row in rows}
    assert restored == {dispatched: True, waiting: False}
