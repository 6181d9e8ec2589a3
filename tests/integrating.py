"""Integration runs made the real way, without a deliverer: a rule fires on product creation,
the dispatcher queues one run per product, and the runs stay WAITING."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from meterbell.domain.catalog import entity_by_name
from meterbell.store.db import Database
from meterbell.workers.dispatcher import Dispatcher
from tests.conftest import OrgApi
from tests.factories import minimal_body


@dataclass
class Wired:
    rule: dict[str, Any]
    webhook: dict[str, Any]
    config: dict[str, Any]


async def _created(api: OrgApi, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def wired_rule(api: OrgApi, webhook: dict[str, Any] | None = None) -> Wired:
    """A rule that fires on every product created, delivered to `webhook` (a new one if None)."""
    code = f"on-product-{uuid.uuid4().hex[:8]}"
    rule = await _created(
        api,
        "notifications/configurations",
        {
            "name": code,
            "code": code,
            "alwaysFireEvent": True,
            "eventName": "configuration.product.created",
        },
    )
    if webhook is None:
        webhook = await _created(
            api,
            "integrationdestinations/webhooks",
            {
                "name": f"hook {code}",
                "url": "http://127.0.0.1:9/never-called",
                "credentials": {"type": "M3TER_SIGNED_REQUEST", "apiKey": "k", "secret": "s"},
            },
        )
    config = await _created(
        api,
        "integrationconfigs",
        {
            "entityType": "Notification",
            "entityId": rule["id"],
            "destination": "Webhook",
            "destinationId": webhook["id"],
        },
    )
    return Wired(rule, webhook, config)


async def fire(api: OrgApi, db: Database, times: int = 1) -> None:
    """Create `times` products and dispatch their events: each wired rule gets that many runs."""
    for _ in range(times):
        await _created(api, "products", minimal_body(entity_by_name("product")))
    while await Dispatcher(db).step():
        pass
