"""What sending one bill to an accounts-receivable system comes to.

A connector (workers/stripe_sender.py, workers/http_json_sender.py) either returns `BillSent`
or raises one of the `BillNotSent` errors below; the deliverer turns each into the run's status,
its error event and its alert."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BillJob:
    """One attempt to send a bill: everything a connector needs, already opened.

    `bill` is the bill in m3ter's shape (BillResponse) with its line items under "lineItems"
    (LineItemResponse); `customer_id` is the account's external id in the system, from its
    external mapping; `credentials` are the configuration's, decrypted; `idempotency_key` is
    derived from the run and is the same on every attempt, so a retry never makes a second
    invoice."""

    bill: Mapping[str, Any]
    customer_id: str
    credentials: Mapping[str, Any]
    config_data: Mapping[str, Any]
    idempotency_key: str


@dataclass(frozen=True)
class BillSent:
    """The invoice the system made of the bill: its id there and, where it has one, its URL."""

    external_id: str
    url: str | None


class BillNotSent(Exception):
    """The bill did not reach the system; `message` says why, in the system's words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BillCredentialsRefused(BillNotSent):
    """The system refused the credentials: the run ends AUTH_FAILED."""


class BillRejected(BillNotSent):
    """The system cannot take the bill's data (currency, empty bill, a line item): ERROR."""


class BillSystemDown(BillNotSent):
    """The system could not be reached or failed (5xx, timeout): the run is retried."""
