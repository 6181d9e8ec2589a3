"""runs found by the run they re-send (recovery re-sends each failed run once)

Revision ID: 0016_run_parents
Revises: 0013_console_users
Create Date: 2026-12-05 15:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016_run_parents"
down_revision: str | None = "0013_console_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_runs_parent", "integration_runs", ["parent_run_id"])


def downgrade() -> None:
    op.drop_index("ix_runs_parent", table_name="integration_runs")
