"""system alerts

Revision ID: 0011_alerts
Revises: 0010_credential_revocation
Create Date: 2026-12-05 09:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
Timestamp = sa.DateTime(timezone=True)
OPEN_ALERT = sa.text("status <> 'RESOLVED'")

revision: str = "0011_alerts"
down_revision: str | None = "0010_credential_revocation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("seq", Seq, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("event_ids", Json, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("dt_first_seen", Timestamp, nullable=False),
        sa.Column("dt_last_seen", Timestamp, nullable=False),
        sa.Column("dt_created", Timestamp, nullable=False),
        sa.Column("dt_last_modified", Timestamp, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("last_modified_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("ix_alerts_org_seq", "alerts", ["org_id", "seq"])
    op.create_index(
        "uq_alerts_open_cause",
        "alerts",
        ["org_id", "type", "resource_id"],
        unique=True,
        sqlite_where=OPEN_ALERT,
        postgresql_where=OPEN_ALERT,
    )


def downgrade() -> None:
    op.drop_table("alerts")
