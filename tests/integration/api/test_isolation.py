"""Tenants are walled off, checked on every route of the OpenAPI document, not a sample."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from meterbell.domain.alerts import AlertType, Occurrence, ResourceType, Severity
from meterbell.domain.catalog import EntitySpec, crud_entities
from meterbell.domain.clock import utcnow
from meterbell.services import alerts
from meterbell.store.db import Database
from meterbell.workers.dispatcher import Dispatcher
from tests.conftest import OrgApi
from tests.factories import entity_path, minimal_body
from tests.integration.api.test_deadletters import set_aside_event

PATH_PARAM = re.compile(r"\{(\w+)\}")


@dataclass
class Victim:
    """One of everything, in the organization the attacker must not reach."""

    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def all_ids(self) -> set[str]:
        return {e["id"] for e in self.entities.values()} | set(self.ids.values())


async def org_routes(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    spec = (await client.get("/openapi.json")).json()
    return [
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        if path.startswith("/organizations/{orgId}")
        for method in operations
    ]


def spec_for(path: str) -> EntitySpec | None:
    tail = PATH_PARAM.sub("", path.removeprefix("/organizations/{orgId}/")).strip("/")
    return next((s for s in crud_entities() if tail == entity_path(s)), None)


async def populate(api: OrgApi, db: Database) -> Victim:
    victim = Victim()
    for spec in crud_entities():
        if not spec.singleton:
            response = await api.post(entity_path(spec), minimal_body(spec))
            assert response.status_code == 200, response.text
            victim.entities[spec.name] = response.json()
    rule = await api.post(
        "notifications/configurations",
        {
            "name": "r",
            "code": "r",
            "eventName": "configuration.product.updated",
            "alwaysFireEvent": True,
        },
    )
    webhook = await api.post(
        "integrationdestinations/webhooks",
        {
            "name": "w",
            "url": "http://127.0.0.1:9/hook",
            "credentials": {"type": "M3TER_SIGNED_REQUEST", "apiKey": "k", "secret": "s"},
        },
    )
    config = await api.post(
        "integrationconfigs",
        {
            "entityType": "Notification",
            "entityId": rule.json()["id"],
            "destination": "Webhook",
            "destinationId": webhook.json()["id"],
        },
    )
    scheduled = await api.post(
        "scheduledevents/configurations",
        {"name": "scheduled.bill.due", "entity": "Bill", "field": "dueDate", "offset": 1},
    )
    destination = await api.post(
        "dataexports/destinations",
        {"name": "d", "code": "d", "destinationType": "LOCAL", "bucketName": "victim"},
    )
    schedule = await api.post(
        "dataexports/schedules",
        {
            "name": "s",
            "code": "s",
            "sourceType": "OPERATIONAL",
            "operationalDataTypes": ["ACCOUNTS"],
            "destinationIds": [destination.json()["id"]],
            "scheduleType": "DAY",
            "period": 1,
        },
    )
    export_jobs = (await api.get("dataexports/jobs")).json()["data"]
    product = victim.entities["product"]
    await api.put(f"products/{product['id']}", {**product, "name": "changed"})
    victim.entities["product"] = (await api.get(f"products/{product['id']}")).json()
    while await Dispatcher(db).step():
        pass
    runs = (await api.get(f"integrationruns/Notification/{rule.json()['id']}")).json()["data"]
    since = (utcnow() - timedelta(hours=1)).isoformat()
    backfill = await api.post(
        f"notifications/configurations/{rule.json()['id']}/backfill",
        {"since": since, "until": utcnow().isoformat()},
    )
    victim.ids = {
        "rule": rule.json()["id"],
        "webhook": webhook.json()["id"],
        "config": config.json()["id"],
        "run": runs[0]["id"],
        "scheduled": scheduled.json()["id"],
        "event": (await api.get("events")).json()["data"][0]["id"],
        "export destination": destination.json()["id"],
        "export schedule": schedule.json()["id"],
        "export job": export_jobs[0]["id"],
        "alert": await raised_alert(api, db),
        "dead letter": await set_aside_event(api, db),
        "backfill": backfill.json()["id"],
    }
    return victim


async def raised_alert(api: OrgApi, db: Database) -> str:
    occurrence = Occurrence(
        org_id=api.org_id,
        type=AlertType.DATA_EXPORT,
        severity=Severity.ERROR,
        resource_type=ResourceType.EXPORT_JOB,
        resource_id=str(uuid.uuid4()),
        description="The export failed.",
    )
    async with db.write() as conn:
        return (await alerts.raise_alert(conn, occurrence, utcnow())).id


def fill(path: str, org_id: str, victim: Victim) -> str:
    """The route with the victim's ids in its parameters."""
    spec = spec_for(path)
    kind = (
        "export destination"
        if "/dataexports/destinations" in path
        else "export schedule"
        if "/dataexports/schedules" in path
        else "export job"
        if "/dataexports/jobs" in path
        else "rule"
        if "/notifications/" in path
        else "webhook"
        if "/integrationdestinations/" in path or "/destinations/" in path
        else "config"
        if "/integrationconfigs/" in path
        else "run"
        if "/integrationruns/" in path
        else "scheduled"
        if "/scheduledevents/" in path
        else "dead letter"
        if "/deadletters/" in path
        else "event"
    )
    values = {
        "orgId": org_id,
        "eventId": victim.ids["event"],
        "entityType": "Notification",
        "entityId": victim.ids["rule"],
        "destinationId": victim.ids["webhook"],
        "jobId": victim.ids["export job"],
        "systemName": "Webhook",
        "backfillId": victim.ids["backfill"],
        # external mappings' look-ups: any values (the path's organization is what is refused)
        "entity": "Account",
        "m3terId": victim.ids["rule"],
        "system": "Stripe",
        "externalTable": "Customer",
        "externalId": "cus_1",
    }
    if "{id}" in path:
        values["id"] = victim.entities[spec.name]["id"] if spec else victim.ids[kind]
    return PATH_PARAM.sub(lambda m: values[m.group(1)], path)


def body_for(path: str, victim: Victim) -> Any:
    spec = spec_for(path)
    if spec is None or spec.singleton:
        return {"name": "x", "version": 1}
    return {**victim.entities[spec.name]}


async def call(api: OrgApi, method: str, url: str, body: Any) -> httpx.Response:
    return await api.client.request(
        method, url, json=body if method in ("POST", "PUT") else None, headers=api.headers
    )


async def test_every_route_refuses_another_orgs_path(
    api: OrgApi, other_api: OrgApi, db: Database
) -> None:
    victim = await populate(other_api, db)
    routes = await org_routes(api.client)
    assert len(routes) > 100
    for method, path in routes:
        url = fill(path, other_api.org_id, victim)
        response = await call(api, method, url, body_for(path, victim))
        assert response.status_code == 403, (method, path, response.text)
    product = victim.entities["product"]
    assert (await other_api.get(f"products/{product['id']}")).json() == product


def leaked(response: httpx.Response, victim: Victim) -> set[str]:
    if response.status_code != 200:
        return set()
    return {i for i in victim.all_ids if i in response.text}


async def test_own_path_never_reaches_another_orgs_data(
    api: OrgApi, other_api: OrgApi, db: Database
) -> None:
    victim = await populate(other_api, db)
    for method, path in await org_routes(api.client):
        url = fill(path, api.org_id, victim)
        response = await call(api, method, url, body_for(path, victim))
        assert response.status_code in (200, 400, 404), (method, path, response.text)
        if method in ("GET", "DELETE") and path.endswith(("{id}", "{eventId}")):
            assert response.status_code == 404, (method, path, response.text)
        assert not leaked(response, victim), (method, path, response.text)
    product = victim.entities["product"]
    assert (await other_api.get(f"products/{product['id']}")).json() == product
