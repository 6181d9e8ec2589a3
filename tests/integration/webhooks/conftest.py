"""A live engine (API + dispatcher + deliverer in this event loop) and a real receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from meterbell.app import create_app
from meterbell.config import Settings
from meterbell.store.db import Database
from tests.conftest import TEST_SECRET_KEY, OrgApi, new_org_api
from tests.receiver import Receiver

FAST_DELIVERY = {
    "delivery_attempts": 4,
    "delivery_backoff_s": 0.1,
    "delivery_timeout_s": 1.0,
    "auto_disable_after": 3,
    "destination_concurrency": 2,
    "delivery_lease_s": 5.0,
    "worker_poll_s": 0.2,
    "webhook_allow_private": True,
}


@asynccontextmanager
async def live_engine(
    db: Database, data_dir: Path, **delivery: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its workers running, delivering with FAST_DELIVERY updated by `delivery`."""
    settings = Settings(data_dir=data_dir, secret_key=TEST_SECRET_KEY, **(FAST_DELIVERY | delivery))
    app = create_app(settings, db=db, run_workers=True)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://meterbell.test") as client,
    ):
        yield client


@pytest.fixture(scope="module")
async def live_client(
    db: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    async with live_engine(db, tmp_path_factory.mktemp("live")) as client:
        yield client


@pytest.fixture
async def live(live_client: httpx.AsyncClient, db: Database) -> OrgApi:
    return await new_org_api(live_client, db, "Live organization")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


SEED_RULE = (
    "(new.amountSpent >= ((new.amount*90)/100)) AND "
    "((old.amountSpent <= ((old.amount*90)/100)) OR (old.amountSpent == null))"
)


@dataclass
class Wiring:
    rule: dict[str, Any]
    webhook: dict[str, Any]
    config: dict[str, Any]
    path: str
    api_key: str = "test-api-key"
    secret: str = "test-signing-secret"


async def wire(
    api: OrgApi,
    receiver: Receiver,
    path: str,
    *,
    calculation: str | None = SEED_RULE,
    always: bool = False,
    event_name: str = "configuration.commitment.updated",
    active: bool = True,
) -> Wiring:
    """A rule, a webhook destination at `path` on the receiver, and the integration."""
    rule = await api.post(
        "notifications/configurations",
        {
            "name": f"rule {path}",
            "code": f"rule{path.replace('/', '-')}",
            "description": "test rule",
            "eventName": event_name,
            "calculation": calculation,
            "alwaysFireEvent": always,
            "active": active,
        },
    )
    assert rule.status_code == 200, rule.text
    webhook = await api.post(
        "integrationdestinations/webhooks",
        {
            "name": f"hook {path}",
            "description": "test receiver",
            "url": receiver.url(path),
            "credentials": {
                "type": "M3TER_SIGNED_REQUEST",
                "apiKey": "test-api-key",
                "secret": "test-signing-secret",
            },
        },
    )
    assert webhook.status_code == 200, webhook.text
    config = await api.post(
        "integrationconfigs",
        {
            "entityType": "Notification",
            "entityId": rule.json()["id"],
            "destination": "Webhook",
            "destinationId": webhook.json()["id"],
            "configData": {},
        },
    )
    assert config.status_code == 200, config.text
    return Wiring(rule.json(), webhook.json(), config.json(), path)


async def new_commitment(api: OrgApi, amount: float = 1000) -> dict[str, Any]:
    response = await api.post(
        "commitments",
        {
            "accountId": "6a3d5b1e-2c4f-4e8a-9b7c-000000000001",
            "amount": amount,
            "currency": "USD",
            "startDate": "2026-01-01",
            "endDate": "2027-01-01",
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def spend(api: OrgApi, commitment: dict[str, Any], amount_spent: float) -> dict[str, Any]:
    response = await api.put(
        f"commitments/{commitment['id']}", {**commitment, "amountSpent": amount_spent}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())
