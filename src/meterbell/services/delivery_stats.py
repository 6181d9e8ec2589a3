"""Delivery figures for the console's dashboard: attempts per minute over the last hour and
the last day (succeeded and failed), p50/p99 attempt latency over the last hour, and the
dispatch lag (age of the oldest event no dispatcher has handled yet).

One query reads the attempts of the organization's runs open in the last day (three fields
of each log); the bucketing is done here, in Python, so SQLite and PostgreSQL give the same
numbers without date functions of their own."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from meterbell.domain.clock import as_utc
from meterbell.store import events as event_store
from meterbell.store import runs as run_store
from meterbell.store.db import Database

HOUR_MINUTES, DAY_MINUTES = 60, 24 * 60


@dataclass(frozen=True)
class DeliveryWindow:
    """Attempts per minute, oldest minute first, over `minutes` minutes ending now."""

    minutes: int
    start: datetime
    succeeded: list[int]
    failed: list[int]

    @property
    def total_succeeded(self) -> int:
        return sum(self.succeeded)

    @property
    def total_failed(self) -> int:
        return sum(self.failed)


@dataclass(frozen=True)
class DeliveryStats:
    hour: DeliveryWindow
    day: DeliveryWindow
    p50_ms: float | None
    p99_ms: float | None
    dispatch_lag_s: float | None


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile (None of no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _window(facts: list[tuple[datetime, bool]], now: datetime, minutes: int) -> DeliveryWindow:
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    succeeded, failed = [0] * minutes, [0] * minutes
    for at, ok in facts:
        index = int((at - start).total_seconds() // 60)
        if 0 <= index < minutes:
            (succeeded if ok else failed)[index] += 1
    return DeliveryWindow(minutes, start, succeeded, failed)


async def delivery_stats(db: Database, org_id: str, now: datetime) -> DeliveryStats:
    now = as_utc(now)
    day_ago = now - timedelta(minutes=DAY_MINUTES)
    async with db.read() as conn:
        attempts = await run_store.attempts_of_runs_open_since(conn, org_id, day_ago)
        oldest = await event_store.oldest_undispatched_time(conn, org_id)
    facts = [(as_utc(datetime.fromisoformat(a.at)), a) for a in attempts]
    hour_ago = now - timedelta(minutes=HOUR_MINUTES)
    # An attempt that never reached the network (it raised) has no latency to speak of.
    latencies = [a.duration_ms for at, a in facts if at > hour_ago and a.duration_ms > 0]
    outcomes = [(at, a.succeeded) for at, a in facts]
    return DeliveryStats(
        hour=_window(outcomes, now, HOUR_MINUTES),
        day=_window(outcomes, now, DAY_MINUTES),
        p50_ms=percentile(latencies, 0.5),
        p99_ms=percentile(latencies, 0.99),
        dispatch_lag_s=None if oldest is None else max(0.0, (now - as_utc(oldest)).total_seconds()),
    )
