"""Events, finished runs and their logs older than the retention period are deleted;
younger ones stay. Expired console sessions go too."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.catalog import entity_by_name
from meterbell.domain.clock import utcnow
from meterbell.domain.ratelimit import FailedSignIns
from meterbell.services import console_users
from meterbell.store.db import Database
from meterbell.workers.dispatcher import Dispatcher
from meterbell.workers.retention import Purge, Retention
from tests.conftest import OrgApi
from tests.factories import minimal_body


async def event_ids(api: OrgApi) -> set[str]:
    return {e["id"] for e in (await api.get("events", params={"pageSize": 100})).json()["data"]}


async def run_ids(api: OrgApi, rule_id: str) -> set[str]:
    response = await api.get(f"integrationruns/Notification/{rule_id}")
    return {r["id"] for r in response.json()["data"]}


async def disabled_run(api: OrgApi, db: Database) -> str:
    """A rule whose integration is off, so its one run is final (DISABLED) at once."""
    rule = await api.post(
        "notifications/configurations",
        {
            "name": "r",
            "code": "r",
            "alwaysFireEvent": True,
            "eventName": "configuration.product.created",
        },
    )
    webhook = await api.post(
        "integrationdestinations/webhooks",
        {
            "name": "w",
            "url": "http://127.0.0.1:9/x",
            "active": False,
            "credentials": {"type": "M3TER_SIGNED_REQUEST", "apiKey": "k", "secret": "s"},
        },
    )
    await api.post(
        "integrationconfigs",
        {
            "entityType": "Notification",
            "entityId": rule.json()["id"],
            "destination": "Webhook",
            "destinationId": webhook.json()["id"],
        },
    )
    await api.post("products", minimal_body(entity_by_name("product")))
    while await Dispatcher(db).step():
        pass
    return str(rule.json()["id"])


async def test_retention_deletes_only_expired_records(api: OrgApi, db: Database) -> None:
    rule_id = await disabled_run(api, db)
    existing_events = await event_ids(api)
    existing_runs = await run_ids(api, rule_id)
    assert len(existing_runs) == 1

    nothing_yet = Retention(db, retention_days=28, now=lambda: utcnow() + timedelta(days=27))
    while await nothing_yet.step():
        pass
    assert await event_ids(api) == existing_events
    assert await run_ids(api, rule_id) == existing_runs

    later = Retention(
        db, retention_days=28, batch_size=2, now=lambda: utcnow() + timedelta(days=29)
    )
    while await later.step():
        pass
    assert await event_ids(api) == set()
    assert await run_ids(api, rule_id) == set()


async def test_retention_deletes_expired_console_sessions_only(api: OrgApi, db: Database) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    user = await console_users.create_user(db, api.org_id, email, None)
    failures = FailedSignIns(limit=100, window_s=60)

    async def session(ttl_s: float) -> str:
        return await console_users.sign_in(
            db, failures, email, user.password, address="192.0.2.1", ttl_s=ttl_s
        )

    short, long = await session(3600), await session(3 * 3600)
    two_hours_on = utcnow() + timedelta(hours=2)
    retention = Retention(db, retention_days=28, now=lambda: two_hours_on)
    while await retention.step():
        pass
    # Asked as of now, when both were still valid: only the expired one is gone.
    assert await console_users.signed_in_user(db, short) is None
    assert await console_users.signed_in_user(db, long) is not None


async def test_while_catching_up_only_the_kinds_still_behind_are_purged(db: Database) -> None:
    left = {"behind": 5, "done": 0}
    calls: list[str] = []

    def purge(name: str) -> Purge:
        async def delete(_conn: AsyncConnection, _cutoff: datetime, limit: int) -> int:
            calls.append(name)
            gone = min(limit, left[name])
            left[name] -= gone
            return gone

        return delete

    retention = Retention(
        db, retention_days=28, batch_size=1, purges={name: purge(name) for name in left}
    )
    while await retention.step():
        pass
    assert left == {"behind": 0, "done": 0}
    assert calls.count("done") == 1, calls
