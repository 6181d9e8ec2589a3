"""scheduled event targets

Revision ID: 0003_scheduled
Revises: 0002
Create Date: 2026-11-23 18:30:44.134562
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_scheduled"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduled_event_targets",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("config_id", sa.String(length=36), nullable=False),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("config_id", "entity_id", "due_at", name="uq_scheduled_targets_key"),
    )
    with op.batch_alter_table("scheduled_event_targets", schema=None) as batch_op:
        batch_op.create_index("ix_scheduled_targets_due", ["due_at"], unique=False)
        batch_op.create_index(
            "ix_scheduled_targets_entity", ["org_id", "entity_type", "entity_id"], unique=False
        )
        batch_op.create_index(
            "ix_scheduled_targets_unfired_due",
            ["due_at"],
            unique=False,
            sqlite_where=sa.text("fired_at IS NULL"),
            postgresql_where=sa.text("fired_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("scheduled_event_targets", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_scheduled_targets_unfired_due",
            sqlite_where=sa.text("fired_at IS NULL"),
            postgresql_where=sa.text("fired_at IS NULL"),
        )
        batch_op.drop_index("ix_scheduled_targets_entity")
        batch_op.drop_index("ix_scheduled_targets_due")

    op.drop_table("scheduled_event_targets")
