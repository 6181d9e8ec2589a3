"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 17:41:12.161183
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "entities",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=80), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("org_id", "entity_type", "code", name="uq_entities_org_type_code"),
        sa.UniqueConstraint("org_id", "entity_type", "id", name="uq_entities_org_type_id"),
    )
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.create_index(
            "ix_entities_org_type_seq", ["org_id", "entity_type", "seq"], unique=False
        )

    op.create_table(
        "entity_fields_seen",
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("field", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "entity_type", "field"),
    )
    op.create_table(
        "events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("event_name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=True),
        sa.Column("account_id", sa.String(length=36), nullable=True),
        sa.Column("notification_id", sa.String(length=36), nullable=True),
        sa.Column("notification_code", sa.String(length=80), nullable=True),
        sa.Column(
            "m3ter_event",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("dt_actioned", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_event_time", ["event_time"], unique=False)
        batch_op.create_index("ix_events_org_account", ["org_id", "account_id"], unique=False)
        batch_op.create_index(
            "ix_events_org_name_seq", ["org_id", "event_name", "seq"], unique=False
        )
        batch_op.create_index(
            "ix_events_org_notification", ["org_id", "notification_id"], unique=False
        )
        batch_op.create_index("ix_events_org_resource", ["org_id", "resource_id"], unique=False)
        batch_op.create_index("ix_events_org_seq", ["org_id", "seq"], unique=False)
        batch_op.create_index(
            "ix_events_undispatched",
            ["seq"],
            unique=False,
            sqlite_where=sa.text("dt_actioned IS NULL"),
            postgresql_where=sa.text("dt_actioned IS NULL"),
        )

    op.create_table(
        "organizations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("dt_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "credentials",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("secret_salt", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("dt_created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
        ),
        sa.PrimaryKeyConstraint("client_id"),
    )
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credentials_org_id"), ["org_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credentials_org_id"))

    op.drop_table("credentials")
    op.drop_table("organizations")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_events_undispatched",
            sqlite_where=sa.text("dt_actioned IS NULL"),
            postgresql_where=sa.text("dt_actioned IS NULL"),
        )
        batch_op.drop_index("ix_events_org_seq")
        batch_op.drop_index("ix_events_org_resource")
        batch_op.drop_index("ix_events_org_notification")
        batch_op.drop_index("ix_events_org_name_seq")
        batch_op.drop_index("ix_events_org_account")
        batch_op.drop_index("ix_events_event_time")

    op.drop_table("events")
    op.drop_table("entity_fields_seen")
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.drop_index("ix_entities_org_type_seq")

    op.drop_table("entities")
