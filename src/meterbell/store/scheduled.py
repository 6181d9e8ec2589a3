"""Queries for scheduled events: the due-time index (`scheduled_event_targets`), the lock that
keeps it in step with concurrent writers, and the date values it is computed from.

A target is one (configuration, entity, due time). Writers replace an entity's or a
configuration's unfired targets; the scheduler claims due unfired targets, oldest first, and
marks them fired. The unique key on (configuration, entity, due time) keeps a fired target from
ever being added again, so each fires at most once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.clock import as_utc
from meterbell.domain.documents import DocumentKind
from meterbell.store.tables import entities, scheduled_targets
from meterbell.store.upsert import insert_or_merge


@dataclass(frozen=True)
class Target:
    org_id: str
    config_id: str
    entity_type: str
    entity_id: str
    due_at: datetime


@dataclass(frozen=True)
class DueTarget:
    """A claimed target with the configuration and the entity as they are now."""

    seq: int
    target: Target
    configuration: dict[str, Any]
    entity: dict[str, Any]


def _lock_key(org_id: str) -> int:
    digest = hashlib.blake2b(f"scheduled:{org_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_organization(conn: AsyncConnection, org_id: str, *, exclusive: bool) -> None:
    """Order this transaction against others that change the organization's targets.

    Entity writes take the lock shared, configuration writes exclusive: a configuration then
    sees every committed entity, and an entity write every committed configuration, so no
    target is missed or left behind. PostgreSQL only; SQLite runs one writer at a time.
    """
    if conn.dialect.name != "postgresql":
        return
    lock = func.pg_advisory_xact_lock if exclusive else func.pg_advisory_xact_lock_shared
    await conn.execute(select(lock(_lock_key(org_id))))


async def field_values(
    conn: AsyncConnection, org_id: str, entity_type: str, field: str
) -> list[tuple[str, Any]]:
    """(id, value of `field`) of every entity of a type in the organization."""
    rows = await conn.execute(
        select(entities.c.id, entities.c.data[field].as_string()).where(
            (entities.c.org_id == org_id) & (entities.c.entity_type == entity_type)
        )
    )
    return [(row[0], row[1]) for row in rows]


async def _replace_unfired(
    conn: AsyncConnection, scope: ColumnElement[bool], targets: Sequence[Target]
) -> None:
    """The unfired targets in `scope` become `targets`, except those that already fired."""
    await conn.execute(
        delete(scheduled_targets).where(scope & scheduled_targets.c.fired_at.is_(None))
    )
    if targets:
        rows = [
            {
                "org_id": t.org_id,
                "config_id": t.config_id,
                "entity_type": t.entity_type,
                "entity_id": t.entity_id,
                "due_at": t.due_at,
            }
            for t in targets
        ]
        await conn.execute(insert_or_merge(conn, scheduled_targets).on_conflict_do_nothing(), rows)


def _of_entity(org_id: str, entity_type: str, entity_id: str) -> ColumnElement[bool]:
    return (
        (scheduled_targets.c.org_id == org_id)
        & (scheduled_targets.c.entity_type == entity_type)
        & (scheduled_targets.c.entity_id == entity_id)
    )


async def replace_entity_targets(
    conn: AsyncConnection, org_id: str, entity_type: str, entity_id: str, targets: list[Target]
) -> None:
    await _replace_unfired(conn, _of_entity(org_id, entity_type, entity_id), targets)


async def replace_configuration_targets(
    conn: AsyncConnection, config_id: str, targets: list[Target]
) -> None:
    await _replace_unfired(conn, scheduled_targets.c.config_id == config_id, targets)


async def delete_unfired_entity_targets(
    conn: AsyncConnection, org_id: str, entity_type: str, entity_id: str
) -> None:
    await _replace_unfired(conn, _of_entity(org_id, entity_type, entity_id), [])


async def delete_configuration_targets(conn: AsyncConnection, config_id: str) -> None:
    await conn.execute(delete(scheduled_targets).where(scheduled_targets.c.config_id == config_id))


def due_query(
    *, now: datetime, not_before: datetime, limit: int, seq: int | None = None
) -> Select[Any]:
    """Unfired targets due in [not_before, now], oldest first, with their configuration and
    entity, read through the index of unfired due times."""
    configurations = entities.alias("configurations")
    subjects = entities.alias("subjects")
    t = scheduled_targets.c
    statement = (
        select(scheduled_targets, configurations.c.data.label("configuration"), subjects.c.data)
        .join(
            configurations,
            (configurations.c.org_id == t.org_id)
            & (configurations.c.entity_type == DocumentKind.SCHEDULED_EVENT)
            & (configurations.c.id == t.config_id),
        )
        .join(
            subjects,
            (subjects.c.org_id == t.org_id)
            & (subjects.c.entity_type == t.entity_type)
            & (subjects.c.id == t.entity_id),
        )
        .where(t.fired_at.is_(None) & (t.due_at <= now) & (t.due_at >= not_before))
        .order_by(t.due_at)
        .limit(limit)
    )
    return statement if seq is None else statement.where(t.seq == seq)


async def claim_due(
    conn: AsyncConnection,
    *,
    now: datetime,
    not_before: datetime,
    limit: int,
    seq: int | None = None,
) -> list[DueTarget]:
    """The due targets (or the one at `seq`, if due), locked against other schedulers
    (PostgreSQL skips rows another scheduler holds; SQLite has one writer at a time)."""
    statement = due_query(now=now, not_before=not_before, limit=limit, seq=seq)
    if conn.dialect.name == "postgresql":
        statement = statement.with_for_update(of=scheduled_targets, skip_locked=True)
    return [
        DueTarget(
            seq=row.seq,
            target=Target(
                row.org_id, row.config_id, row.entity_type, row.entity_id, as_utc(row.due_at)
            ),
            configuration=dict(row.configuration),
            entity=dict(row.data),
        )
        for row in await conn.execute(statement)
    ]


async def mark_fired(conn: AsyncConnection, seqs: Sequence[int], at: datetime) -> None:
    await conn.execute(
        update(scheduled_targets).where(scheduled_targets.c.seq.in_(seqs)).values(fired_at=at)
    )


async def fire_again(conn: AsyncConnection, org_id: str, seq: int) -> None:
    """Put a set-aside target back: it fires on the scheduler's next pass if still due."""
    await conn.execute(
        update(scheduled_targets)
        .where((scheduled_targets.c.org_id == org_id) & (scheduled_targets.c.seq == seq))
        .values(fired_at=None)
    )


async def delete_targets_due_before(conn: AsyncConnection, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` targets due before `cutoff` (fired or too old to fire)."""
    doomed = select(scheduled_targets.c.seq).where(scheduled_targets.c.due_at < cutoff).limit(limit)
    result = await conn.execute(
        delete(scheduled_targets).where(scheduled_targets.c.seq.in_(doomed.scalar_subquery()))
    )
    return int(result.rowcount)
