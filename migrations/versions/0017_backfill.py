"""backfill: jobs that run a rule over stored events, the firings they made, and a backfill
mark on Notification events and runs

Revision ID: 0017_backfill
Revises: 0016_run_parents
Create Date: 2026-12-05 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)
DUE = sa.text("next_attempt_at IS NOT NULL")

revision: str = "0017_backfill"
down_revision: str | None = "0016_run_parents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("backfill", sa.Boolean(), nullable=True))
    op.add_column("integration_runs", sa.Column("backfill", sa.Boolean(), nullable=True))
    op.create_table(
        "backfill_jobs",
        sa.Column("seq", Seq, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("rule_id", sa.String(length=36), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("since", Timestamp, nullable=False),
        sa.Column("until", Timestamp, nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("evaluated", sa.BigInteger(), nullable=False),
        sa.Column("matched", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("already_backfilled", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("event_ids", Json, nullable=False),
        sa.Column("cursor_time", Timestamp, nullable=True),
        sa.Column("cursor_seq", sa.BigInteger(), nullable=True),
        sa.Column("next_attempt_at", Timestamp, nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("dt_created", Timestamp, nullable=False),
        sa.Column("dt_completed", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("ix_backfill_jobs_org_rule_seq", "backfill_jobs", ["org_id", "rule_id", "seq"])
    op.create_index(
        "ix_backfill_jobs_due",
        "backfill_jobs",
        ["next_attempt_at"],
        sqlite_where=DUE,
        postgresql_where=DUE,
    )
    op.create_table(
        "backfilled",
        sa.Column("rule_id", sa.String(length=36), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("dt_created", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("rule_id", "rule_version", "event_id"),
    )


def downgrade() -> None:
    op.drop_table("backfilled")
    op.drop_table("backfill_jobs")
    op.drop_column("integration_runs", "backfill")
    op.drop_column("events", "backfill")
