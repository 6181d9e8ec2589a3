"""Queries of usage ingest: the inbox of accepted submissions, measurements, the uids seen
for the duplicate check, failed measurements, and the meter and account look-ups validation
needs (meters and accounts are documents in the entities table)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from sqlalchemy import (
    ARRAY,
    String,
    Text,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.clock import as_utc
from meterbell.domain.documents import DocumentKind
from meterbell.metrics import MEASUREMENTS_FAILED, MEASUREMENTS_INGESTED
from meterbell.store.db import after_commit, wake_after_commit
from meterbell.store.tables import (
    Timestamp,
    entities,
    ingest_failures,
    measurement_inbox,
    measurement_uids,
    measurements,
)
from meterbell.store.upsert import insert_or_merge
from meterbell.store.wakeups import Wakeup

# Inbox rows looked at per claim: enough to fill a batch from small submissions.
CLAIM_WINDOW = 200
SQLITE_INSERT = (
    "INSERT INTO measurements (org_id, meter_id, account_id, uid, ts, ets, received_at, fields) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class Submission:
    """One accepted request, as the validator takes it from the inbox."""

    seq: int
    org_id: str
    received_at: datetime
    body: str


async def add_submission(
    conn: AsyncConnection, org_id: str, received_at: datetime, count: int, body: str
) -> None:
    await conn.execute(
        insert(measurement_inbox).values(
            org_id=org_id, received_at=received_at, item_count=count, body=body
        )
    )
    wake_after_commit(conn, Wakeup.MEASUREMENTS_RECEIVED)


def _batch_seqs(rows: Sequence[Any], max_items: int) -> list[int]:
    """The oldest submissions that together hold at most `max_items` (at least one)."""
    chosen: list[int] = []
    total = 0
    for row in rows:
        if chosen and total + row.item_count > max_items:
            break
        chosen.append(row.seq)
        total += row.item_count
    return chosen


async def take_submissions(conn: AsyncConnection, max_items: int) -> list[Submission]:
    """Remove and return the oldest submissions, up to `max_items` measurements in all.

    On PostgreSQL the rows are locked and skipped by other validators; the caller's
    transaction is the claim, so a validator that dies leaves them in the inbox.
    """
    candidates = (
        select(measurement_inbox.c.seq, measurement_inbox.c.item_count)
        .order_by(measurement_inbox.c.seq)
        .limit(CLAIM_WINDOW)
    )
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    return await _take(conn, _batch_seqs((await conn.execute(candidates)).all(), max_items))


async def take_submission(conn: AsyncConnection, seq: int) -> list[Submission]:
    """Remove and return the submission at `seq` (none if another validator has it)."""
    candidate = select(measurement_inbox.c.seq).where(measurement_inbox.c.seq == seq)
    if conn.dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    return await _take(conn, list((await conn.execute(candidate)).scalars()))


async def _take(conn: AsyncConnection, seqs: list[int]) -> list[Submission]:
    if not seqs:
        return []
    taken = await conn.execute(
        delete(measurement_inbox)
        .where(measurement_inbox.c.seq.in_(seqs))
        .returning(
            measurement_inbox.c.seq,
            measurement_inbox.c.org_id,
            measurement_inbox.c.received_at,
            measurement_inbox.c.body,
        )
    )
    return sorted((Submission(*row) for row in taken), key=lambda s: s.seq)


def _sqlite_datetime(value: datetime | None) -> str | None:
    """The text SQLAlchemy keeps in a SQLite DateTime column: `2026-11-23 10:00:00.000000`."""
    return None if value is None else as_utc(value).isoformat(" ", "microseconds")[:26]


def _sqlite_measurement(row: dict[str, Any]) -> tuple[Any, ...]:
    """The row's values in `SQLITE_INSERT`'s order, as SQLAlchemy would have bound them."""
    return (
        row["org_id"],
        row["meter_id"],
        row["account_id"],
        row["uid"],
        _sqlite_datetime(row["ts"]),
        _sqlite_datetime(row["ets"]),
        _sqlite_datetime(row["received_at"]),
        orjson.dumps(row["fields"]).decode(),
    )


async def insert_measurements(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Each row: the `measurements` columns but `seq`. On SQLite the rows go to the driver as
    they are: SQLAlchemy's per-row parameter processing was about a quarter of the
    validator's Python time in profiles."""
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql(SQLITE_INSERT, [_sqlite_measurement(row) for row in rows])
    else:
        await conn.execute(insert(measurements), list(rows))
    after_commit(conn, partial(MEASUREMENTS_INGESTED.inc, len(rows)))


def _uid_values(conn: AsyncConnection, uids: Collection[str]) -> Any:
    """The uids as a one-column table from a single parameter (no per-row parameters)."""
    if conn.dialect.name == "postgresql":
        values = bindparam("uids", list(uids), type_=ARRAY(String))
        return func.unnest(values).table_valued("value").render_derived()
    payload = orjson.dumps(list(uids)).decode()
    return func.json_each(bindparam("uids", payload, type_=Text)).table_valued("value")


async def claim_uids(
    conn: AsyncConnection, org_id: str, uids: Collection[str], now: datetime, since: datetime
) -> set[str]:
    """Record `uids` as seen at `now`; returns those not already seen since `since`.

    One statement, so two validators cannot both claim a uid: the second waits for the first
    to commit, then finds the uid taken. A uid last seen before `since` is taken over.
    """
    if not uids:
        return set()
    source = _uid_values(conn, uids)
    rows = select(literal(org_id, String), source.c.value, literal(now, Timestamp)).where(true())
    statement = insert_or_merge(conn, measurement_uids).from_select(
        ["org_id", "uid", "seen_at"], rows
    )
    claim = statement.on_conflict_do_update(
        index_elements=[measurement_uids.c.org_id, measurement_uids.c.uid],
        set_={"seen_at": statement.excluded.seen_at},
        where=measurement_uids.c.seen_at < since,
    ).returning(measurement_uids.c.uid)
    return set((await conn.execute(claim)).scalars())


async def insert_failures(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(insert(ingest_failures), list(rows))
        after_commit(conn, partial(MEASUREMENTS_FAILED.inc, len(rows)))


async def get_failure(conn: AsyncConnection, org_id: str, failure_id: str) -> Any | None:
    return (
        await conn.execute(
            select(ingest_failures).where(
                (ingest_failures.c.org_id == org_id) & (ingest_failures.c.id == failure_id)
            )
        )
    ).first()


async def delete_failures_before(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    doomed = select(ingest_failures.c.id).where(ingest_failures.c.dt_created < cutoff).limit(limit)
    result = await conn.execute(
        delete(ingest_failures).where(ingest_failures.c.id.in_(doomed.scalar_subquery()))
    )
    return int(result.rowcount)


async def delete_uids_before(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    # The keys first, then a delete by key: PostgreSQL may answer a delete with an IN subquery
    # by hashing the subquery and reading the whole primary key index.
    doomed = [
        (row.org_id, row.uid)
        for row in await conn.execute(
            select(measurement_uids.c.org_id, measurement_uids.c.uid)
            .where(measurement_uids.c.seen_at < cutoff)
            .limit(limit)
        )
    ]
    if doomed:
        key = tuple_(measurement_uids.c.org_id, measurement_uids.c.uid)
        await conn.execute(delete(measurement_uids).where(key.in_(doomed)))
    return len(doomed)


async def meter_versions(conn: AsyncConnection, org_id: str) -> dict[str, tuple[str, int]]:
    """`{code: (id, version)}` of the organization's meters."""
    rows = await conn.execute(
        select(entities.c.code, entities.c.id, entities.c.version).where(
            (entities.c.org_id == org_id) & (entities.c.entity_type == DocumentKind.METER)
        )
    )
    return {row.code: (row.id, row.version) for row in rows if row.code is not None}


async def account_ids(conn: AsyncConnection, org_id: str, codes: Collection[str]) -> dict[str, str]:
    """`{code: id}` of the organization's accounts with exactly these codes."""
    rows = await conn.execute(
        select(entities.c.code, entities.c.id).where(
            (entities.c.org_id == org_id)
            & (entities.c.entity_type == DocumentKind.ACCOUNT)
            & entities.c.code.in_(list(codes))
        )
    )
    return {row.code: row.id for row in rows}


async def account_codes_folded(
    conn: AsyncConnection, org_id: str, folded: Collection[str]
) -> dict[str, str]:
    """`{lower-cased code: code}` of accounts whose lower-cased code is in `folded`.

    SQLite's lower() folds ASCII letters only, PostgreSQL's every letter.
    """
    rows = await conn.execute(
        select(entities.c.code).where(
            (entities.c.org_id == org_id)
            & (entities.c.entity_type == DocumentKind.ACCOUNT)
            & func.lower(entities.c.code).in_(list(folded))
        )
    )
    return {code.lower(): code for code in rows.scalars() if code is not None}
