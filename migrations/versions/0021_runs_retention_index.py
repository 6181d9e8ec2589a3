"""runs retention index: finished runs by age, so retention's purge reads no whole table

Revision ID: 0021_runs_retention_index
Revises: 0020_unreused_item_seqs
Create Date: 2026-12-06 05:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_runs_retention_index"
down_revision: str | None = "0020_unreused_item_seqs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINISHED = sa.text("next_attempt_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_runs_finished_created",
        "integration_runs",
        ["dt_created"],
        sqlite_where=FINISHED,
        postgresql_where=FINISHED,
    )


def downgrade() -> None:
    op.drop_index("ix_runs_finished_created", table_name="integration_runs")
