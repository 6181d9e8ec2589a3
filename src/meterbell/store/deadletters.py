"""Queries on dead letters: counting an item's failures (one open row per item), setting it
aside, listing and replaying."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.deadletters import DeadLetter, Worker, WorkItem
from meterbell.store.tables import OPEN_DEAD_LETTER, dead_letters
from meterbell.store.upsert import insert_or_merge


@dataclass(frozen=True)
class DeadLetterQuery:
    worker: Worker | None = None
    replayed: bool | None = None


def _from_row(row: Any) -> DeadLetter:
    return DeadLetter(
        seq=row.seq,
        id=row.id,
        org_id=row.org_id,
        worker=Worker(row.worker),
        item_id=row.item_id,
        error=row.error,
        payload=row.payload,
        attempts=row.attempts,
        dt_created=row.dt_created,
        dt_last_failed=row.dt_last_failed,
        dt_set_aside=row.dt_set_aside,
        dt_replayed=row.dt_replayed,
        replayed_by=row.replayed_by,
    )


async def count_failure(
    conn: AsyncConnection,
    item: WorkItem,
    error: str,
    now: datetime,
    *,
    attempts: int | None = None,
) -> DeadLetter:
    """One more failure of `item` (or its `attempts` in all, when its worker counts them):
    its open row, created on the first failure."""
    statement = insert_or_merge(conn, dead_letters).values(
        id=str(uuid.uuid4()),
        org_id=item.org_id,
        worker=item.worker,
        item_id=item.item_id,
        error=error,
        attempts=attempts or 1,
        dt_created=now,
        dt_last_failed=now,
    )
    counted = statement.excluded.attempts if attempts else dead_letters.c.attempts + 1
    upsert = statement.on_conflict_do_update(
        index_elements=[dead_letters.c.worker, dead_letters.c.item_id],
        index_where=OPEN_DEAD_LETTER,
        set_={
            "attempts": counted,
            "error": statement.excluded.error,
            "dt_last_failed": statement.excluded.dt_last_failed,
        },
    ).returning(*dead_letters.c)
    return _from_row((await conn.execute(upsert)).one())


async def set_aside(
    conn: AsyncConnection, letter_id: str, payload: str | None, now: datetime
) -> None:
    await conn.execute(
        update(dead_letters)
        .where(dead_letters.c.id == letter_id)
        .values(dt_set_aside=now, payload=payload)
    )


async def forget_failures(conn: AsyncConnection, item: WorkItem) -> None:
    """The item went through after failing: its count starts again."""
    await conn.execute(
        delete(dead_letters).where(
            (dead_letters.c.worker == item.worker)
            & (dead_letters.c.item_id == item.item_id)
            & dead_letters.c.dt_set_aside.is_(None)
        )
    )


async def set_aside_items(conn: AsyncConnection, worker: Worker) -> set[str]:
    """Ids of the worker's items that are set aside and not replayed."""
    rows = await conn.execute(
        select(dead_letters.c.item_id).where(
            (dead_letters.c.worker == worker)
            & dead_letters.c.dt_set_aside.is_not(None)
            & dead_letters.c.dt_replayed.is_(None)
        )
    )
    return set(rows.scalars())


def _conditions(org_id: str, query: DeadLetterQuery) -> list[ColumnElement[bool]]:
    conditions = [dead_letters.c.org_id == org_id, dead_letters.c.dt_set_aside.is_not(None)]
    if query.worker is not None:
        conditions.append(dead_letters.c.worker == query.worker)
    if query.replayed is not None:
        replayed = dead_letters.c.dt_replayed
        conditions.append(replayed.is_not(None) if query.replayed else replayed.is_(None))
    return conditions


async def list_dead_letters(
    conn: AsyncConnection,
    org_id: str,
    query: DeadLetterQuery,
    *,
    before_seq: int | None,
    limit: int,
) -> list[DeadLetter]:
    """The organization's dead letters, newest first, continuing below `before_seq`."""
    statement = select(dead_letters).where(*_conditions(org_id, query))
    if before_seq is not None:
        statement = statement.where(dead_letters.c.seq < before_seq)
    rows = await conn.execute(statement.order_by(dead_letters.c.seq.desc()).limit(limit))
    return [_from_row(row) for row in rows]


async def get_dead_letter(
    conn: AsyncConnection, org_id: str | None, letter_id: str
) -> DeadLetter | None:
    """The dead letter, in the organization (None: in any, or in none, for operators)."""
    statement = select(dead_letters).where(
        (dead_letters.c.id == letter_id) & dead_letters.c.dt_set_aside.is_not(None)
    )
    if org_id is not None:
        statement = statement.where(dead_letters.c.org_id == org_id)
    row = (await conn.execute(statement)).first()
    return _from_row(row) if row else None


async def unreplayed_dead_letters(conn: AsyncConnection) -> list[DeadLetter]:
    """Every organization's dead letters not yet replayed, and those of none, oldest first."""
    rows = await conn.execute(
        select(dead_letters)
        .where(dead_letters.c.dt_set_aside.is_not(None) & dead_letters.c.dt_replayed.is_(None))
        .order_by(dead_letters.c.seq)
    )
    return [_from_row(row) for row in rows]


async def mark_replayed(conn: AsyncConnection, letter_id: str, actor: str, now: datetime) -> bool:
    """False when someone replayed it first."""
    result = await conn.execute(
        update(dead_letters)
        .where((dead_letters.c.id == letter_id) & dead_letters.c.dt_replayed.is_(None))
        .values(dt_replayed=now, replayed_by=actor)
    )
    return bool(result.rowcount)


async def delete_dead_letters_before(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` rows that stopped mattering before `cutoff`: replayed dead letters,
    and failure counts of items that were never set aside."""
    doomed = (
        select(dead_letters.c.seq)
        .where(
            ((dead_letters.c.dt_replayed < cutoff) | dead_letters.c.dt_set_aside.is_(None))
            & (dead_letters.c.dt_last_failed < cutoff)
        )
        .limit(limit)
    )
    result = await conn.execute(
        delete(dead_letters).where(dead_letters.c.seq.in_(doomed.scalar_subquery()))
    )
    return int(result.rowcount)
