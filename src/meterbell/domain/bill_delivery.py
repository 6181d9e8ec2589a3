"""What sending one bill to an accounts-receivable system comes to.

A connector (workers/stripe_sender.py, workers/http_json_sender.py) either returns `BillSent`
or raises one of the `BillNotSent` errors below; the deliverer turns each into the run's status,
its error event and its alert."""

from __future__ import annotations

from dataclasses import dataclass


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
