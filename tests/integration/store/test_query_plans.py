"""Every hot-path statement finds its rows through an index: none reads a whole large table,
whose cost would grow with the store (SQLite `EXPLAIN QUERY PLAN`, PostgreSQL `EXPLAIN` with
sequential scans priced out, so a plan that still has one has no index to use; an index scan
without an index condition reads the whole index, and counts as a full scan too)."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import UniqueConstraint, event
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.store import documents as document_store
from meterbell.store import events as event_store
from meterbell.store import exports as export_store
from meterbell.store import ingest as ingest_store
from meterbell.store import runs as run_store
from meterbell.store import scheduled as scheduled_store
from meterbell.store.db import Database
from meterbell.store.tables import metadata
from meterbell.workers.retention import PURGES, Purge

LARGE_TABLES = (
    "entities",
    "events",
    "integration_runs",
    "measurements",
    "measurement_uids",
    "ingest_failures",
)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ORG, OTHER_ORG, DOC = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
RUN = run_store.RunRow(
    id=str(uuid.uuid4()),
    org_id=ORG,
    config_id=DOC,
    entity_type="Notification",
    entity_id=DOC,
    destination="Webhook",
    destination_id=DOC,
    event_id=DOC,
    status="STARTED",
    body="{}",
    dt_created=NOW,
    lease_owner="owner",
)
DOCUMENT = {"id": DOC, "version": 2, "code": "c"}

Work = Callable[[AsyncConnection], Awaitable[Any]]


def _purge_work(purge: Purge) -> Work:
    return lambda c: purge(c, NOW, 100)


HOT_PATH: dict[str, Work] = {
    "entity get": lambda c: document_store.get_entity(c, ORG, "account", DOC),
    "entity replace": lambda c: document_store.replace_entity(c, ORG, "account", DOCUMENT, 1),
    "documents of org": lambda c: document_store.documents_of_org(c, "meter", ORG),
    "documents of orgs": lambda c: document_store.documents_of_orgs(
        c, "notification", [ORG, OTHER_ORG]
    ),
    "documents by id": lambda c: document_store.documents_by_id(
        c, "webhook", [(ORG, DOC), (OTHER_ORG, str(uuid.uuid4()))]
    ),
    "undispatched events": lambda c: event_store.undispatched_events(c, 100),
    "event list by org": lambda c: event_store.list_events(
        c, ORG, event_store.EventQuery(), before_seq=None, limit=10
    ),
    "run claims": lambda c: run_store.claim_due(
        c, now=NOW, lease_until=NOW, owner="owner", limit=10, skip_destinations=[DOC]
    ),
    "finish attempts": lambda c: run_store.finish_attempts(
        c, [run_store.FinishedAttempt(RUN, "COMPLETE", None, None, {"url": "u"})], NOW
    ),
    "lease renewal": lambda c: run_store.renew_leases(c, "owner", [RUN.id], NOW),
    "rule revision read": lambda c: document_store.delivery_config_revision(c, [ORG]),
    "scheduled target claim": lambda c: scheduled_store.claim_due(
        c, now=NOW, not_before=NOW - timedelta(days=1), limit=10
    ),
    "inbox take": lambda c: ingest_store.take_submissions(c, 100),
    "export job claim": lambda c: export_store.claim_job(
        c, now=NOW, lease_until=NOW, owner="owner"
    ),
} | {f"retention of {kind}": _purge_work(purge) for kind, purge in PURGES.items()}


def _index_leads() -> dict[str, str | None]:
    """Each index's first column, or None for a partial index (whose rows are all wanted)."""
    leads: dict[str, str | None] = {}
    for table in metadata.tables.values():
        leads[f"{table.name}_pkey"] = table.primary_key.columns.values()[0].name
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint) and constraint.name:
                leads[str(constraint.name)] = constraint.columns.values()[0].name
        for index in table.indexes:
            partial = index.dialect_options["postgresql"]["where"] is not None
            leads[str(index.name)] = None if partial else index.columns.values()[0].name
    return leads


def _postgres_full_scans(plan: list[str]) -> list[str]:
    """Sequential scans, and index scans not bounded by the index's first column (they read
    the whole index), except on partial indexes."""
    nodes: list[list[str]] = []
    for line in plan:
        if not nodes or "->" in line:
            nodes.append([line])
        else:
            nodes[-1].append(line)
    leads = _index_leads()
    full = []
    for node in nodes:
        used = re.search(r" Scan using (\w+) on ", node[0])
        if "Seq Scan on" in node[0]:
            full.append(node[0])
        elif used and (lead := leads.get(used.group(1), "")) is not None:
            bounds = " ".join(line for line in node if "Index Cond" in line)
            if not re.search(rf"\(?{lead}\)?(::\w+)? (=|<|>|<=|>=) ", bounds):
                full.append(node[0])
    return full


class Rollback(Exception):
    """Leaves the store as it was."""


@asynccontextmanager
async def _rolled_back(db: Database) -> AsyncIterator[AsyncConnection]:
    with contextlib.suppress(Rollback):
        async with db.write() as conn:
            yield conn
            raise Rollback


async def _statements(db: Database, work: Work) -> list[tuple[str, Any]]:
    """The SQL `work` sends, with its first set of parameters."""
    sent: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        sent.append((statement, params[0] if many else params))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with _rolled_back(db) as conn:
            await work(conn)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    return [(s, p) for s, p in sent if re.search(r"\b(SELECT|UPDATE|DELETE)\b", s)]


async def _full_scans(db: Database, statement: str, params: Any) -> list[str]:
    async with _rolled_back(db) as conn:
        if db.dialect == "postgresql":
            await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = [r[0] for r in await conn.exec_driver_sql(f"EXPLAIN {statement}", params)]
            scans = _postgres_full_scans(plan)
        else:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
            plan = [r[3] for r in rows]
            scans = [line for line in plan if re.fullmatch(r"SCAN \w+", line.strip())]
    return [s for s in scans if any(re.search(rf"\b{t}\b", s) for t in LARGE_TABLES)]


@pytest.mark.parametrize("name", list(HOT_PATH))
async def test_hot_path_statements_use_an_index(db: Database, name: str) -> None:
    statements = await _statements(db, HOT_PATH[name])
    assert statements, f"{name} sent no query"
    for statement, params in statements:
        assert await _full_scans(db, statement, params) == [], statement
