"""a revision number per organization for its rules, integrations and webhooks

Revision ID: 0007_config_revisions
Revises: 0006_measurements_ts
Create Date: 2026-11-24 00:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_config_revisions"
down_revision: str | None = "0006_measurements_ts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_config_revisions",
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("org_id"),
    )


def downgrade() -> None:
    op.drop_table("delivery_config_revisions")
