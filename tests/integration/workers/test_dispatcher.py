"""The dispatcher drains the outbox oldest first and marks events dispatched exactly once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from meterbell.domain.catalog import entity_by_name
from meterbell.domain.clock import as_utc
from meterbell.store import documents as document_store
from meterbell.store.db import Database
from meterbell.store.tables import entities, events
from meterbell.workers.dispatcher import Dispatcher
from tests.conftest import OrgApi
from tests.factories import minimal_body

FIXED_NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def test_dispatch_marks_every_event_dispatched_not_actioned(
    api: OrgApi, db: Database
) -> None:
    for _ in range(5):
        await api.post("products", minimal_body(entity_by_name("product")))
    dispatcher = Dispatcher(db, batch_size=2, now=lambda: FIXED_NOW)
    while await dispatcher.step():
        pass
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(events.c.dispatched_at, events.c.dt_actioned).where(
                    events.c.org_id == api.org_id
                )
            )
        ).all()
    assert len(rows) >= 5
    assert {(as_utc(dispatched), actioned) for dispatched, actioned in rows} == {(FIXED_NOW, None)}
    pending = await api.get("events", params={"includeActioned": "false", "pageSize": 100})
    assert len(pending.json()["data"]) == len(rows)  # no person has handled them


PRODUCT_CREATED = "configuration.product.created"


async def _rule(api: OrgApi, code: str, **fields: Any) -> dict[str, Any]:
    body = {"name": code, "code": code, "eventName": PRODUCT_CREATED, "alwaysFireEvent": True}
    response = await api.post("notifications/configurations", body | fields)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _webhook(api: OrgApi) -> dict[str, Any]:
    credentials = {"type": "M3TER_SIGNED_REQUEST", "apiKey": "key", "secret": "secret"}
    body = {"name": "hook", "url": "https://hooks.example.com/in", "credentials": credentials}
    response = await api.post("integrationdestinations/webhooks", body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _dispatch_a_product(api: OrgApi, dispatcher: Dispatcher) -> None:
    await api.post("products", minimal_body(entity_by_name("product")))
    while await dispatcher.step():
        pass


async def _firings(api: OrgApi, rule: dict[str, Any]) -> int:
    response = await api.get("events", params={"notificationId": rule["id"], "pageSize": 100})
    return len(response.json()["data"])


async def _runs(api: OrgApi, rule: dict[str, Any]) -> int:
    return len((await api.get(f"integrationruns/Notification/{rule['id']}")).json()["data"])


async def test_rule_and_integration_changes_apply_from_the_next_batch(
    api: OrgApi, db: Database
) -> None:
    dispatcher = Dispatcher(db)
    rule = await _rule(api, "cached_rule")
    await _dispatch_a_product(api, dispatcher)
    assert await _firings(api, rule) == 1

    off = await api.put(f"notifications/configurations/{rule['id']}", {**rule, "active": False})
    await _dispatch_a_product(api, dispatcher)
    assert await _firings(api, rule) == 1

    await api.put(f"notifications/configurations/{rule['id']}", {**off.json(), "active": True})
    webhook = await _webhook(api)
    config = await api.post(
        "integrationconfigs",
        {
            "entityType": "Notification",
            "entityId": rule["id"],
            "destination": "Webhook",
            "destinationId": webhook["id"],
            "configData": {},
        },
    )
    await _dispatch_a_product(api, dispatcher)
    assert (await _firings(api, rule), await _runs(api, rule)) == (2, 1)

    await api.delete(f"integrationconfigs/{config.json()['id']}")
    await _dispatch_a_product(api, dispatcher)
    assert (await _firings(api, rule), await _runs(api, rule)) == (3, 1)


async def test_rules_are_kept_until_a_delivery_configuration_is_written(
    api: OrgApi, db: Database
) -> None:
    dispatcher = Dispatcher(db)
    rule = await _rule(api, "kept_rule")
    await _dispatch_a_product(api, dispatcher)
    async with db.write() as conn:  # behind the service's back: no revision is bumped
        stored = await document_store.get_entity(conn, api.org_id, "notification", rule["id"])
        assert stored is not None
        await conn.execute(
            update(entities)
            .where(entities.c.id == rule["id"])
            .values(data={**stored, "active": False})
        )
    await _dispatch_a_product(api, dispatcher)
    assert await _firings(api, rule) == 2  # the kept copy

    await _webhook(api)  # any write to the organization's rules, integrations or webhooks
    await _dispatch_a_product(api, dispatcher)
    assert await _firings(api, rule) == 2  # reloaded: now inactive


async def test_only_delivery_configuration_writes_bump_the_revision(
    api: OrgApi, db: Database
) -> None:
    async def revision() -> int | None:
        async with db.read() as conn:
            return (await document_store.delivery_config_revision(conn, [api.org_id])).get(
                api.org_id
            )

    assert await revision() is None
    await api.post("products", minimal_body(entity_by_name("product")))
    assert await revision() is None
    rule = await _rule(api, "counted_rule")
    webhook = await _webhook(api)
    await api.delete(f"notifications/configurations/{rule['id']}")
    await api.put(f"integrationdestinations/webhooks/{webhook['id']}/active?active=false")
    assert await revision() == 4
