"""unreused item seqs: on SQLite, measurement_inbox and scheduled_event_targets become
AUTOINCREMENT tables, their next seq above every seq a dead letter names, so a dead letter
never matches a later submission or target of another organization (SQLite would otherwise
hand the highest seq out again once its row is deleted). PostgreSQL sequences never reuse.

Revision ID: 0020_unreused_item_seqs
Revises: 0019_bill_integrations
Create Date: 2026-12-06 02:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020_unreused_item_seqs"
down_revision: str | None = "0019_bill_integrations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, its columns as created with AUTOINCREMENT, its indexes, the worker whose dead
# letters name its seqs)
TABLES = (
    (
        "measurement_inbox",
        "seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, org_id VARCHAR(36) NOT NULL, "
        "received_at DATETIME NOT NULL, item_count INTEGER NOT NULL, body TEXT NOT NULL",
        (),
        "ingest",
    ),
    (
        "scheduled_event_targets",
        "seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, org_id VARCHAR(36) NOT NULL, "
        "config_id VARCHAR(36) NOT NULL, entity_type VARCHAR(40) NOT NULL, "
        "entity_id VARCHAR(36) NOT NULL, due_at DATETIME NOT NULL, fired_at DATETIME, "
        "CONSTRAINT uq_scheduled_targets_key UNIQUE (config_id, entity_id, due_at)",
        (
            "CREATE INDEX ix_scheduled_targets_unfired_due ON scheduled_event_targets (due_at) "
            "WHERE fired_at IS NULL",
            "CREATE INDEX ix_scheduled_targets_entity "
            "ON scheduled_event_targets (org_id, entity_type, entity_id)",
            "CREATE INDEX ix_scheduled_targets_due ON scheduled_event_targets (due_at)",
        ),
        "scheduler",
    ),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, columns, indexes, worker in TABLES:
        op.execute(f"CREATE TABLE {table}_new ({columns})")
        op.execute(f"INSERT INTO {table}_new SELECT * FROM {table}")
        op.execute(f"DROP TABLE {table}")
        op.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
        for index in indexes:
            op.execute(index)
        op.execute(f"DELETE FROM sqlite_sequence WHERE name = '{table}'")
        op.execute(
            f"INSERT INTO sqlite_sequence (name, seq) SELECT '{table}', MAX("
            f"  COALESCE((SELECT MAX(seq) FROM {table}), 0),"
            "  COALESCE((SELECT MAX(CAST(item_id AS INTEGER)) FROM dead_letters"
            f"   WHERE worker = '{worker}'), 0))"
        )


def downgrade() -> None:
    """Nothing to undo that matters: AUTOINCREMENT only stops seqs being handed out again."""
