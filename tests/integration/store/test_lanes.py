"""Claims and delivery lanes in the store: an ordered lane's head is claimed before a backlog
of other runs, only the head, and only once no older event of its organization waits for
dispatch; a rate-limited destination's runs get slots 1/rate apart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from meterbell.domain.integrations import RunStatus
from meterbell.store import lanes as lane_store
from meterbell.store import runs as run_store
from meterbell.store.db import Database
from meterbell.store.tables import events

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
ORG = str(uuid.uuid4())


def run(destination: str, event_seq: int, lane: str | None = None) -> run_store.RunRow:
    return run_store.RunRow(
        id=str(uuid.uuid4()),
        org_id=ORG,
        config_id=destination,
        entity_type="Notification",
        entity_id=destination,
        destination="Webhook",
        destination_id=destination,
        event_id=str(uuid.uuid4()),
        status=RunStatus.WAITING,
        body="{}",
        dt_created=NOW,
        next_attempt_at=NOW - timedelta(minutes=1),
        lane=lane,
        event_seq=event_seq,
    )


async def claim(db: Database, limit: int, at: datetime = NOW) -> run_store.Claimed:
    async with db.write() as conn:
        return await run_store.claim_due(
            conn, now=at, lease_until=at + timedelta(minutes=2), owner="test", limit=limit
        )


async def ordered_lane(db: Database, destination: str) -> None:
    async with db.write() as conn:
        await lane_store.set_lane(conn, ORG, destination, ordered=True, max_per_second=None)


async def test_an_ordered_head_is_claimed_before_a_backlog_and_alone(own_db: Database) -> None:
    await ordered_lane(own_db, "ordered")
    queue = [run("ordered", seq, lane="ordered") for seq in (3, 1, 2)]
    async with own_db.write() as conn:
        await run_store.insert_runs(conn, [run("other", n) for n in range(5)] + queue)
    first = await claim(own_db, limit=2)
    assert [r.event_seq for r in first.runs if r.lane] == [1]
    assert len(first.runs) == 2
    rest = await claim(own_db, limit=10)
    assert [r.lane for r in rest.runs] == [None] * 4  # the next in the lane waits for its head


async def test_no_head_goes_while_an_older_event_of_its_org_awaits_dispatch(
    own_db: Database,
) -> None:
    await ordered_lane(own_db, "ordered")
    async with own_db.write() as conn:
        await conn.execute(
            insert(events).values(
                id=str(uuid.uuid4()),
                org_id=ORG,
                event_name="configuration.account.updated",
                category="Entity",
                event_time=NOW,
                m3ter_event={},
            )
        )
        await run_store.insert_runs(conn, [run("ordered", 1_000_000, lane="ordered")])
    assert (await claim(own_db, limit=10)).runs == []


async def test_a_capped_destination_gets_one_start_now_and_the_rest_slots_apart(
    own_db: Database,
) -> None:
    async with own_db.write() as conn:
        await lane_store.set_lane(conn, ORG, "capped", ordered=False, max_per_second=4)
        await run_store.insert_runs(conn, [run("capped", n) for n in range(3)])
    first = await claim(own_db, limit=10)
    assert len(first.runs) == 1
    assert first.held_until == [NOW + timedelta(seconds=0.25), NOW + timedelta(seconds=0.5)]
    assert (await claim(own_db, limit=10, at=NOW + timedelta(seconds=0.1))).runs == []
    second = await claim(own_db, limit=10, at=NOW + timedelta(seconds=0.25))
    assert len(second.runs) == 1
    assert second.held_until == []
