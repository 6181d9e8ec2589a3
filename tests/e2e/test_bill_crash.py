"""Kill the server (SIGKILL) while a Bill run's request to Stripe is in flight, restart it:
the run completes, and Stripe holds one invoice for the bill, not two. Stripe (the local
stand-in) has finalized the invoice when the kill comes, but its answer never arrived; the
restarted server's retry finds that invoice by the run's idempotency key."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from tests.conftest import STORES, fresh_database_url
from tests.e2e.commitments import authorised
from tests.e2e.server import MeterbellServer
from tests.integration.webhooks.test_bill_http_json import LINE_ITEMS, bill_body
from tests.stripe_standin import StripeStandin

pytestmark = pytest.mark.slow

FINALIZE = "/v1/invoices/*/finalize"
RUN_WITHIN_S = 30.0


@pytest.fixture(params=STORES)
async def database_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    async with fresh_database_url(request.param) as url:
        yield url


async def created(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def approved_bill(api: httpx.AsyncClient, stripe_server: StripeStandin) -> dict[str, Any]:
    """A Stripe Bill configuration, and an approved bill of an account mapped to a customer."""
    await created(
        api,
        "integrationconfigs",
        {
            "entityType": "Bill",
            "destination": "Stripe",
            "credentials": {"type": "STATIC_API_KEY", "apiKey": stripe_server.api_key},
        },
    )
    code = f"acme_{uuid.uuid4().hex[:8]}"
    account = await created(
        api, "accounts", {"code": code, "name": code, "emailAddress": "ap@acme.example"}
    )
    client = stripe.StripeClient(stripe_server.api_key, base_addresses={"api": stripe_server.url})
    customer = client.v1.customers.create({"name": "Acme"}).id
    await created(
        api,
        "externalmappings",
        {
            "m3terEntity": "Account",
            "m3terId": account["id"],
            "externalSystem": "Stripe",
            "externalTable": "Customer",
            "externalId": customer,
        },
    )
    bill = await created(api, "bills", bill_body(account["id"]))
    response = await api.put(f"bills/{bill['id']}/status", json={"status": "APPROVED"})
    assert response.status_code == 200, response.text
    return bill


async def settled_run(api: httpx.AsyncClient, bill: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_WITHIN_S
    while True:
        response = await api.get(f"integrationruns/Bill/{bill['id']}")
        runs = response.json()["data"]
        if runs and runs[0]["status"] not in ("WAITING", "STARTED", "AWAITING_RETRY"):
            return dict(runs[0])
        assert time.monotonic() < deadline, f"the run did not settle: {runs}"
        await asyncio.sleep(0.05)


async def test_sigkill_while_stripe_answers_makes_no_second_invoice(
    database_url: str | None, tmp_path: Path, stripe_server: StripeStandin
) -> None:
    stripe_server.hang(FINALIZE)  # finalized by Stripe, its answer held
    env = {"MB_DELIVERY_LEASE_S": "2", "MB_DELIVERY_BACKOFF_S": "0.2", **stripe_server.env}
    server = MeterbellServer(tmp_path / "data", database_url=database_url, extra_env=env)
    try:
        await asyncio.to_thread(server.start)
        async with await authorised(server) as api:
            bill = await approved_bill(api, stripe_server)
        await asyncio.to_thread(stripe_server.wait_for, FINALIZE, 1)
        server.kill()
        stripe_server.release()
        (invoice,) = stripe_server.invoices()
        assert invoice["status"] == "open", "Stripe should have finalized before the kill"
        await asyncio.to_thread(server.start)
        async with await authorised(server) as api:
            run = await settled_run(api, bill)
    finally:
        server.stop()
    assert run["status"] == "COMPLETE", f"{run}\n{server.log_tail()}"
    (after,) = stripe_server.invoices()
    assert run["externalId"] == after["id"] == invoice["id"]
    assert len(stripe_server.invoice_items()) == len(LINE_ITEMS)
