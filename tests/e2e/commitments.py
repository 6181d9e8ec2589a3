"""What the webhook end-to-end tests do through a running server's API: wire a rule that
fires on every commitment update to a webhook, then update a commitment."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.server import MeterbellServer

ACCOUNT_ID = "6a3d5b1e-2c4f-4e8a-9b7c-000000000001"


async def authorised(server: MeterbellServer) -> httpx.AsyncClient:
    """A client for the organization paths of the server's first organization."""
    token = server.token(server.initial_credentials()).json()["access_token"]
    org_id = server.initial_credentials().org_id
    return httpx.AsyncClient(
        base_url=f"{server.base_url}/organizations/{org_id}/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


async def wire_every_update(
    api: httpx.AsyncClient, url: str, code: str = "every-update", **webhook_fields: Any
) -> str:
    """A rule firing on every commitment update, sent to a webhook at `url` (with
    `webhook_fields`). The rule's id."""
    rule = await api.post(
        "notifications/configurations",
        json={
            "name": f"every update: {code}",
            "code": code,
            "alwaysFireEvent": True,
            "eventName": "configuration.commitment.updated",
        },
    )
    webhook = await api.post(
        "integrationdestinations/webhooks",
        json={
            "name": f"receiver: {code}",
            "url": url,
            "credentials": {"type": "M3TER_SIGNED_REQUEST", "apiKey": "k", "secret": "s"},
            **webhook_fields,
        },
    )
    assert webhook.status_code == 200, webhook.text
    config = await api.post(
        "integrationconfigs",
        json={
            "entityType": "Notification",
            "entityId": rule.json()["id"],
            "destination": "Webhook",
            "destinationId": webhook.json()["id"],
        },
    )
    assert config.status_code == 200, config.text
    rule_id: str = rule.json()["id"]
    return rule_id


async def new_commitment(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.post(
        "commitments",
        json={
            "accountId": ACCOUNT_ID,
            "amount": 100,
            "currency": "USD",
            "startDate": "2026-01-01",
            "endDate": "2027-01-01",
        },
    )
    assert response.status_code == 200, response.text
    commitment: dict[str, Any] = response.json()
    return commitment


async def spend(api: httpx.AsyncClient, commitment: dict[str, Any], spent: int) -> dict[str, Any]:
    """Update the commitment's `amountSpent`; the commitment as it is now."""
    response = await api.put(
        f"commitments/{commitment['id']}", json={**commitment, "amountSpent": spent}
    )
    assert response.status_code == 200, response.text
    updated: dict[str, Any] = response.json()
    return updated
