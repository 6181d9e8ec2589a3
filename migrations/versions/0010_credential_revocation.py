"""credentials can be revoked: when, and an index of the revoked ones

Revision ID: 0010_credential_revocation
Revises: 0007_config_revisions
Create Date: 2026-12-05 09:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_credential_revocation"
down_revision: str | None = "0007_config_revisions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVOKED = sa.text("dt_revoked IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dt_revoked", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_credentials_revoked",
            ["client_id"],
            unique=False,
            sqlite_where=REVOKED,
            postgresql_where=REVOKED,
        )


def downgrade() -> None:
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index("ix_credentials_revoked")
        batch_op.drop_column("dt_revoked")
