"""The dashboard's delivery figures, from attempts, events and integration configurations in
a real store (both)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import insert

from meterbell.domain.clock import isoformat, utcnow
from meterbell.domain.integrations import RunStatus
from meterbell.services import integrations
from meterbell.services.delivery_stats import delivery_stats, percentile
from meterbell.services.webhooks import INTEGRATION
from meterbell.store import documents as document_store
from meterbell.store import events as event_store
from meterbell.store import runs as run_store
from meterbell.store.db import Database
from meterbell.store.tables import run_attempts


def _run(org_id: str, completed: datetime | None, now: datetime) -> run_store.RunRow:
    return run_store.RunRow(
        id=str(uuid.uuid4()),
        org_id=org_id,
        config_id="config",
        entity_type="Notification",
        entity_id="rule",
        destination="Webhook",
        destination_id="webhook",
        event_id=str(uuid.uuid4()),
        status=RunStatus.COMPLETE if completed else RunStatus.WAITING,
        body="{}",
        dt_created=now - timedelta(days=3),
        dt_completed=completed,
    )


async def _put_run(
    db: Database, run: run_store.RunRow, attempts: list[tuple[datetime, float, str | None]]
) -> None:
    async with db.write() as conn:
        await run_store.insert_runs(conn, [run])
        await conn.execute(
            insert(run_attempts),
            [
                {
                    "run_id": run.id,
                    "attempt": n,
                    "log": {"at": isoformat(at), "durationMs": ms, "error": error},
                }
                for n, (at, ms, error) in enumerate(attempts, 1)
            ],
        )


async def test_attempts_counted_per_minute_with_latency_and_lag(db: Database) -> None:
    org_id, other_org = str(uuid.uuid4()), str(uuid.uuid4())
    now = utcnow().replace(second=30, microsecond=0)
    # Failed twice 2 hours ago, then succeeded 5 minutes ago.
    await _put_run(
        db,
        _run(org_id, now - timedelta(minutes=5), now),
        [
            (now - timedelta(hours=2), 1000.0, "HTTP 500"),
            (now - timedelta(hours=2, seconds=-10), 3000.0, "HTTP 500"),
            (now - timedelta(minutes=5), 20.0, None),
        ],
    )
    # Still waiting: one success now (another run's retry) and one that raised (0 ms).
    await _put_run(db, _run(org_id, None, now), [(now, 40.0, None), (now, 0.0, "raised")])
    # Completed two days ago: outside both windows, and not even read.
    await _put_run(
        db, _run(org_id, now - timedelta(days=2), now), [(now - timedelta(days=2), 5.0, None)]
    )
    # Another organization's attempt.
    await _put_run(db, _run(other_org, None, now), [(now, 9.0, "HTTP 500")])

    stats = await delivery_stats(db, org_id, now)

    assert (stats.hour.total_succeeded, stats.hour.total_failed) == (2, 1)
    assert (stats.day.total_succeeded, stats.day.total_failed) == (2, 3)
    assert len(stats.hour.succeeded) == 60
    assert len(stats.day.succeeded) == 24 * 60
    assert stats.hour.succeeded[-1] == 1
    assert stats.hour.failed[-1] == 1
    assert stats.hour.succeeded[-6] == 1
    assert stats.day.failed[-121] == 2
    assert (stats.p50_ms, stats.p99_ms) == (20.0, 40.0)
    assert stats.dispatch_lag_s is None


async def test_dispatch_lag_is_the_age_of_the_oldest_undispatched_event(db: Database) -> None:
    org_id, now = str(uuid.uuid4()), utcnow()

    def event(age_s: int, dispatched: bool) -> event_store.EventRow:
        return event_store.EventRow(
            id=str(uuid.uuid4()),
            org_id=org_id,
            event_name="configuration.meter.created",
            category="configuration",
            event_time=now - timedelta(seconds=age_s),
            m3ter_event={},
            dispatched_at=now if dispatched else None,
        )

    async with db.write() as conn:
        await event_store.insert_events(
            conn, [event(300, True), event(90, False), event(10, False)]
        )

    stats = await delivery_stats(db, org_id, now)

    assert stats.dispatch_lag_s is not None
    assert abs(stats.dispatch_lag_s - 90) < 1
    assert (stats.hour.total_succeeded, stats.p50_ms) == (0, None)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5.0, 1.0, 3.0, 2.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 0.99) == 99.0


async def test_disabled_integrations_are_counted_per_organization(db: Database) -> None:
    org_id, other_org = str(uuid.uuid4()), str(uuid.uuid4())
    async with db.write() as conn:
        for org, enabled in ((org_id, False), (org_id, True), (org_id, False), (other_org, False)):
            await document_store.insert_entity(
                conn,
                org,
                INTEGRATION.name,
                {"id": str(uuid.uuid4()), "version": 1, "enabled": enabled},
            )

    assert await integrations.count_disabled(db, org_id) == 2
    assert await integrations.count_disabled(db, str(uuid.uuid4())) == 0
