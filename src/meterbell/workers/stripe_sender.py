"""Stripe as an accounts-receivable system: a bill becomes a Stripe invoice through the official
`stripe` package's async client, with the tenant's own API key (never `stripe.api_key`, which
is global).

Steps, each a create with its own idempotency key (the job's key plus the step), and each key
also kept in the created object's metadata (`meterbell_key`):
1. `POST /v1/invoices` (`<key>-invoice`): a draft invoice for the mapped customer that takes no
   pending items of other origin and that Stripe does not finalize by itself;
2. `POST /v1/invoiceitems` (`<key>-item-<n>`) for line item n, attached to that invoice;
3. `POST /v1/invoices/{id}/finalize` (`<key>-finalize`), handing collection over to Stripe.
Before them, the customer's latest invoices are searched for one an earlier attempt of the job
made: a finalized one is the answer, a draft is completed with the items it lacks. That covers
a retry or resend after Stripe has forgotten the keys (24 hours); the keys cover attempts that
overlap. Either way a job makes one invoice, each item once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import stripe
from stripe.params import (
    InvoiceCreateParams,
    InvoiceFinalizeInvoiceParams,
    InvoiceItemCreateParams,
)

from meterbell.domain.bill_delivery import (
    BillCredentialsRefused,
    BillJob,
    BillNotSent,
    BillRejected,
    BillSent,
    BillSystemDown,
)
from meterbell.domain.stripe_invoice import StripeInvoice, StripeItem, stripe_invoice

DEFAULT_TIMEOUT_S = 30.0
API_KEY = "apiKey"
# Invoice and item metadata: the idempotency key each was created with.
KEY_METADATA = "meterbell_key"
# How many of a customer's latest invoices are searched for one an earlier attempt made.
LOOKBACK = 100


async def send_bill_to_stripe(
    job: BillJob, api_base: str, *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> BillSent:
    """Invoice `job.bill` to Stripe customer `job.customer_id` through the API at `api_base`;
    each request times out after `timeout_s`. Raises a BillNotSent error: refused
    credentials, a bill Stripe rejects (with Stripe's message), or Stripe down."""
    invoice = stripe_invoice(job.bill)
    api_key = stripe_api_key(job.credentials)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            http_client=stripe.AIOHTTPClient(session=session, timeout=timeout),
            max_network_retries=0,  # the deliverer retries the run
        )
        try:
            return await create_invoice(client, invoice, job.customer_id, job.idempotency_key)
        except stripe.StripeError as error:
            raise not_sent(error) from error
        except (aiohttp.ClientError, TimeoutError) as error:  # an answer cut off while read
            raise BillSystemDown(f"Stripe's answer was cut off: {error!r}") from error


def stripe_api_key(credentials: Mapping[str, Any]) -> str:
    api_key = credentials.get(API_KEY)
    if not isinstance(api_key, str) or not api_key:
        raise BillCredentialsRefused("The credentials have no Stripe API key (apiKey).")
    return api_key


async def create_invoice(
    client: stripe.StripeClient, invoice: StripeInvoice, customer_id: str, key: str
) -> BillSent:
    """The three steps, each skipped where an earlier attempt of the job did it."""
    earlier = await invoice_made_before(client, customer_id, key)
    if earlier is not None and earlier.status != "draft":
        return bill_sent(earlier)
    draft = earlier or await client.v1.invoices.create_async(
        invoice_params(invoice, customer_id, key), {"idempotency_key": f"{key}-invoice"}
    )
    added = await item_keys_on(client, draft.id) if earlier else frozenset()
    await add_items(client, invoice, customer_id, draft.id, key, added)
    finalize: InvoiceFinalizeInvoiceParams = {"auto_advance": True}
    final = await client.v1.invoices.finalize_invoice_async(
        draft.id, finalize, {"idempotency_key": f"{key}-finalize"}
    )
    return bill_sent(final)


async def add_items(
    client: stripe.StripeClient,
    invoice: StripeInvoice,
    customer_id: str,
    invoice_id: str,
    key: str,
    added: frozenset[str],
) -> None:
    """Create the invoice's items on the draft `invoice_id`, but those whose keys are `added`."""
    for number, item in enumerate(invoice.items, start=1):
        item_key = f"{key}-item-{number}"
        if item_key not in added:
            await client.v1.invoice_items.create_async(
                item_params(item, customer_id, invoice_id, item_key),
                {"idempotency_key": item_key},
            )


async def invoice_made_before(
    client: stripe.StripeClient, customer_id: str, key: str
) -> stripe.Invoice | None:
    """The invoice an earlier attempt of the job made, found by the key in its metadata among
    the customer's latest invoices. Stripe forgets idempotency keys after 24 hours; this
    finds the invoice of a job retried or resent later."""
    latest = await client.v1.invoices.list_async({"customer": customer_id, "limit": LOOKBACK})
    return next((i for i in latest.data if made_with(i.metadata) == key), None)


async def item_keys_on(client: stripe.StripeClient, invoice_id: str) -> frozenset[str]:
    """The keys of the items an earlier attempt added to the invoice, from its lines."""
    lines = await client.v1.invoices.line_items.list_async(invoice_id, {"limit": LOOKBACK})
    return frozenset([made_with(line.metadata) async for line in lines.auto_paging_iter()])


def made_with(metadata: stripe.StripeObject | None) -> str:
    """The idempotency key an object's metadata names ("" for none)."""
    return str(metadata[KEY_METADATA]) if metadata is not None and KEY_METADATA in metadata else ""


def bill_sent(invoice: stripe.Invoice) -> BillSent:
    return BillSent(external_id=invoice.id, url=invoice.hosted_invoice_url)


def invoice_params(invoice: StripeInvoice, customer_id: str, key: str) -> InvoiceCreateParams:
    return {
        "customer": customer_id,
        "currency": invoice.currency,
        "collection_method": "send_invoice",
        "days_until_due": invoice.days_until_due,
        "auto_advance": False,  # a draft Stripe would finalize by itself, half-filled
        "pending_invoice_items_behavior": "exclude",
        "metadata": {**invoice.metadata, KEY_METADATA: key},
    }


def item_params(
    item: StripeItem, customer_id: str, invoice_id: str, key: str
) -> InvoiceItemCreateParams:
    params: InvoiceItemCreateParams = {
        "customer": customer_id,
        "invoice": invoice_id,
        "amount": item.amount,
        "currency": item.currency,
        "description": item.description,
        "metadata": {**item.metadata, KEY_METADATA: key},
    }
    if item.period is not None:
        params["period"] = {"start": item.period[0], "end": item.period[1]}
    return params


def not_sent(error: stripe.StripeError) -> BillNotSent:
    """Stripe's error as the run's outcome, in Stripe's words."""
    message = error.user_message or str(error)
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        return BillCredentialsRefused(message)
    if (
        isinstance(error, stripe.APIConnectionError | stripe.APIError | stripe.RateLimitError)
        or (error.http_status or 500) >= 500
    ):
        return BillSystemDown(message)
    return BillRejected(message)
