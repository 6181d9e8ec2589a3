"""A purge retention cannot run (the store refuses its deletes) holds back no other purge: the
expired events still go, and the failing purge is set aside after MB_MAX_ITEM_FAILURES passes
(skipped while its dead letter is not replayed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import select, update

from meterbell.domain.clock import utcnow
from meterbell.store.db import Database
from meterbell.store.tables import dead_letters
from meterbell.workers.retention import Retention
from tests.conftest import OrgApi
from tests.faults import installed
from tests.integration.workers.test_retention import disabled_run, event_ids, run_ids


@asynccontextmanager
async def refusing_deletes(db: Database, table: str) -> AsyncIterator[None]:
    """A trigger that makes the store refuse every delete from `table`."""
    if db.dialect == "postgresql":
        create = [
            "CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'delete refused'; END $$",
            f"CREATE TRIGGER refuse_delete BEFORE DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_delete()",
        ]
        drop = [f"DROP TRIGGER refuse_delete ON {table}", "DROP FUNCTION refuse_delete()"]
    else:
        create = [
            f"CREATE TRIGGER refuse_delete BEFORE DELETE ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'delete refused'); END"
        ]
        drop = ["DROP TRIGGER refuse_delete"]
    async with installed(db, create, drop):
        yield


async def retention_letters(db: Database) -> list[tuple[str, int, bool]]:
    """(purge, failures, set aside) of retention's dead letters not replayed."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(dead_letters).where(
                (dead_letters.c.worker == "retention") & dead_letters.c.dt_replayed.is_(None)
            )
        )
        return [(r.item_id, r.attempts, r.dt_set_aside is not None) for r in rows]


async def test_a_purge_that_keeps_failing_is_set_aside_and_the_others_run(
    api: OrgApi, db: Database
) -> None:
    rule_id = await disabled_run(api, db)
    assert await event_ids(api)
    assert await run_ids(api, rule_id)
    later = Retention(db, retention_days=28, now=lambda: utcnow() + timedelta(days=29))

    async with refusing_deletes(db, "integration_runs"):
        # Until the expired events are gone and the runs' purge is set aside: earlier tests
        # sharing the store may have left many events before this organization's.
        passes = 0
        while await event_ids(api) or not await retention_letters(db):
            await later.step()
            passes += 1
            assert passes < 1000, "the expired events were not purged"
        for _ in range(3):
            await later.step()
        assert await event_ids(api) == set()
        assert len(await run_ids(api, rule_id)) == 1
        assert await retention_letters(db) == [("runs", 3, True)]

    await later.step()  # set aside: skipped
    assert len(await run_ids(api, rule_id)) == 1
    async with db.write() as conn:  # replayed (by an operator: it belongs to no organization)
        await conn.execute(
            update(dead_letters)
            .where(dead_letters.c.worker == "retention")
            .values(dt_replayed=utcnow())
        )
    passes = 0
    while await run_ids(api, rule_id):  # other tests' expired runs may go first
        await later.step()
        passes += 1
        assert passes < 1000, "the replayed purge did not delete the run"
