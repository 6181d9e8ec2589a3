"""A bill as a Stripe invoice: one invoice item per line item, amounts in the currency's smallest
unit, and the invoice's terms. Everything is derived from the bill alone, so a retry sends the
very same requests (Stripe refuses an idempotency key reused with other parameters). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from meterbell.domain.bill_delivery import BillRejected
from meterbell.domain.clock import as_utc

# Stripe's zero-decimal currencies (amounts in whole units) and three-decimal ones (amounts in
# thousandths, which Stripe requires to end in 0): https://docs.stripe.com/currencies
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv"}
    | {"xaf", "xof", "xpf"}
)
THREE_DECIMAL_CURRENCIES = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
# Days a customer has to pay when the bill gives no due date.
DEFAULT_DAYS_UNTIL_DUE = 30
DEFAULT_ITEM_DESCRIPTION = "Bill line item"


@dataclass(frozen=True)
class StripeItem:
    """One invoice item: `amount` in the currency's smallest unit; `period` the service period
    as Unix times, where the line item has one."""

    amount: int
    currency: str
    description: str
    metadata: dict[str, str]
    period: tuple[int, int] | None


@dataclass(frozen=True)
class StripeInvoice:
    """The invoice a bill becomes (sent for payment, due after `days_until_due`) and its items."""

    currency: str
    days_until_due: int
    metadata: dict[str, str]
    items: tuple[StripeItem, ...]


def stripe_invoice(bill: Mapping[str, Any]) -> StripeInvoice:
    """The invoice for `bill` (m3ter's BillResponse with "lineItems"); BillRejected when the
    bill has no line items, no currency, or an amount that is not a number."""
    lines = bill.get("lineItems") or []
    if not lines:
        raise BillRejected("The bill has no line items: there is nothing to invoice.")
    currency = str(bill.get("currency") or "").lower()
    if not currency:
        raise BillRejected("The bill has no currency.")
    bill_metadata = {"m3ter_bill_id": str(bill.get("id", ""))}
    return StripeInvoice(
        currency=currency,
        days_until_due=days_until_due(bill),
        metadata={
            **bill_metadata,
            "m3ter_bill_version": str(bill.get("version", "")),
            "m3ter_account_id": str(bill.get("accountId", "")),
        },
        items=tuple(
            stripe_item(line, number, currency, bill_metadata)
            for number, line in enumerate(lines, start=1)
        ),
    )


def stripe_item(
    line: Mapping[str, Any], number: int, currency: str, bill_metadata: dict[str, str]
) -> StripeItem:
    """Line item `number` (from 1) of a bill in `currency`. A line in another currency is sent
    converted (`convertedSubtotal`) where the bill has converted it, else as it is, for Stripe
    to judge."""
    amount, item_currency = line.get("subtotal"), str(line.get("currency") or currency).lower()
    if item_currency != currency and line.get("convertedSubtotal") is not None:
        amount, item_currency = line["convertedSubtotal"], currency
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise BillRejected(f"Line item {number} has no amount (subtotal): {amount!r}.")
    return StripeItem(
        amount=minor_units(amount, item_currency),
        currency=item_currency,
        description=str(line.get("description") or line.get("productName") or "")
        or DEFAULT_ITEM_DESCRIPTION,
        metadata={**bill_metadata, "m3ter_line_item_id": str(line.get("id", ""))},
        period=service_period(line, number),
    )


def minor_units(amount: int | float, currency: str) -> int:
    """`amount` in `currency`'s smallest unit, rounded half up: cents for USD, yen for JPY, and
    thousandths ending in 0 for three-decimal currencies such as KWD."""
    value = Decimal(str(amount))
    if currency in ZERO_DECIMAL_CURRENCIES:
        return int(value.quantize(Decimal(1), ROUND_HALF_UP))
    cents = int((value * 100).quantize(Decimal(1), ROUND_HALF_UP))
    return cents * 10 if currency in THREE_DECIMAL_CURRENCIES else cents


def service_period(line: Mapping[str, Any], number: int) -> tuple[int, int] | None:
    start, end = line.get("servicePeriodStartDate"), line.get("servicePeriodEndDate")
    if not start or not end:
        return None
    try:
        period = (unix_time(str(start)), unix_time(str(end)))
    except ValueError as error:
        raise BillRejected(f"Line item {number} has an invalid service period: {error}") from None
    return period if period[0] <= period[1] else None


def unix_time(value: str) -> int:
    return int(as_utc(datetime.fromisoformat(value)).timestamp())


def days_until_due(bill: Mapping[str, Any]) -> int:
    """Days from the bill's date to its due date (none before), or DEFAULT_DAYS_UNTIL_DUE."""
    try:
        billed = date.fromisoformat(str(bill["billDate"]))
        due = date.fromisoformat(str(bill["dueDate"]))
    except (KeyError, ValueError):
        return DEFAULT_DAYS_UNTIL_DUE
    return max((due - billed).days, 0)
