"""alert causes: an API_INGEST alert names its meter as its resource, and its failure type as
its cause; one open alert per (type, resource, cause)

Open API_INGEST alerts made before (their resource a UUID naming meter and failure type) are
resolved, saying why: the next failure opens an alert on the meter itself.

Revision ID: 0022_alert_causes
Revises: 0021_runs_retention_index
Create Date: 2026-12-06 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_alert_causes"
down_revision: str | None = "0021_runs_retention_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_ALERT = sa.text("status <> 'RESOLVED'")
WHY = (
    " Resolved: API_INGEST alerts now name the meter itself as their resource; the next"
    " failure opens one."
)


def _unique_open(columns: list[str]) -> None:
    op.create_index(
        "uq_alerts_open_cause",
        "alerts",
        columns,
        unique=True,
        sqlite_where=OPEN_ALERT,
        postgresql_where=OPEN_ALERT,
    )


def upgrade() -> None:
    op.drop_index("uq_alerts_open_cause", table_name="alerts")
    with op.batch_alter_table("alerts") as alerts:  # SQLite copies the table
        alerts.add_column(sa.Column("cause", sa.String(40), nullable=False, server_default=""))
        alerts.alter_column("resource_id", type_=sa.String(80))
    op.execute(
        sa.text(
            "UPDATE alerts SET status = 'RESOLVED', description = description || :why,"
            " version = version + 1 WHERE type = 'API_INGEST' AND status <> 'RESOLVED'"
        ).bindparams(why=WHY)
    )
    _unique_open(["org_id", "type", "resource_id", "cause"])


def downgrade() -> None:
    # Open alerts told apart only by their cause would clash once it is gone: resolve them.
    op.execute(
        sa.text("UPDATE alerts SET status = 'RESOLVED' WHERE status <> 'RESOLVED' AND cause <> ''")
    )
    op.execute(sa.text("UPDATE alerts SET resource_id = substr(resource_id, 1, 36)"))
    op.drop_index("uq_alerts_open_cause", table_name="alerts")
    with op.batch_alter_table("alerts") as alerts:
        alerts.drop_column("cause")
        alerts.alter_column("resource_id", type_=sa.String(36))
    _unique_open(["org_id", "type", "resource_id"])
