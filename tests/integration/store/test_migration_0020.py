"""Migration 0020 makes the inbox's and the scheduled targets' seqs never reused on SQLite,
starting above every seq a dead letter names and keeping the rows there were."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text

from meterbell.domain.clock import utcnow
from meterbell.store import ingest as ingest_store
from meterbell.store.db import Database
from meterbell.store.tables import measurement_inbox
from tests.integration.store.test_migration_0012 import empty_db, migrate

__all__ = ["empty_db"]  # the fixture, shared

ORG = str(uuid.uuid4())
NAMED_BY_A_LETTER = 57


async def test_the_next_submission_comes_after_every_seq_a_dead_letter_names(
    empty_db: Database,
) -> None:
    await migrate(empty_db, "upgrade", "0019_bill_integrations")
    async with empty_db.write() as conn:
        await ingest_store.add_submission(conn, ORG, utcnow(), 1, "kept")
        await conn.execute(
            text(
                "INSERT INTO dead_letters (id, org_id, worker, item_id, error, attempts, "
                "dt_created, dt_last_failed) VALUES (:id, :org, 'ingest', :item, 'failed', 4, "
                ":now, :now)"
            ),
            {"id": str(uuid.uuid4()), "org": ORG, "item": str(NAMED_BY_A_LETTER), "now": utcnow()},
        )
    await migrate(empty_db, "upgrade", "0020_unreused_item_seqs")
    async with empty_db.write() as conn:
        await ingest_store.add_submission(conn, ORG, utcnow(), 1, "new")
        rows = list(await conn.execute(select(measurement_inbox).order_by(measurement_inbox.c.seq)))
    assert [row.body for row in rows] == ["kept", "new"]
    if empty_db.dialect == "sqlite":
        assert rows[1].seq > NAMED_BY_A_LETTER
