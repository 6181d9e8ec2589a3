"""bill integrations: the id of the invoice a Bill run made in the accounts-receivable system

Revision ID: 0019_bill_integrations
Revises: 0018_delivery_lanes
Create Date: 2026-12-06 01:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_bill_integrations"
down_revision: str | None = "0018_delivery_lanes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("integration_runs", sa.Column("external_id", sa.String(500), nullable=True))


def downgrade() -> None:
    op.drop_column("integration_runs", "external_id")
