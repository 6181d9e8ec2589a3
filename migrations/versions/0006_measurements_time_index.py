"""measurements indexed in time order (for usage exports) instead of by meter and account

Revision ID: 0006_measurements_ts
Revises: 0005_exports
Create Date: 2026-11-23 23:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_measurements_ts"
down_revision: str | None = "0005_exports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.create_index("ix_measurements_org_ts", ["org_id", "ts", "seq"], unique=False)
        batch_op.drop_index("ix_measurements_org_meter_account_ts")


def downgrade() -> None:
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_measurements_org_meter_account_ts",
            ["org_id", "meter_id", "account_id", "ts"],
            unique=False,
        )
        batch_op.drop_index("ix_measurements_org_ts")
