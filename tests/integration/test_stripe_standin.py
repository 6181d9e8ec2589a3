"""The local Stripe stand-in, driven only through the official `stripe` package: what meterbell's
Stripe connector will see from real Stripe (objects, totals, idempotency, errors, retries)."""

from __future__ import annotations

import base64
import contextlib
import io
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe

from tests.stripe_standin import StripeStandin

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"


def client_for(
    server: StripeStandin, *, api_key: str | None = None, retries: int = 0
) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key or server.api_key,
        base_addresses={"api": server.url},
        max_network_retries=retries,
    )


def replayed(answer: stripe.StripeObject) -> str | None:
    """The answer's Idempotent-Replayed header."""
    assert answer.last_response is not None
    return answer.last_response.headers.get("Idempotent-Replayed")


def error_type(error: stripe.StripeError) -> Any:
    assert isinstance(error.json_body, dict)
    return error.json_body["error"]["type"]


@pytest.fixture
def client(stripe_server: StripeStandin) -> stripe.StripeClient:
    return client_for(stripe_server)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's own backoff between retries (0.5 s and up) made short; it still retries."""
    monkeypatch.setattr(stripe.HTTPClient, "INITIAL_DELAY", 0.01)


def test_customer_items_invoice_finalize_and_list(
    stripe_server: StripeStandin, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create(
        {"name": "Acme", "email": "billing@acme.test", "metadata": {"m3terAccount": "acc-1"}}
    )
    assert customer.id.startswith("cus_")
    assert customer.object == "customer"
    assert client.v1.customers.retrieve(customer.id).to_dict()["metadata"] == {
        "m3terAccount": "acc-1"
    }

    invoice = client.v1.invoices.create(
        {
            "customer": customer.id,
            "currency": "usd",
            "collection_method": "send_invoice",
            "days_until_due": 30,
            "auto_advance": False,
            "metadata": {"m3terBill": "bill-1"},
        }
    )
    assert invoice.id.startswith("in_")
    assert invoice.status == "draft"
    assert invoice.total == 0

    flat = client.v1.invoice_items.create(
        {
            "customer": customer.id,
            "invoice": invoice.id,
            "amount": 1250,
            "currency": "usd",
            "description": "Standing charge",
            "metadata": {"m3terLineItem": "li-1"},
        }
    )
    assert flat.id.startswith("ii_")
    assert flat.object == "invoiceitem"
    assert flat.invoice == invoice.id
    usage = client.v1.invoice_items.create(
        {
            "customer": customer.id,
            "invoice": invoice.id,
            "unit_amount_decimal": Decimal("0.125"),
            "quantity": 1000,
            "currency": "usd",
            "description": "API calls",
        }
    )
    assert usage.amount == 125

    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    assert finalized.status == "open"
    assert finalized.total == finalized.amount_due == 1375
    assert finalized.number
    assert finalized.number.endswith("-0001")
    assert finalized.hosted_invoice_url
    assert finalized.hosted_invoice_url.startswith(stripe_server.url)
    assert finalized.due_date is not None
    assert [line.description for line in finalized.lines.data] == [
        "Standing charge",
        "API calls",
    ]
    assert finalized.lines.data[0].metadata["m3terLineItem"] == "li-1"
    assert requests.get(finalized.hosted_invoice_url, timeout=5).status_code == 200

    assert client.v1.invoices.retrieve(invoice.id).status == "open"
    other = client.v1.customers.create({"name": "Other"})
    client.v1.invoices.create({"customer": other.id, "currency": "usd"})
    listed = client.v1.invoices.list({"customer": customer.id})
    assert [i.id for i in listed.data] == [invoice.id]
    assert stripe_server.invoices(customer.id)[0]["metadata"] == {"m3terBill": "bill-1"}


def test_pending_items_are_pulled_into_an_invoice_that_includes_them(
    client: stripe.StripeClient,
) -> None:
    customer = client.v1.customers.create({"name": "Pending"})
    for amount in (100, 250):
        client.v1.invoice_items.create(
            {"customer": customer.id, "amount": amount, "currency": "eur"}
        )
    client.v1.invoice_items.create({"customer": customer.id, "amount": 999, "currency": "gbp"})

    left_out = client.v1.invoices.create({"customer": customer.id, "currency": "eur"})
    assert left_out.total == 0  # exclude is Stripe's default

    included = client.v1.invoices.create(
        {"customer": customer.id, "currency": "eur", "pending_invoice_items_behavior": "include"}
    )
    assert included.total == 350
    assert sorted(line.amount for line in included.lines.data) == [100, 250]


def test_an_invoice_embeds_ten_lines_and_pages_the_rest(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "Many lines"})
    invoice = client.v1.invoices.create({"customer": customer.id, "currency": "usd"})
    for n in range(12):
        client.v1.invoice_items.create(
            {
                "customer": customer.id,
                "invoice": invoice.id,
                "amount": 100 + n,
                "currency": "usd",
                "description": f"line {n}",
            }
        )
    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    assert finalized.total == sum(100 + n for n in range(12))
    assert len(finalized.lines.data) == 10
    assert finalized.lines.has_more
    paged = [line.description for line in finalized.lines.auto_paging_iter()]
    assert paged == [f"line {n}" for n in range(12)]
    listed = client.v1.invoices.line_items.list(invoice.id, {"limit": 100})
    assert len(listed.data) == 12


def test_decimal_quantities_and_unit_amounts(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "Decimals"})
    item = client.v1.invoice_items.create(
        {
            "customer": customer.id,
            "unit_amount_decimal": Decimal("0.3"),
            "quantity_decimal": Decimal("2.5"),
            "currency": "usd",
        }
    )
    assert item.amount == 1  # 0.75 of a cent, rounded
    assert item.quantity == 2  # truncated, as Stripe does
    assert item.quantity_decimal == Decimal("2.5")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoice_items.create(
            {
                "customer": customer.id,
                "unit_amount_decimal": Decimal("0.0000000000001"),
                "currency": "usd",
            }
        )
    assert raised.value.param == "unit_amount_decimal"


def test_a_deleted_pending_item_is_not_invoiced(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "Cleanup"})
    kept = client.v1.invoice_items.create({"customer": customer.id, "amount": 5, "currency": "usd"})
    dropped = client.v1.invoice_items.create(
        {"customer": customer.id, "amount": 7, "currency": "usd"}
    )
    assert client.v1.invoice_items.delete(dropped.id).deleted
    invoice = client.v1.invoices.create(
        {"customer": customer.id, "currency": "usd", "pending_invoice_items_behavior": "include"}
    )
    assert [line.amount for line in invoice.lines.data] == [kept.amount]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoice_items.retrieve(dropped.id)
    assert raised.value.http_status == 404


def test_nested_and_list_parameters_arrive_decoded(
    stripe_server: StripeStandin, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create({"name": "Nested"})
    item = client.v1.invoice_items.create(
        {
            "customer": customer.id,
            "amount": 10,
            "currency": "usd",
            "period": {"start": 1_700_000_000, "end": 1_702_592_000},
            "metadata": {f"k{n}": f"v{n}" for n in range(12)},
        }
    )
    assert (item.period.start, item.period.end) == (1_700_000_000, 1_702_592_000)
    assert item.to_dict()["metadata"] == {f"k{n}": f"v{n}" for n in range(12)}
    client.v1.invoice_items.retrieve(item.id, {"expand": ["customer", "invoice"]})
    (read,) = stripe_server.requests(f"/v1/invoiceitems/{item.id}", method="GET")
    assert read.params == {"expand": ["customer", "invoice"]}
    assert read.headers["Authorization"] == f"Bearer {stripe_server.api_key}"
    (created,) = stripe_server.requests("/v1/invoiceitems", method="POST")
    assert created.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert created.idempotency_key  # the SDK sends one on every POST


def test_an_idempotent_replay_returns_the_same_invoice_and_creates_one(
    stripe_server: StripeStandin, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create({"name": "Once"})
    key = f"bill-{uuid.uuid4()}"
    first = client.v1.invoices.create(
        {"customer": customer.id, "currency": "usd"}, {"idempotency_key": key}
    )
    again = client.v1.invoices.create(
        {"customer": customer.id, "currency": "usd"}, {"idempotency_key": key}
    )

    assert again.id == first.id
    assert replayed(again) == "true"
    assert replayed(first) is None
    assert first.last_response is not None
    assert again.last_response is not None
    assert again.last_response.headers["Original-Request"] == first.last_response.request_id
    assert len(stripe_server.invoices(customer.id)) == 1
    assert stripe_server.count_key(key) == 2
    assert [r.replayed for r in stripe_server.requests(key=key)] == [False, True]


def test_a_forgotten_key_carries_out_its_request_again(
    stripe_server: StripeStandin, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create({"name": "Twice"})
    params: stripe.params.InvoiceCreateParams = {"customer": customer.id, "currency": "usd"}
    first = client.v1.invoices.create(params, {"idempotency_key": "bill-9"})
    stripe_server.forget_idempotency_keys()

    again = client.v1.invoices.create(params, {"idempotency_key": "bill-9"})

    assert again.id != first.id
    assert replayed(again) is None
    assert len(stripe_server.invoices(customer.id)) == 2


def test_reusing_an_idempotency_key_with_other_parameters_is_refused(
    stripe_server: StripeStandin, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create({"name": "Reuse"})
    key = f"bill-{uuid.uuid4()}"
    client.v1.invoices.create(
        {"customer": customer.id, "currency": "usd"}, {"idempotency_key": key}
    )
    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.invoices.create(
            {"customer": customer.id, "currency": "eur"}, {"idempotency_key": key}
        )
    assert raised.value.http_status == 400
    assert error_type(raised.value) == "idempotency_error"
    assert len(stripe_server.invoices(customer.id)) == 1


@pytest.mark.parametrize("scheme", ["wrong bearer", "no key", "wrong basic"])
def test_a_wrong_key_is_refused_with_stripes_401(stripe_server: StripeStandin, scheme: str) -> None:
    if scheme == "wrong bearer":
        wrong = client_for(stripe_server, api_key="sk_test_wrongwrongwrong1234")
        with pytest.raises(stripe.AuthenticationError) as raised:
            wrong.v1.customers.create({"name": "Nobody"})
        assert raised.value.http_status == 401
        assert raised.value.json_body == {
            "error": {
                "type": "invalid_request_error",
                "message": "Invalid API Key provided: sk_test_****1234",
            }
        }
        assert stripe_server.customers() == []
        return
    # The SDK always sends Bearer; Stripe also takes Basic with the key as user, and refuses
    # none at all.
    headers = {}
    if scheme == "wrong basic":
        headers["Authorization"] = "Basic " + base64.b64encode(b"sk_test_nope:").decode()
    response = requests.post(
        f"{stripe_server.url}/v1/customers", data={"name": "Nobody"}, headers=headers, timeout=5
    )
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert stripe_server.customers() == []


def test_basic_auth_with_the_key_as_user_is_accepted(stripe_server: StripeStandin) -> None:
    response = requests.post(
        f"{stripe_server.url}/v1/customers",
        data={"name": "Basic", "metadata[plan]": "gold"},
        auth=(stripe_server.api_key, ""),
        headers={"Stripe-Version": "2026-10-28.endive"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"plan": "gold"}


def test_an_unknown_customer_is_a_404_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoices.create({"customer": "cus_doesnotexist", "currency": "usd"})
    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert raised.value.param == "customer"

    with pytest.raises(stripe.InvalidRequestError) as retrieved:
        client.v1.customers.retrieve("cus_doesnotexist")
    assert retrieved.value.http_status == 404


def test_invalid_parameters_are_a_400_naming_the_param(
    stripe_server: StripeStandin, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create({"name": "Strict"})
    cases: list[tuple[dict[str, Any], str]] = [
        ({"customer": customer.id, "amount": 100, "currency": "xyz"}, "currency"),
        ({"customer": customer.id, "currency": "usd"}, "amount"),
        ({"amount": 100, "currency": "usd"}, "customer"),
        ({"customer": customer.id, "amount": 100, "currency": "usd", "colour": "red"}, "colour"),
        ({"customer": customer.id, "amount": 10**9, "currency": "usd"}, "amount"),
        (
            {
                "customer": customer.id,
                "unit_amount_decimal": "1.5",
                "quantity": -2,
                "currency": "usd",
            },
            "quantity",
        ),
    ]
    for params, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.invoice_items.create(params)  # type: ignore[arg-type]
        assert (raised.value.http_status, raised.value.param) == (400, param), params
    draft = client.v1.invoices.create({"customer": customer.id, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as mismatch:
        client.v1.invoice_items.create(
            {"customer": customer.id, "invoice": draft.id, "amount": 5, "currency": "eur"}
        )
    assert mismatch.value.param == "currency"
    with pytest.raises(stripe.InvalidRequestError) as due:
        client.v1.invoices.create(
            {"customer": customer.id, "currency": "usd", "collection_method": "send_invoice"}
        )
    assert due.value.param == "days_until_due"
    assert stripe_server.invoice_items() == []


def test_a_credit_line_may_be_negative(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "Credit"})
    invoice = client.v1.invoices.create({"customer": customer.id, "currency": "usd"})
    for amount in (1000, -300):
        client.v1.invoice_items.create(
            {"customer": customer.id, "invoice": invoice.id, "amount": amount, "currency": "usd"}
        )
    assert client.v1.invoices.finalize_invoice(invoice.id).amount_due == 700


def test_finalizing_twice_is_refused(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "Twice"})
    invoice = client.v1.invoices.create({"customer": customer.id, "currency": "usd"})
    client.v1.invoice_items.create(
        {"customer": customer.id, "invoice": invoice.id, "amount": 10, "currency": "usd"}
    )
    client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoices.finalize_invoice(invoice.id)
    assert raised.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError):  # items go on drafts only
        client.v1.invoice_items.create(
            {"customer": customer.id, "invoice": invoice.id, "amount": 10, "currency": "usd"}
        )


@pytest.mark.usefixtures("fast_retries")
def test_injected_500s_are_retried_by_the_client_with_the_same_key(
    stripe_server: StripeStandin,
) -> None:
    client = client_for(stripe_server, retries=2)
    customer = client.v1.customers.create({"name": "Flaky"})
    stripe_server.fail("/v1/invoices", 500, 503)

    invoice = client.v1.invoices.create({"customer": customer.id, "currency": "usd"})

    attempts = stripe_server.requests("/v1/invoices", method="POST")
    assert [r.status for r in attempts] == [500, 503, 200]
    keys = {r.idempotency_key for r in attempts}
    assert len(keys) == 1
    assert None not in keys
    assert [i["id"] for i in stripe_server.invoices(customer.id)] == [invoice.id]


def test_an_injected_500_without_retries_raises_an_api_error(stripe_server: StripeStandin) -> None:
    client = client_for(stripe_server)
    customer = client.v1.customers.create({"name": "Down"})
    stripe_server.fail("/v1/invoices/*/finalize", 503)
    invoice = client.v1.invoices.create({"customer": customer.id, "currency": "usd"})
    with pytest.raises(stripe.APIError) as raised:
        client.v1.invoices.finalize_invoice(invoice.id)
    assert raised.value.http_status == 503
    assert error_type(raised.value) == "api_error"
    assert client.v1.invoices.finalize_invoice(invoice.id).status == "paid"  # zero total


@pytest.mark.usefixtures("fast_retries")
def test_a_lost_answer_then_a_retry_with_the_same_key_creates_one_invoice(
    stripe_server: StripeStandin,
) -> None:
    """The answer is lost after Stripe acted (the client times out); the retry replays."""
    client = stripe.StripeClient(
        stripe_server.api_key,
        base_addresses={"api": stripe_server.url},
        max_network_retries=1,
        http_client=stripe.RequestsClient(timeout=0.5),
    )
    customer = client.v1.customers.create({"name": "Timeout"})
    stripe_server.hang("/v1/invoices")
    key = f"bill-{uuid.uuid4()}"

    invoice = client.v1.invoices.create(
        {"customer": customer.id, "currency": "usd"}, {"idempotency_key": key}
    )

    assert stripe_server.count_key(key) == 2
    assert replayed(invoice) == "true"
    assert [i["id"] for i in stripe_server.invoices(customer.id)] == [invoice.id]
    assert stripe_server.held == 1
    stripe_server.release()


@pytest.mark.parametrize(("process", "invoices"), [(True, 1), (False, 0)])
def test_a_dropped_connection_is_a_connection_error_at_once(
    stripe_server: StripeStandin, client: stripe.StripeClient, process: bool, invoices: int
) -> None:
    customer = client.v1.customers.create({"name": "Cut"})
    stripe_server.drop("/v1/invoices", process=process)

    with pytest.raises(stripe.APIConnectionError):
        client.v1.invoices.create({"customer": customer.id, "currency": "usd"})

    assert len(stripe_server.invoices(customer.id)) == invoices
    assert stripe_server.count("/v1/invoices") == 1
    assert stripe_server.held == 0


def test_a_request_that_hangs_unprocessed_times_out_and_creates_nothing(
    stripe_server: StripeStandin,
) -> None:
    client = stripe.StripeClient(
        stripe_server.api_key,
        base_addresses={"api": stripe_server.url},
        http_client=stripe.RequestsClient(timeout=0.5),
    )
    customer = client.v1.customers.create({"name": "Black hole"})
    stripe_server.hang("/v1/invoices", process=False)
    with pytest.raises(stripe.APIConnectionError):
        client.v1.invoices.create({"customer": customer.id, "currency": "usd"})
    assert stripe_server.invoices() == []
    assert stripe_server.count("/v1/invoices") == 1


def test_a_held_request_answers_once_released_and_hang_holds_again(
    stripe_server: StripeStandin, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create({"name": "Held"})
    with ThreadPoolExecutor(1) as pool:
        for round_ in (1, 2):
            stripe_server.hang("/v1/invoices")
            pending = pool.submit(
                client.v1.invoices.create, {"customer": customer.id, "currency": "usd"}
            )
            stripe_server.wait_for("/v1/invoices", round_)
            assert stripe_server.held == 1
            assert not pending.done()
            stripe_server.release()
            assert pending.result(timeout=10).status == "draft"
            assert stripe_server.held == 0
    assert len(stripe_server.invoices(customer.id)) == 2


async def test_the_async_client_works_from_an_async_test(stripe_server: StripeStandin) -> None:
    client = client_for(stripe_server)
    customer = await client.v1.customers.create_async({"name": "Async"})
    invoice = await client.v1.invoices.create_async({"customer": customer.id, "currency": "usd"})
    await client.v1.invoice_items.create_async(
        {"customer": customer.id, "invoice": invoice.id, "amount": 42, "currency": "usd"}
    )
    finalized = await client.v1.invoices.finalize_invoice_async(invoice.id)
    assert (finalized.status, finalized.total) == ("open", 42)


def test_the_docs_example_prints_what_the_doc_says() -> None:
    (example,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(example, {})
    assert printed.getvalue() == "503\nopen 1250 2\n"
    assert "prints `503` then `open 1250 2`" in DOC.read_text()
