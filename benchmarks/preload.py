"""Fill a store with history, fast: `count` accounts and `count` events of one organization,
written straight into the tables in large batches (the API would take hours for a million).

The events are `configuration.account.created`, already dispatched, so live work does not see
them except through the store's size. `expired=True` dates them before the retention window,
so that retention deletes them once it runs (benchmarks/e2e.py `--preload-expired`).

    .venv/bin/python benchmarks/preload.py DATABASE_URL ORG_ID COUNT [--expired]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from meterbell.config import async_driver_url
from meterbell.store import tables
from meterbell.store.db import Database
from meterbell.store.events import EventRow, insert_events

BATCH = 5_000
EVENT_NAME = "configuration.account.created"


def account(n: int, account_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": account_id,
        "version": 1,
        "code": f"preloaded-{n}",
        "name": f"Preloaded account {n}",
        "address": {"addressLine1": f"{n} Benchmark Street", "locality": "London"},
        "emailAddress": f"billing+{n}@example.com",
        "currency": "USD",
        "daysBeforeBillDue": 30,
        "customFields": {"tier": n % 5, "region": "eu-west"},
        "dtCreated": now.isoformat(),
        "dtLastModified": now.isoformat(),
    }


def created_event(org_id: str, dto: dict[str, Any], at: datetime) -> EventRow:
    event_id = str(uuid.uuid4())
    return EventRow(
        id=event_id,
        org_id=org_id,
        event_name=EVENT_NAME,
        category="configuration",
        event_time=at,
        m3ter_event={"eventName": EVENT_NAME, "eventData": {"newDto": dto, "oldDto": None}},
        resource_id=dto["id"],
        account_id=dto["id"],
        dispatched_at=at,
    )


async def preload(
    database_url: str, org_id: str, count: int, *, expired: bool, retention_days: int = 28
) -> float:
    """Write the history; the seconds it took."""
    db = Database(async_driver_url(database_url))
    started = time.perf_counter()
    now = datetime.now(UTC)
    oldest = now - timedelta(days=retention_days + 2 if expired else 1)
    try:
        for first in range(0, count, BATCH):
            size = min(BATCH, count - first)
            dtos = [account(first + i, str(uuid.uuid4()), now) for i in range(size)]
            times = [oldest + timedelta(seconds=(first + i) % 86_400) for i in range(size)]
            async with db.write() as conn:
                await conn.execute(
                    tables.entities.insert(),
                    [
                        {
                            "org_id": org_id,
                            "entity_type": "Account",
                            "id": dto["id"],
                            "code": dto["code"],
                            "version": 1,
                            "data": dto,
                        }
                        for dto in dtos
                    ],
                )
                await insert_events(
                    conn, [created_event(org_id, d, t) for d, t in zip(dtos, times, strict=True)]
                )
    finally:
        await db.dispose()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("org_id")
    parser.add_argument("count", type=int)
    parser.add_argument("--expired", action="store_true", help="older than retention keeps")
    args = parser.parse_args()
    took = asyncio.run(preload(args.database_url, args.org_id, args.count, expired=args.expired))
    print(f"preloaded {args.count} accounts and events in {took:.1f} s")


if __name__ == "__main__":
    main()
