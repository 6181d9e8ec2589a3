"""The tables, as SQLAlchemy Core metadata. Migrations in `migrations/` create the same shape."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
Seq = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = DateTime(timezone=True)

organizations = Table(
    "organizations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("dt_created", Timestamp, nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id"), nullable=False, index=True),
    Column("secret_salt", String(64), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("dt_created", Timestamp, nullable=False),
)

entities = Table(
    "entities",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("org_id", String(36), nullable=False),
    Column("entity_type", String(40), nullable=False),
    Column("id", String(36), nullable=False),
    Column("code", String(80), nullable=True),
    Column("version", Integer, nullable=False),
    Column("data", Json, nullable=False),
    UniqueConstraint("org_id", "entity_type", "id", name="uq_entities_org_type_id"),
    UniqueConstraint("org_id", "entity_type", "code", name="uq_entities_org_type_code"),
    Index("ix_entities_org_type_seq", "org_id", "entity_type", "seq"),
)

entity_fields_seen = Table(
    "entity_fields_seen",
    metadata,
    Column("org_id", String(36), primary_key=True),
    Column("entity_type", String(40), primary_key=True),
    Column("field", String(200), primary_key=True),
    Column("type", String(16), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("org_id", String(36), nullable=False),
    Column("event_name", String(200), nullable=False),
    Column("category", String(40), nullable=False),
    Column("event_time", Timestamp, nullable=False),
    Column("resource_id", String(36), nullable=True),
    Column("account_id", String(36), nullable=True),
    Column("notification_id", String(36), nullable=True),
    Column("notification_code", String(80), nullable=True),
    Column("m3ter_event", Json, nullable=False),
    Column("dt_actioned", Timestamp, nullable=True),
    Index("ix_events_org_seq", "org_id", "seq"),
    Index("ix_events_org_name_seq", "org_id", "event_name", "seq"),
    Index("ix_events_org_resource", "org_id", "resource_id"),
    Index("ix_events_org_account", "org_id", "account_id"),
    Index("ix_events_org_notification", "org_id", "notification_id"),
    Index("ix_events_event_time", "event_time"),
    Index(
        "ix_events_undispatched",
        "seq",
        sqlite_where=text("dt_actioned IS NULL"),
        postgresql_where=text("dt_actioned IS NULL"),
    ),
)
