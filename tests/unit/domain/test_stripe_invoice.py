"""A bill as a Stripe invoice: amounts in the currency's smallest unit, the invoice's terms,
and the bills that cannot become one."""

from __future__ import annotations

from typing import Any

import pytest

from meterbell.domain.bill_delivery import BillRejected
from meterbell.domain.stripe_invoice import (
    DEFAULT_DAYS_UNTIL_DUE,
    DEFAULT_ITEM_DESCRIPTION,
    minor_units,
    stripe_invoice,
)


def a_bill(*lines: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": "b-1", "currency": "USD", "lineItems": list(lines), **fields}


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (12.5, "usd", 1250),
        (0.335, "usd", 34),  # half up, on the decimal written, not the float's binary value
        (0.1 + 0.2, "usd", 30),
        (-0.005, "eur", -1),
        (1234.5, "jpy", 1235),
        (99, "krw", 99),
        (1.2345, "kwd", 1230),  # thousandths ending in 0
        (7, "bhd", 7000),
    ],
)
def test_minor_units(amount: float, currency: str, expected: int) -> None:
    assert minor_units(amount, currency) == expected


def test_days_until_due_run_from_the_bill_date_to_its_due_date() -> None:
    bill = a_bill({"subtotal": 1}, billDate="2026-12-01", dueDate="2026-12-31")

    assert stripe_invoice(bill).days_until_due == 30
    assert stripe_invoice(a_bill({"subtotal": 1})).days_until_due == DEFAULT_DAYS_UNTIL_DUE
    overdue = a_bill({"subtotal": 1}, billDate="2026-12-01", dueDate="2026-11-01")
    assert stripe_invoice(overdue).days_until_due == 0


def test_a_line_is_described_by_its_description_else_its_product() -> None:
    bill = a_bill(
        {"subtotal": 1, "description": "Storage"},
        {"subtotal": 1, "productName": "Compute"},
        {"subtotal": 1},
    )

    descriptions = [item.description for item in stripe_invoice(bill).items]

    assert descriptions == ["Storage", "Compute", DEFAULT_ITEM_DESCRIPTION]


def test_a_line_in_another_currency_without_a_conversion_keeps_its_currency() -> None:
    (item,) = stripe_invoice(a_bill({"subtotal": 3, "currency": "EUR"})).items

    assert (item.amount, item.currency) == (300, "eur")


def test_a_reversed_service_period_is_left_out() -> None:
    line = {
        "subtotal": 1,
        "servicePeriodStartDate": "2026-12-01T00:00:00Z",
        "servicePeriodEndDate": "2026-11-01T00:00:00Z",
    }

    assert stripe_invoice(a_bill(line)).items[0].period is None


@pytest.mark.parametrize(
    ("bill", "message"),
    [
        (a_bill(), "The bill has no line items: there is nothing to invoice."),
        (a_bill({"subtotal": 1}, currency=""), "The bill has no currency."),
        (a_bill({"subtotal": "12"}), "Line item 1 has no amount (subtotal): '12'."),
        (
            a_bill({"subtotal": 1}, {"subtotal": True}),
            "Line item 2 has no amount (subtotal): True.",
        ),
        (
            a_bill({"subtotal": 1, "servicePeriodStartDate": "soon", "servicePeriodEndDate": "x"}),
            "Line item 1 has an invalid service period: Invalid isoformat string: 'soon'",
        ),
    ],
)
def test_bills_that_cannot_become_an_invoice(bill: dict[str, Any], message: str) -> None:
    with pytest.raises(BillRejected) as rejected:
        stripe_invoice(bill)

    assert rejected.value.message == message
