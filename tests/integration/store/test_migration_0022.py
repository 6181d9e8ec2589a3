"""Migration 0022 gives alerts a cause: open API_INGEST alerts made before (named by a UUID of
meter and failure type) are resolved saying why, the others are kept as they were, and going
back restores the old unique index."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text

from meterbell.domain.clock import utcnow
from meterbell.store.db import Database
from meterbell.store.tables import alerts
from tests.integration.store.test_migration_0012 import empty_db, migrate

__all__ = ["empty_db"]  # the fixture, shared

ORG = str(uuid.uuid4())


async def insert_open_alert(db: Database, alert_type: str, resource_type: str) -> str:
    alert_id = str(uuid.uuid4())
    async with db.write() as conn:
        await conn.execute(
            text(
                "INSERT INTO alerts (id, org_id, version, type, severity, status, description, "
                "resource_type, resource_id, event_ids, count, dt_first_seen, dt_last_seen, "
                "dt_created, dt_last_modified, created_by, last_modified_by) VALUES (:id, :org, "
                "1, :type, 'WARN', 'NEW', 'It failed.', :resource_type, :resource, '[]', 3, "
                ":now, :now, :now, :now, 'meterbell', 'meterbell')"
            ),
            {
                "id": alert_id,
                "org": ORG,
                "type": alert_type,
                "resource_type": resource_type,
                "resource": str(uuid.uuid4()),
                "now": utcnow(),
            },
        )
    return alert_id


async def alert_rows(db: Database) -> dict[str, Any]:
    async with db.read() as conn:
        return {row.id: row for row in await conn.execute(select(alerts))}


async def test_open_ingest_alerts_are_resolved_saying_why_and_the_others_kept(
    empty_db: Database,
) -> None:
    await migrate(empty_db, "upgrade", "0021_runs_retention_index")
    ingest = await insert_open_alert(empty_db, "API_INGEST", "Meter")
    disabled = await insert_open_alert(empty_db, "INTEGRATION_DISABLED", "IntegrationConfiguration")
    await migrate(empty_db, "upgrade", "0022_alert_causes")
    rows = await alert_rows(empty_db)
    assert (rows[ingest].status, rows[ingest].version) == ("RESOLVED", 2)
    assert rows[ingest].description.startswith("It failed. Resolved: API_INGEST alerts now name")
    assert (rows[disabled].status, rows[disabled].version, rows[disabled].cause) == ("NEW", 1, "")
    assert rows[disabled].description == "It failed."

    await migrate(empty_db, "downgrade", "0021_runs_retention_index")
    async with empty_db.read() as conn:
        columns = (await conn.execute(text("SELECT * FROM alerts"))).keys()
    assert "cause" not in columns
