"""delivery lanes: ordered and rate-limited destinations, the runs' lane and event order,
and their reserved start

Revision ID: 0018_delivery_lanes
Revises: 0017_backfill
Create Date: 2026-12-06 01:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

Timestamp = sa.DateTime(timezone=True)
DUE = sa.text("next_attempt_at IS NOT NULL")
DUE_UNLANED = sa.text("next_attempt_at IS NOT NULL AND lane IS NULL")
DUE_LANED = sa.text("next_attempt_at IS NOT NULL AND lane IS NOT NULL")

revision: str = "0018_delivery_lanes"
down_revision: str | None = "0017_backfill"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("integration_runs", sa.Column("lane", sa.String(length=36), nullable=True))
    op.add_column("integration_runs", sa.Column("event_seq", sa.BigInteger(), nullable=True))
    op.add_column("integration_runs", sa.Column("start_slot", Timestamp, nullable=True))
    op.drop_index("ix_runs_due", table_name="integration_runs")
    _due_index(DUE_UNLANED)
    op.create_index(
        "ix_runs_lane",
        "integration_runs",
        ["lane", "event_seq", "seq"],
        sqlite_where=DUE_LANED,
        postgresql_where=DUE_LANED,
    )
    op.create_table(
        "delivery_lanes",
        sa.Column("destination_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("ordered", sa.Boolean(), nullable=False),
        sa.Column("max_per_second", sa.Float(), nullable=True),
        sa.Column("next_start_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("destination_id"),
    )


def _due_index(where: sa.TextClause) -> None:
    op.create_index(
        "ix_runs_due",
        "integration_runs",
        ["next_attempt_at"],
        sqlite_where=where,
        postgresql_where=where,
    )


def downgrade() -> None:
    op.drop_table("delivery_lanes")
    op.drop_index("ix_runs_lane", table_name="integration_runs")
    op.drop_index("ix_runs_due", table_name="integration_runs")
    _due_index(DUE)
    op.drop_column("integration_runs", "start_slot")
    op.drop_column("integration_runs", "event_seq")
    op.drop_column("integration_runs", "lane")
