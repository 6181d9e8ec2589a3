"""fault isolation: dead letters; dispatch bookkeeping apart from dtActioned

Revision ID: 0012_fault_isolation
Revises: 0011_alerts
Create Date: 2026-12-05 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
OPEN_DEAD_LETTER = sa.text("dt_replayed IS NULL")

revision: str = "0012_fault_isolation"
down_revision: str | None = "0011_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Until now `dt_actioned` was the dispatcher's mark: every value is a dispatch time.
    op.add_column("events", sa.Column("dispatched_at", Timestamp, nullable=True))
    op.execute("UPDATE events SET dispatched_at = dt_actioned, dt_actioned = NULL")
    op.drop_index("ix_events_undispatched", table_name="events")
    _undispatched_index("dispatched_at")
    op.create_table(
        "dead_letters",
        sa.Column("seq", Seq, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=True),
        sa.Column("worker", sa.String(length=40), nullable=False),
        sa.Column("item_id", sa.String(length=200), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("dt_created", Timestamp, nullable=False),
        sa.Column("dt_last_failed", Timestamp, nullable=False),
        sa.Column("dt_set_aside", Timestamp, nullable=True),
        sa.Column("dt_replayed", Timestamp, nullable=True),
        sa.Column("replayed_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("ix_dead_letters_org_seq", "dead_letters", ["org_id", "seq"])
    op.create_index(
        "uq_dead_letters_open_item",
        "dead_letters",
        ["worker", "item_id"],
        unique=True,
        sqlite_where=OPEN_DEAD_LETTER,
        postgresql_where=OPEN_DEAD_LETTER,
    )


def downgrade() -> None:
    op.drop_table("dead_letters")
    op.drop_index("ix_events_undispatched", table_name="events")
    # The old schema has one mark, the dispatcher's: people's marks are dropped.
    op.execute("UPDATE events SET dt_actioned = dispatched_at")
    _undispatched_index("dt_actioned")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("dispatched_at")


def _undispatched_index(column: str) -> None:
    op.create_index(
        "ix_events_undispatched",
        "events",
        ["seq"],
        sqlite_where=sa.text(f"{column} IS NULL"),
        postgresql_where=sa.text(f"{column} IS NULL"),
    )
