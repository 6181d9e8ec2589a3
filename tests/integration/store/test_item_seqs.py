"""Seqs that name work items in dead letters are never handed out twice: a submission taken
from the (then empty) inbox, or a target deleted by retention, leaves its seq behind it. On
SQLite a plain rowid table would reuse the highest seq, and a later submission of another
organization would land in the first one's dead letter."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, insert, select

from meterbell.domain.clock import utcnow
from meterbell.store import ingest as ingest_store
from meterbell.store.db import Database
from meterbell.store.tables import measurement_inbox, scheduled_targets

ORG = str(uuid.uuid4())


async def test_the_next_submission_after_the_inbox_emptied_gets_a_new_seq(
    own_db: Database,
) -> None:
    async with own_db.write() as conn:
        await ingest_store.add_submission(conn, ORG, utcnow(), 1, "{}")
        [first] = await ingest_store.take_submissions(conn, 10)
    async with own_db.write() as conn:
        await ingest_store.add_submission(conn, ORG, utcnow(), 1, "{}")
        [second] = await ingest_store.take_submissions(conn, 10)
    assert second.seq > first.seq


async def test_a_target_after_the_newest_was_deleted_gets_a_new_seq(own_db: Database) -> None:
    async def new_target() -> int:
        async with own_db.write() as conn:
            values = {
                "org_id": ORG,
                "config_id": str(uuid.uuid4()),
                "entity_type": "account",
                "entity_id": str(uuid.uuid4()),
                "due_at": utcnow(),
            }
            await conn.execute(insert(scheduled_targets).values(**values))
            seq = await conn.scalar(select(scheduled_targets.c.seq))
            await conn.execute(delete(scheduled_targets))
            return int(seq or 0)

    assert await new_target() < await new_target()


async def test_the_inbox_reads_back_what_was_added(own_db: Database) -> None:
    async with own_db.write() as conn:
        await ingest_store.add_submission(conn, ORG, utcnow(), 2, '{"measurements": []}')
        rows = list(await conn.execute(select(measurement_inbox)))
    assert [(r.org_id, r.item_count, r.body) for r in rows] == [(ORG, 2, '{"measurements": []}')]
