"""Bill integrations to Stripe through a live engine, the real `stripe` client and the local
Stripe stand-in (MB_STRIPE_API_BASE): an approved bill becomes one finalized invoice recorded on
its run; a key Stripe refuses ends the run AUTH_FAILED."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import stripe

from meterbell.store.db import Database
from tests.conftest import OrgApi, new_org_api
from tests.integration.api.test_alerts import listed
from tests.integration.webhooks.conftest import live_engine
from tests.integration.webhooks.test_bill_http_json import (
    approve,
    bill_runs,
    created,
    map_account,
    new_account,
    new_bill,
)
from tests.integration.webhooks.test_delivery import events_named
from tests.stripe_standin import StripeStandin


@pytest.fixture
async def api(db: Database, tmp_path: Path, stripe_server: StripeStandin) -> AsyncIterator[OrgApi]:
    async with live_engine(db, tmp_path, stripe_api_base=stripe_server.url) as client:
        yield await new_org_api(client, db, "Stripe organization")


async def stripe_run(
    api: OrgApi, api_key: str, customer: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Stripe configuration with `api_key`, and a bill of an account mapped to `customer`
    approved: (the configuration, the bill's settled run)."""
    config = await created(
        api,
        "integrationconfigs",
        {
            "entityType": "Bill",
            "destination": "Stripe",
            "credentials": {"type": "STATIC_API_KEY", "apiKey": api_key},
        },
    )
    account = await new_account(api)
    await map_account(api, account, customer, system="Stripe")
    (run,) = await bill_runs(api, await approve(api, await new_bill(api, account)))
    return config, run


def stripe_customer(stripe_server: StripeStandin) -> str:
    client = stripe.StripeClient(stripe_server.api_key, base_addresses={"api": stripe_server.url})
    return client.v1.customers.create({"name": "Acme"}).id


async def test_an_approved_bill_becomes_one_finalized_stripe_invoice(
    api: OrgApi, stripe_server: StripeStandin
) -> None:
    customer = stripe_customer(stripe_server)
    _, run = await stripe_run(api, stripe_server.api_key, customer)
    assert run["status"] == "COMPLETE", run
    (invoice,) = stripe_server.invoices(customer)
    assert invoice["status"] == "open"
    assert run["externalId"] == invoice["id"]
    assert run["url"] == invoice["hosted_invoice_url"]
    assert len(stripe_server.invoice_items()) == 2


async def test_a_key_stripe_refuses_ends_the_run_auth_failed(
    api: OrgApi, stripe_server: StripeStandin
) -> None:
    customer = stripe_customer(stripe_server)
    config, run = await stripe_run(api, "sk_test_wrong", customer)
    assert run["status"] == "AUTH_FAILED", run
    assert "Invalid API Key" in run["error"]
    assert stripe_server.invoices(customer) == []
    assert len(await events_named(api, "integration.authentication.error")) == 1
    (alert,) = await listed(api, type="INTEGRATION_AUTHENTICATION_ERROR", resourceId=config["id"])
    assert "Stripe refused the credentials" in alert["description"]


async def test_a_currency_stripe_refuses_ends_the_run_error_with_stripes_message(
    api: OrgApi, stripe_server: StripeStandin
) -> None:
    customer = stripe_customer(stripe_server)
    config = await created(
        api,
        "integrationconfigs",
        {
            "entityType": "Bill",
            "destination": "Stripe",
            "credentials": {"type": "STATIC_API_KEY", "apiKey": stripe_server.api_key},
        },
    )
    account = await new_account(api)
    await map_account(api, account, customer, system="Stripe")
    bill = await new_bill(api, account, currency="XTS")  # ISO 4217's testing code
    (run,) = await bill_runs(api, await approve(api, bill))
    assert run["status"] == "ERROR", run
    assert "Invalid currency" in run["error"]
    assert stripe_server.invoices(customer) == []
    (event,) = await events_named(api, "integration.validation.error")
    assert "Invalid currency" in str(event)
    assert await listed(api, type="INTEGRATION_VALIDATION_ERROR", resourceId=config["id"])
