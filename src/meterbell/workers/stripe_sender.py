"""Stripe as an accounts-receivable system: a bill becomes a Stripe invoice through the official
`stripe` package's async client, with the tenant's own API key (never `stripe.api_key`, which
is global).

Steps, each a create with its own idempotency key (the job's key plus the step):
1. `POST /v1/invoices` (`<key>-invoice`): a draft invoice for the mapped customer that takes no
   pending items of other origin and that Stripe does not finalize by itself;
2. `POST /v1/invoiceitems` (`<key>-item-<n>`) for line item n, attached to that invoice;
3. `POST /v1/invoices/{id}/finalize` (`<key>-finalize`), handing collection over to Stripe.
The invoice comes first, so a retry after a crash at any step replays what was done (the same
invoice, the same items) and only does what was not: one invoice per job, each item once."""

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
    """The three steps; the idempotency keys make each safe to repeat."""
    invoices = client.v1.invoices
    draft = await invoices.create_async(
        invoice_params(invoice, customer_id), {"idempotency_key": f"{key}-invoice"}
    )
    for number, item in enumerate(invoice.items, start=1):
        await client.v1.invoice_items.create_async(
            item_params(item, customer_id, draft.id), {"idempotency_key": f"{key}-item-{number}"}
        )
    finalize: InvoiceFinalizeInvoiceParams = {"auto_advance": True}
    final = await invoices.finalize_invoice_async(
        draft.id, finalize, {"idempotency_key": f"{key}-finalize"}
    )
    return BillSent(external_id=final.id, url=final.hosted_invoice_url)


def invoice_params(invoice: StripeInvoice, customer_id: str) -> InvoiceCreateParams:
    return {
        "customer": customer_id,
        "currency": invoice.currency,
        "collection_method": "send_invoice",
        "days_until_due": invoice.days_until_due,
        "auto_advance": False,  # a draft Stripe would finalize by itself, half-filled
        "pending_invoice_items_behavior": "exclude",
        "metadata": invoice.metadata,
    }


def item_params(item: StripeItem, customer_id: str, invoice_id: str) -> InvoiceItemCreateParams:
    params: InvoiceItemCreateParams = {
        "customer": customer_id,
        "invoice": invoice_id,
        "amount": item.amount,
        "currency": item.currency,
        "description": item.description,
        "metadata": item.metadata,
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
