"""The tables, as SQLAlchemy Core metadata. Migrations in `migrations/` create the same shape."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
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
    Column("dt_revoked", Timestamp, nullable=True),
    # Every process reads the revoked client ids every few seconds (RevokedCredentials).
    Index(
        "ix_credentials_revoked",
        "client_id",
        sqlite_where=text("dt_revoked IS NOT NULL"),
        postgresql_where=text("dt_revoked IS NOT NULL"),
    ),
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

# Bumped in the transaction of every write to an organization's rules, integration
# configurations or webhooks, so that a dispatcher can keep them between batches.
delivery_config_revisions = Table(
    "delivery_config_revisions",
    metadata,
    Column("org_id", String(36), primary_key=True),
    Column("revision", Integer, nullable=False),
)

MAX_SEEN_FIELD_NAME = 200

entity_fields_seen = Table(
    "entity_fields_seen",
    metadata,
    Column("org_id", String(36), primary_key=True),
    Column("entity_type", String(40), primary_key=True),
    Column("field", String(MAX_SEEN_FIELD_NAME), primary_key=True),
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
    # A person's (or a client's) "handled" mark; the dispatcher's own bookkeeping is below.
    Column("dt_actioned", Timestamp, nullable=True),
    Column("dispatched_at", Timestamp, nullable=True),
    Column("backfill", Boolean, nullable=True),  # a backfill's Notification event; else NULL
    Index("ix_events_org_seq", "org_id", "seq"),
    Index("ix_events_org_name_seq", "org_id", "event_name", "seq"),
    Index("ix_events_org_resource", "org_id", "resource_id"),
    Index("ix_events_org_account", "org_id", "account_id"),
    Index("ix_events_org_notification", "org_id", "notification_id"),
    Index("ix_events_event_time", "event_time"),
    Index(
        "ix_events_undispatched",
        "seq",
        sqlite_where=text("dispatched_at IS NULL"),
        postgresql_where=text("dispatched_at IS NULL"),
    ),
)

RUNS_DUE_UNLANED = "next_attempt_at IS NOT NULL AND lane IS NULL"
RUNS_DUE_LANED = "next_attempt_at IS NOT NULL AND lane IS NOT NULL"
RUNS_FINISHED = "next_attempt_at IS NULL"

integration_runs = Table(
    "integration_runs",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("org_id", String(36), nullable=False),
    Column("config_id", String(36), nullable=False),
    Column("entity_type", String(40), nullable=False),
    Column("entity_id", String(36), nullable=False),
    Column("destination", String(40), nullable=False),
    Column("destination_id", String(36), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("parent_run_id", String(36), nullable=True),
    Column("status", String(32), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    # When someone should next look at the run: the due time of a waiting run, or the lease
    # expiry of a started one (a crashed worker's run is picked up again then). NULL = final.
    Column("next_attempt_at", Timestamp, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("body", Text, nullable=False),
    Column("url", String(2000), nullable=True),
    Column("error", Text, nullable=True),
    Column("dt_created", Timestamp, nullable=False),
    Column("dt_started", Timestamp, nullable=True),
    Column("dt_completed", Timestamp, nullable=True),
    Column("backfill", Boolean, nullable=True),  # a backfill's run; else NULL
    # A Bill run's invoice in the accounts-receivable system (its `url` is the invoice's URL).
    Column("external_id", String(500), nullable=True),
    # An ordered destination's runs (store/lanes.py) carry its id as their lane and go one at
    # a time, by their event's seq; NULL for every other run.
    Column("lane", String(36), nullable=True),
    Column("event_seq", BigInteger, nullable=True),
    # The start reserved for the run under its destination's rate limit, once it had to wait.
    Column("start_slot", Timestamp, nullable=True),
    Index(
        "ix_runs_due",
        "next_attempt_at",
        sqlite_where=text(RUNS_DUE_UNLANED),
        postgresql_where=text(RUNS_DUE_UNLANED),
    ),
    Index(
        "ix_runs_lane",
        "lane",
        "event_seq",
        "seq",
        sqlite_where=text(RUNS_DUE_LANED),
        postgresql_where=text(RUNS_DUE_LANED),
    ),
    # Retention's reach: finished runs by age.
    Index(
        "ix_runs_finished_created",
        "dt_created",
        sqlite_where=text(RUNS_FINISHED),
        postgresql_where=text(RUNS_FINISHED),
    ),
    Index("ix_runs_org_entity", "org_id", "entity_type", "entity_id", "seq"),
    Index("ix_runs_org_destination", "org_id", "destination_id", "seq"),
    Index("ix_runs_parent", "parent_run_id"),
)

# Destinations with an ordered or rate-limited delivery lane: kept in the store so that
# every worker process honours them together.
delivery_lanes = Table(
    "delivery_lanes",
    metadata,
    Column("destination_id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("ordered", Boolean, nullable=False),
    Column("max_per_second", Float, nullable=True),
    # The earliest start the rate limit leaves free for the destination's next request.
    Column("next_start_at", Timestamp, nullable=True),
)

run_attempts = Table(
    "integration_run_attempts",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("log", Json, nullable=False),
)

integration_health = Table(
    "integration_health",
    metadata,
    Column("config_id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
)

rule_errors = Table(
    "rule_evaluation_errors",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("org_id", String(36), nullable=False),
    Column("rule_id", String(36), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("error", Text, nullable=False),
    Column("dt_created", Timestamp, nullable=False),
    Index("ix_rule_errors_org_event", "org_id", "event_id"),
    Index("ix_rule_errors_org_rule", "org_id", "rule_id", "seq"),
)

# When each scheduled event configuration makes each entity due. Kept in step with entity and
# configuration writes (same transaction); the scheduler claims unfired rows by `due_at`.
scheduled_targets = Table(
    "scheduled_event_targets",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("org_id", String(36), nullable=False),
    Column("config_id", String(36), nullable=False),
    Column("entity_type", String(40), nullable=False),
    Column("entity_id", String(36), nullable=False),
    Column("due_at", Timestamp, nullable=False),
    Column("fired_at", Timestamp, nullable=True),
    UniqueConstraint("config_id", "entity_id", "due_at", name="uq_scheduled_targets_key"),
    Index(
        "ix_scheduled_targets_unfired_due",
        "due_at",
        sqlite_where=text("fired_at IS NULL"),
        postgresql_where=text("fired_at IS NULL"),
    ),
    Index("ix_scheduled_targets_entity", "org_id", "entity_type", "entity_id"),
    Index("ix_scheduled_targets_due", "due_at"),
    # A target's seq names it in dead letters: never handed out again (SQLite would reuse
    # the highest after a delete).
    sqlite_autoincrement=True,
)

# Usage ingest. A submission is kept whole (its raw JSON) until the validator takes it; valid
# measurements land in `measurements` (never expire: they are usage, not events), their uids in
# `measurement_uids` for the 35-day duplicate check, and failures in `ingest_failures`.
measurement_inbox = Table(
    "measurement_inbox",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("org_id", String(36), nullable=False),
    Column("received_at", Timestamp, nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("body", Text, nullable=False),
    # A submission's seq names it in dead letters, and the inbox is emptied as it is read:
    # SQLite must not hand the same seq to the next submission.
    sqlite_autoincrement=True,
)

measurements = Table(
    "measurements",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("org_id", String(36), nullable=False),
    Column("meter_id", String(36), nullable=False),
    Column("account_id", String(36), nullable=False),
    Column("ts", Timestamp, nullable=False),
    Column("ets", Timestamp, nullable=True),
    Column("uid", String(50), nullable=True),
    Column("received_at", Timestamp, nullable=False),
    # {code: value} of the meter's data fields and of the derived fields computed at ingest.
    Column("fields", Json, nullable=False),
    # Usage exports read measurements in time order (workers/export_writer.py). The one
    # index: each more costs ingest about a tenth of its speed.
    Index("ix_measurements_org_ts", "org_id", "ts", "seq"),
)

measurement_uids = Table(
    "measurement_uids",
    metadata,
    Column("org_id", String(36), primary_key=True),
    Column("uid", String(50), primary_key=True),
    Column("seen_at", Timestamp, nullable=False, index=True),
    sqlite_with_rowid=False,  # one b-tree keyed by (org_id, uid) instead of two
)

ingest_failures = Table(
    "ingest_failures",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("type", String(40), nullable=False),
    Column("reason", Text, nullable=False),
    Column("measurement", Json, nullable=False),
    Column("dt_created", Timestamp, nullable=False, index=True),
)

# Data exports. Destinations and schedules are versioned documents (the `entities` table); a
# schedule's next due time lives here so schedulers can claim it, and every run is a job.
export_schedule_runs = Table(
    "export_schedule_runs",
    metadata,
    Column("schedule_id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("next_run_at", Timestamp, nullable=False, index=True),
)

export_jobs = Table(
    "export_jobs",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("org_id", String(36), nullable=False),
    Column("schedule_id", String(36), nullable=True),
    Column("source_type", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    # What to export (source, selection, window, format, destinations), fixed at creation.
    Column("spec", Json, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    # As for integration runs: when a worker should next look at the job (a pending job's due
    # time, a running job's lease expiry); NULL once it succeeded or failed.
    Column("next_attempt_at", Timestamp, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("files", Json, nullable=True),
    Column("row_count", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("dt_created", Timestamp, nullable=False),
    Column("started_at", Timestamp, nullable=True),
    Column("completed_at", Timestamp, nullable=True),
    Index(
        "ix_export_jobs_due",
        "next_attempt_at",
        sqlite_where=text("next_attempt_at IS NOT NULL"),
        postgresql_where=text("next_attempt_at IS NOT NULL"),
    ),
    Index("ix_export_jobs_org_seq", "org_id", "seq"),
    Index("ix_export_jobs_org_schedule_seq", "org_id", "schedule_id", "seq"),
)

# System alerts (domain/alerts.py). At most one open alert per cause: the partial unique index
# is what deduplicates occurrences raised by several workers at once.
OPEN_ALERT = text("status <> 'RESOLVED'")
alerts = Table(
    "alerts",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("org_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(40), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("status", String(20), nullable=False),
    Column("description", Text, nullable=False),
    Column("resource_type", String(40), nullable=False),
    Column("resource_id", String(80), nullable=False),
    # Tells apart causes of one type on one resource (an API_INGEST alert's failure type).
    Column("cause", String(40), nullable=False, server_default=""),
    Column("event_ids", Json, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("dt_first_seen", Timestamp, nullable=False),
    Column("dt_last_seen", Timestamp, nullable=False),
    Column("dt_created", Timestamp, nullable=False),
    Column("dt_last_modified", Timestamp, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("last_modified_by", String(64), nullable=False),
    Index("ix_alerts_org_seq", "org_id", "seq"),
    Index(
        "uq_alerts_open_cause",
        "org_id",
        "type",
        "resource_id",
        "cause",
        unique=True,
        sqlite_where=OPEN_ALERT,
        postgresql_where=OPEN_ALERT,
    ),
)

# Work that failed inside meterbell (workers/isolation.py): one open row per failing item counts
# its failures; once set aside, the row is the dead letter people see and replay.
OPEN_DEAD_LETTER = text("dt_replayed IS NULL")
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("org_id", String(36), nullable=True),  # NULL: work of no one organization
    Column("worker", String(40), nullable=False),
    Column("item_id", String(200), nullable=False),
    Column("error", Text, nullable=False),
    # What replaying needs that the worker's own tables no longer hold (a submission's body).
    Column("payload", Text, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("dt_created", Timestamp, nullable=False),
    Column("dt_last_failed", Timestamp, nullable=False),
    Column("dt_set_aside", Timestamp, nullable=True),
    Column("dt_replayed", Timestamp, nullable=True),
    Column("replayed_by", String(64), nullable=True),
    Index("ix_dead_letters_org_seq", "org_id", "seq"),
    Index(
        "uq_dead_letters_open_item",
        "worker",
        "item_id",
        unique=True,
        sqlite_where=OPEN_DEAD_LETTER,
        postgresql_where=OPEN_DEAD_LETTER,
    ),
)

# People who sign in to the console (console/), the organizations each may see, and their
# sessions. A session is known by the SHA-256 of its cookie's token, never the token itself.
console_users = Table(
    "console_users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("dt_created", Timestamp, nullable=False),
)

console_memberships = Table(
    "console_memberships",
    metadata,
    Column("user_id", String(36), ForeignKey("console_users.id"), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id"), primary_key=True),
    Column("dt_created", Timestamp, nullable=False),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("console_users.id"), nullable=False, index=True),
    Column("dt_created", Timestamp, nullable=False),
    Column("dt_expires", Timestamp, nullable=False),
)

# Backfills (services/backfill.py): a rule's current calculation over stored events of a window.
# A job is worked in chunks of events, in time order from its cursor; `next_attempt_at` is when
# a worker may take its next chunk (NULL once it ended), `lease_owner` who holds it until then.
backfill_jobs = Table(
    "backfill_jobs",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("org_id", String(36), nullable=False),
    Column("rule_id", String(36), nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("since", Timestamp, nullable=False),
    Column("until", Timestamp, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("status", String(20), nullable=False),
    Column("evaluated", BigInteger, nullable=False),
    Column("matched", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("already_backfilled", BigInteger, nullable=False),
    Column("failed", BigInteger, nullable=False),
    Column("event_ids", Json, nullable=False),
    Column("cursor_time", Timestamp, nullable=True),
    Column("cursor_seq", BigInteger, nullable=True),
    Column("next_attempt_at", Timestamp, nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Column("dt_created", Timestamp, nullable=False),
    Column("dt_completed", Timestamp, nullable=True),
    Index("ix_backfill_jobs_org_rule_seq", "org_id", "rule_id", "seq"),
    Index(
        "ix_backfill_jobs_due",
        "next_attempt_at",
        sqlite_where=text("next_attempt_at IS NOT NULL"),
        postgresql_where=text("next_attempt_at IS NOT NULL"),
    ),
)

# Each (rule, rule version, event) a real backfill fired on: written in the firing's
# transaction, insert-if-absent, so a firing is backfilled at most once.
backfilled = Table(
    "backfilled",
    metadata,
    Column("rule_id", String(36), primary_key=True),
    Column("rule_version", Integer, primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("job_id", String(36), nullable=False),
    Column("dt_created", Timestamp, nullable=False),
)
