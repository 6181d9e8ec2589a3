"""Delivery lanes: the destinations whose runs go in order, or under a rate limit.

A lane row exists for each webhook destination that has had `ordered` or
`maxRequestsPerSecond` set, so that every worker process honours them together:

- **Ordered.** The destination's unfinished runs carry its id in `lane`. Only the lane's head
  (the lowest event seq, then run seq) may be claimed, and only once no older event of its
  organization is still waiting for dispatch (it could yet make an earlier run).
- **Rate-limited.** Each start takes the lane's next free slot, 1/rate apart, in the lane row
  (locked while it is read and moved on PostgreSQL). A run whose slot is still to come waits,
  RATE_LIMIT_RETRY, due at its slot, which it keeps.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.clock import as_utc
from meterbell.store.tables import delivery_lanes, events, integration_runs
from meterbell.store.upsert import insert_or_merge


@dataclass
class RateLimit:
    per_second: float
    next_start_at: datetime | None

    def take_slot(self, now: datetime) -> datetime:
        """The next free start (now, or later when the last ones were too recent), taken."""
        start = max(now, self.next_start_at) if self.next_start_at else now
        self.next_start_at = start + timedelta(seconds=1 / self.per_second)
        return start


async def set_lane(
    conn: AsyncConnection,
    org_id: str,
    destination_id: str,
    *,
    ordered: bool,
    max_per_second: float | None,
) -> None:
    """Make the destination's lane match its settings, and its unfinished runs its order:
    turning `ordered` on queues the runs not yet sent behind each other; turning it off frees
    them (and every older run of the lane, so none is ever left in a lane no one serves)."""
    values = {"org_id": org_id, "ordered": ordered, "max_per_second": max_per_second}
    if ordered or max_per_second is not None:
        await conn.execute(
            insert_or_merge(conn, delivery_lanes)
            .values(destination_id=destination_id, **values)
            .on_conflict_do_update(index_elements=["destination_id"], set_=values)
        )
    else:  # a lane once made is kept, so that a run a racing writer put in it still goes
        await conn.execute(
            update(delivery_lanes)
            .where(delivery_lanes.c.destination_id == destination_id)
            .values(**values)
        )
    runs = integration_runs.c
    of_destination = (runs.org_id == org_id) & (runs.destination_id == destination_id)
    if ordered:
        await conn.execute(
            update(integration_runs)
            .where(of_destination & runs.next_attempt_at.is_not(None) & runs.lane.is_(None))
            .values(lane=destination_id)
        )
    else:
        await conn.execute(
            update(integration_runs)
            .where(of_destination & (runs.lane == destination_id))
            .values(lane=None)
        )


async def ordered_destinations(conn: AsyncConnection, destination_ids: Collection[str]) -> set[str]:
    """Which of these destinations deliver in order."""
    if not destination_ids:
        return set()
    rows = await conn.execute(
        select(delivery_lanes.c.destination_id).where(
            delivery_lanes.c.destination_id.in_(list(destination_ids)) & delivery_lanes.c.ordered
        )
    )
    return {row.destination_id for row in rows}


async def due_heads(
    conn: AsyncConnection, now: datetime, limit: int, skip_destinations: Collection[str] = ()
) -> list[int]:
    """The seqs of lane heads that are due, oldest first: at most one run per lane.

    Every lane row is looked at, not only ordered ones, so a run queued in a lane whose
    order was just turned off still goes (one at a time) rather than waiting for ever."""
    runs = integration_runs.c
    head = (
        select(runs.seq)
        .where(
            (runs.lane == delivery_lanes.c.destination_id)
            & runs.next_attempt_at.is_not(None)
            & runs.lane.is_not(None)
        )
        .order_by(runs.event_seq, runs.seq)
        .limit(1)
        .scalar_subquery()
    )
    lanes = select(head).select_from(delivery_lanes)
    if skip_destinations:
        lanes = lanes.where(delivery_lanes.c.destination_id.not_in(list(skip_destinations)))
    heads = [seq for (seq,) in await conn.execute(lanes) if seq is not None]
    if not heads:
        return []
    older_event_waiting = exists().where(
        events.c.dispatched_at.is_(None)
        & (events.c.seq < runs.event_seq)
        & (events.c.org_id == runs.org_id)
    )
    due = (
        select(runs.seq)
        .where(runs.seq.in_(heads) & (runs.next_attempt_at <= now) & ~older_event_waiting)
        .order_by(runs.next_attempt_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    return [row.seq for row in await conn.execute(due)]


async def rate_limits(
    conn: AsyncConnection, destination_ids: Collection[str]
) -> dict[str, RateLimit]:
    """The rate limits of these destinations, locked until the transaction ends (PostgreSQL)
    so that two workers never hand out the same slot."""
    if not destination_ids:
        return {}
    query = (
        select(
            delivery_lanes.c.destination_id,
            delivery_lanes.c.max_per_second,
            delivery_lanes.c.next_start_at,
        )
        .where(
            delivery_lanes.c.destination_id.in_(sorted(destination_ids))
            & delivery_lanes.c.max_per_second.is_not(None)
        )
        .order_by(delivery_lanes.c.destination_id)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {
        row.destination_id: RateLimit(
            row.max_per_second, as_utc(row.next_start_at) if row.next_start_at else None
        )
        for row in await conn.execute(query)
    }


async def save_next_starts(conn: AsyncConnection, limits: dict[str, RateLimit]) -> None:
    for destination_id, limit in limits.items():
        await conn.execute(
            update(delivery_lanes)
            .where(delivery_lanes.c.destination_id == destination_id)
            .values(next_start_at=limit.next_start_at)
        )
