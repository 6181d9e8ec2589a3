"""The Stripe connector, with the official `stripe` client, against the local Stripe stand-in
(tests/stripe_standin.py): the invoice it makes of a bill, how Stripe's errors become the run's
outcome, and that a retry after a crash at any step makes no second invoice and no duplicate
item."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import stripe

from meterbell.domain.bill_delivery import (
    BillCredentialsRefused,
    BillJob,
    BillRejected,
    BillSent,
    BillSystemDown,
)
from meterbell.workers.stripe_sender import send_bill_to_stripe
from tests.stripe_standin import StripeStandin

KEY = "run-7f3a"
SHORT_TIMEOUT_S = 0.5


def a_line(number: int, subtotal: float, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"li-{number}",
        "description": f"API calls, tier {number}",
        "quantity": 1000 * number,
        "subtotal": subtotal,
        "currency": "USD",
        **fields,
    }


def a_bill(*lines: dict[str, Any], currency: str = "USD") -> dict[str, Any]:
    return {
        "id": "bill-1",
        "version": 3,
        "accountId": "acc-1",
        "currency": currency,
        "billDate": "2026-12-01",
        "dueDate": "2026-12-15",
        "lineItems": list(lines),
    }


THREE_LINES = a_bill(a_line(1, 12.5), a_line(2, 0.333), a_line(3, 100))


def a_job(
    server: StripeStandin,
    customer_id: str,
    bill: dict[str, Any] = THREE_LINES,
    *,
    api_key: str | None = None,
) -> BillJob:
    return BillJob(
        bill=bill,
        customer_id=customer_id,
        credentials={"type": "STATIC_API_KEY", "apiKey": api_key or server.api_key},
        config_data={},
        idempotency_key=KEY,
    )


@pytest.fixture
def client(stripe_server: StripeStandin) -> stripe.StripeClient:
    return stripe.StripeClient(stripe_server.api_key, base_addresses={"api": stripe_server.url})


@pytest.fixture
def customer_id(client: stripe.StripeClient) -> str:
    return client.v1.customers.create({"name": "Acme"}).id


async def send(server: StripeStandin, job: BillJob, **options: Any) -> BillSent:
    return await send_bill_to_stripe(job, server.url, **options)


def assert_one_finalized_invoice(server: StripeStandin, customer_id: str) -> dict[str, Any]:
    """The customer has exactly one invoice, open, holding THREE_LINES' items once each."""
    invoices = server.invoices(customer_id)
    assert len(invoices) == 1
    invoice = invoices[0]
    assert invoice["status"] == "open"
    lines = invoice["lines"]["data"]
    assert [line["metadata"]["m3ter_line_item_id"] for line in lines] == ["li-1", "li-2", "li-3"]
    assert [line["amount"] for line in lines] == [1250, 33, 10000]
    assert len(server.invoice_items()) == 3
    return invoice


async def test_a_bill_becomes_one_finalized_invoice_with_an_item_per_line(
    stripe_server: StripeStandin, customer_id: str
) -> None:
    sent = await send(stripe_server, a_job(stripe_server, customer_id))

    invoice = assert_one_finalized_invoice(stripe_server, customer_id)
    assert sent == BillSent(external_id=invoice["id"], url=invoice["hosted_invoice_url"])
    assert sent.url is not None
    assert sent.url.startswith(f"{stripe_server.url}/hosted/invoice/")
    assert invoice["amount_due"] == 11283
    assert invoice["currency"] == "usd"
    assert invoice["collection_method"] == "send_invoice"
    assert invoice["days_until_due"] == 14
    assert invoice["auto_advance"] is True
    assert invoice["metadata"] == {
        "m3ter_bill_id": "bill-1",
        "m3ter_bill_version": "3",
        "m3ter_account_id": "acc-1",
        "meterbell_key": KEY,
    }
    assert [line["description"] for line in invoice["lines"]["data"]] == [
        "API calls, tier 1",
        "API calls, tier 2",
        "API calls, tier 3",
    ]


async def test_every_create_carries_the_jobs_key_with_its_step(
    stripe_server: StripeStandin, customer_id: str
) -> None:
    await send(stripe_server, a_job(stripe_server, customer_id))

    keys = [r.idempotency_key for r in stripe_server.requests(method="POST", path="/v1/invoice*")]
    assert keys == [
        f"{KEY}-invoice",
        f"{KEY}-item-1",
        f"{KEY}-item-2",
        f"{KEY}-item-3",
        f"{KEY}-finalize",
    ]


async def test_the_customers_other_pending_items_stay_out_of_the_invoice(
    stripe_server: StripeStandin, client: stripe.StripeClient, customer_id: str
) -> None:
    other = client.v1.invoice_items.create(
        {"customer": customer_id, "amount": 999, "currency": "usd"}
    )

    sent = await send(stripe_server, a_job(stripe_server, customer_id))

    assert client.v1.invoice_items.retrieve(other.id).invoice is None
    assert stripe_server.invoices(customer_id)[0]["amount_due"] == 11283
    assert sent.external_id == stripe_server.invoices(customer_id)[0]["id"]


async def test_a_zero_decimal_currency_is_sent_in_whole_units(
    stripe_server: StripeStandin, customer_id: str
) -> None:
    bill = a_bill(a_line(1, 1234.5, currency="JPY"), currency="JPY")

    await send(stripe_server, a_job(stripe_server, customer_id, bill))

    (invoice,) = stripe_server.invoices(customer_id)
    assert invoice["currency"] == "jpy"
    assert invoice["amount_due"] == 1235


async def test_a_line_in_another_currency_is_sent_converted_with_its_service_period(
    stripe_server: StripeStandin, customer_id: str
) -> None:
    line = a_line(
        1,
        10,
        currency="EUR",
        convertedSubtotal=11.2,
        servicePeriodStartDate="2026-11-01T00:00:00Z",
        servicePeriodEndDate="2026-12-01T00:00:00Z",
    )

    await send(stripe_server, a_job(stripe_server, customer_id, a_bill(line)))

    (item,) = stripe_server.invoice_items()
    assert (item["amount"], item["currency"]) == (1120, "usd")
    assert item["period"] == {"start": 1793491200, "end": 1796083200}


async def test_a_wrong_key_is_credentials_refused_and_creates_nothing(
    stripe_server: StripeStandin, customer_id: str
) -> None:
    job = a_job(stripe_server, customer_id, api_key="sk_test_wrongwrongwrongwrong9876")

    with pytest.raises(BillCredentialsRefused) as refused:
        await send(stripe_server, job)

    assert refused.value.message == "Invalid API Key provided: sk_test_****9876"
    assert stripe_server.invoices() == []


async def test_a_currency_stripe_does_not_support_is_rejected_in_stripes_words(
    stripe_server: StripeStandin, customer_id: str
) -> None:
    bill = a_bill(a_line(1, 5, currency="XYZ"), currency="XYZ")

    with pytest.raises(BillRejected) as rejected:
        await send(stripe_server, a_job(stripe_server, customer_id, bill))

    assert rejected.value.message.startswith("Invalid currency: xyz.")
    assert stripe_server.invoices() == []


async def test_a_line_in_a_currency_the_invoice_is_not_in_is_rejected(
    stripe_server: StripeStandin, customer_id: str
) -> None:
    bill = a_bill(a_line(1, 5), a_line(2, 7, currency="EUR"))

    with pytest.raises(BillRejected) as rejected:
        await send(stripe_server, a_job(stripe_server, customer_id, bill))

    assert rejected.value.message == (
        "The currency of the invoice item (eur) must match the currency of the invoice (usd)."
    )
    assert stripe_server.count("/v1/invoices/*/finalize") == 0


async def test_a_customer_stripe_does_not_know_is_rejected(
    stripe_server: StripeStandin,
) -> None:
    with pytest.raises(BillRejected) as rejected:
        await send(stripe_server, a_job(stripe_server, "cus_nobody"))

    assert rejected.value.message == "No such customer: 'cus_nobody'"


async def test_an_empty_bill_is_rejected_without_asking_stripe(
    stripe_server: StripeStandin, customer_id: str
) -> None:
    with pytest.raises(BillRejected) as rejected:
        await send(stripe_server, a_job(stripe_server, customer_id, a_bill()))

    assert rejected.value.message == "The bill has no line items: there is nothing to invoice."
    assert stripe_server.requests(method="POST", path="/v1/invoice*") == []


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_stripe_failing_is_system_down(
    stripe_server: StripeStandin, customer_id: str, status: int
) -> None:
    stripe_server.fail("/v1/invoices", status)

    with pytest.raises(BillSystemDown):
        await send(stripe_server, a_job(stripe_server, customer_id))

    assert stripe_server.invoices() == []


async def test_stripe_unreachable_is_system_down(stripe_server: StripeStandin) -> None:
    job = a_job(stripe_server, "cus_any")

    with pytest.raises(BillSystemDown) as down:
        await send_bill_to_stripe(job, "http://127.0.0.1:9")

    assert "Unexpected error communicating with Stripe" in down.value.message


async def test_a_failed_finalize_is_retried_onto_the_same_invoice(
    stripe_server: StripeStandin, customer_id: str
) -> None:
    job = a_job(stripe_server, customer_id)
    stripe_server.fail("/v1/invoices/*/finalize", 500)
    with pytest.raises(BillSystemDown):
        await send(stripe_server, job)
    (draft,) = stripe_server.invoices(customer_id)
    assert draft["status"] == "draft"

    sent = await send(stripe_server, job)

    assert sent.external_id == draft["id"]
    assert_one_finalized_invoice(stripe_server, customer_id)


def creates_carried_out(server: StripeStandin, path: str) -> int:
    """Creates at `path` that Stripe carried out (answered 200, not replayed)."""
    return sum(
        1 for r in server.requests(path, method="POST") if r.status == 200 and not r.replayed
    )


@pytest.mark.parametrize("step", ["/v1/invoices", "/v1/invoiceitems", "/v1/invoices/*/finalize"])
async def test_an_answer_lost_after_any_step_then_a_retry_makes_one_invoice(
    stripe_server: StripeStandin, customer_id: str, step: str
) -> None:
    """Stripe does the step but the connection is cut before its answer (the first match of
    `step`: the invoice, the first item, or the finalize); the run is retried with the same
    job."""
    job = a_job(stripe_server, customer_id)
    stripe_server.drop(step)
    with pytest.raises(BillSystemDown) as down:
        await send(stripe_server, job)
    assert "Unexpected error communicating with Stripe" in down.value.message

    sent = await send(stripe_server, job)

    invoice = assert_one_finalized_invoice(stripe_server, customer_id)
    assert sent.external_id == invoice["id"]
    assert creates_carried_out(stripe_server, "/v1/invoices") == 1
    assert creates_carried_out(stripe_server, "/v1/invoiceitems") == 3
    assert creates_carried_out(stripe_server, "/v1/invoices/*/finalize") == 1


async def test_an_answer_that_never_comes_times_out_as_system_down(
    stripe_server: StripeStandin, customer_id: str
) -> None:
    job = a_job(stripe_server, customer_id)
    stripe_server.hang("/v1/invoices/*/finalize")

    with pytest.raises(BillSystemDown):
        await send(stripe_server, job, timeout_s=SHORT_TIMEOUT_S)

    assert stripe_server.held == 1
    assert (await send(stripe_server, job)).external_id == stripe_server.invoices()[0]["id"]


async def test_two_attempts_at_once_make_one_invoice(
    stripe_server: StripeStandin, customer_id: str
) -> None:
    """Both attempts find no invoice of the job (the first's look-up is answered, empty, only
    after the second has run to the end, as when a lease is taken over); the first's creates
    then carry the same keys as the second's, and Stripe replays each."""
    job = a_job(stripe_server, customer_id)
    stripe_server.hang("/v1/invoices", method="GET")
    first = asyncio.create_task(send(stripe_server, job))
    await asyncio.to_thread(stripe_server.wait_for, "/v1/invoices", 1, method="GET")

    second = await send(stripe_server, job)
    stripe_server.release()

    assert await first == second
    assert_one_finalized_invoice(stripe_server, customer_id)
    creates = stripe_server.requests("/v1/invoice*", method="POST")
    assert [r.replayed for r in creates] == [False] * 5 + [True] * 5


async def test_a_worker_killed_mid_run_then_a_retry_makes_one_invoice(
    stripe_server: StripeStandin, customer_id: str
) -> None:
    job = a_job(stripe_server, customer_id)
    stripe_server.hang("/v1/invoiceitems")
    first = asyncio.create_task(send(stripe_server, job))
    await asyncio.to_thread(stripe_server.wait_for, "/v1/invoiceitems", 1)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first

    await send(stripe_server, job)

    assert_one_finalized_invoice(stripe_server, customer_id)
    assert stripe_server.count_key(f"{KEY}-item-1") == 1  # already on the draft: not sent again


async def test_a_retry_after_stripe_forgot_the_keys_completes_the_same_draft(
    stripe_server: StripeStandin, customer_id: str
) -> None:
    job = a_job(stripe_server, customer_id)
    stripe_server.hang("/v1/invoiceitems")
    with pytest.raises(BillSystemDown):
        await send(stripe_server, job, timeout_s=SHORT_TIMEOUT_S)
    stripe_server.forget_idempotency_keys()

    await send(stripe_server, job)

    assert_one_finalized_invoice(stripe_server, customer_id)


async def test_a_job_resent_after_stripe_forgot_the_keys_returns_its_invoice(
    stripe_server: StripeStandin, customer_id: str
) -> None:
    job = a_job(stripe_server, customer_id)
    sent = await send(stripe_server, job)
    stripe_server.forget_idempotency_keys()
    posts = len(stripe_server.requests(method="POST"))

    assert await send(stripe_server, job) == sent

    assert len(stripe_server.requests(method="POST")) == posts
    assert_one_finalized_invoice(stripe_server, customer_id)


async def test_the_key_is_never_set_on_the_global_client(
    stripe_server: StripeStandin, customer_id: str
) -> None:
    await send(stripe_server, a_job(stripe_server, customer_id))

    assert stripe.api_key is None
    assert stripe.api_base == stripe.DEFAULT_API_BASE
