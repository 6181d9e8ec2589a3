"""integration runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:00:34.138296
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "integration_health",
        sa.Column("config_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("config_id"),
    )
    op.create_table(
        "integration_run_attempts",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column(
            "log",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("integration_run_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_integration_run_attempts_run_id"), ["run_id"], unique=False
        )

    op.create_table(
        "integration_runs",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("config_id", sa.String(length=36), nullable=False),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("destination", sa.String(length=40), nullable=False),
        sa.Column("destination_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("parent_run_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("dt_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dt_started", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dt_completed", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("integration_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_runs_due",
            ["next_attempt_at"],
            unique=False,
            sqlite_where=sa.text("next_attempt_at IS NOT NULL"),
            postgresql_where=sa.text("next_attempt_at IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_runs_org_destination", ["org_id", "destination_id", "seq"], unique=False
        )
        batch_op.create_index(
            "ix_runs_org_entity", ["org_id", "entity_type", "entity_id", "seq"], unique=False
        )

    op.create_table(
        "rule_evaluation_errors",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("rule_id", sa.String(length=36), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("dt_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("rule_evaluation_errors", schema=None) as batch_op:
        batch_op.create_index("ix_rule_errors_org_event", ["org_id", "event_id"], unique=False)
        batch_op.create_index("ix_rule_errors_org_rule", ["org_id", "rule_id", "seq"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("rule_evaluation_errors", schema=None) as batch_op:
        batch_op.drop_index("ix_rule_errors_org_rule")
        batch_op.drop_index("ix_rule_errors_org_event")

    op.drop_table("rule_evaluation_errors")
    with op.batch_alter_table("integration_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_org_entity")
        batch_op.drop_index("ix_runs_org_destination")
        batch_op.drop_index(
            "ix_runs_due",
            sqlite_where=sa.text("next_attempt_at IS NOT NULL"),
            postgresql_where=sa.text("next_attempt_at IS NOT NULL"),
        )

    op.drop_table("integration_runs")
    with op.batch_alter_table("integration_run_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_integration_run_attempts_run_id"))

    op.drop_table("integration_run_attempts")
    op.drop_table("integration_health")
