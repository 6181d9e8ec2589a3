"""Sending a Bill run to its accounts-receivable system: which connector each system has (the
one place a destination's name meets its connector), the job a run comes to, and what a
connector's answer means for the run (domain/bill_delivery.py)."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from meterbell.domain.bill_delivery import (
    BillCredentialsRefused,
    BillJob,
    BillNotSent,
    BillRejected,
    BillSent,
)
from meterbell.domain.integrations import (
    AUTHENTICATION_ERROR,
    HTTP_JSON_DESTINATION,
    MISSING_MAPPING_ERROR,
    STRIPE_DESTINATION,
    VALIDATION_ERROR,
    AttemptOutcome,
    FinalFailure,
    RunStatus,
)
from meterbell.store.runs import RunRow
from meterbell.workers.http_json_sender import OAuthTokens, send_bill_as_json
from meterbell.workers.sender import Sent, SignedSender
from meterbell.workers.stripe_sender import send_bill_to_stripe

# Names idempotency keys (UUID v5) by configuration, bill and version.
BILL_KEYS = uuid.UUID("0b6f8d3c-5a2e-4f1b-9c7d-2e4a6b8c0d1f")
BillConnector = Callable[[BillJob], Awaitable[BillSent]]

# What a refusal no retry can mend ends a run with; other BillNotSent (the system down) are
# retried as failed webhook requests are.
FINAL_FAILURES: Mapping[type[BillNotSent], FinalFailure] = {
    BillCredentialsRefused: FinalFailure(RunStatus.AUTH_FAILED, AUTHENTICATION_ERROR),
    BillRejected: FinalFailure(RunStatus.ERROR, VALIDATION_ERROR),
}
MISSING_MAPPING = FinalFailure(RunStatus.ERROR, MISSING_MAPPING_ERROR)


def bill_connectors(
    sender: SignedSender, tokens: OAuthTokens, *, stripe_api_base: str, timeout_s: float
) -> dict[str, BillConnector]:
    """Each accounts-receivable system's connector, by destination name."""
    return {
        HTTP_JSON_DESTINATION: functools.partial(send_bill_as_json, sender, tokens),
        STRIPE_DESTINATION: functools.partial(
            send_bill_to_stripe, api_base=stripe_api_base, timeout_s=timeout_s
        ),
    }


def idempotency_key(run: RunRow, bill: Mapping[str, Any]) -> str:
    """Derived from the run's configuration, its bill and the bill's version (which the run
    carries): the same on every attempt of the run, on another worker's after a crash, and on
    every resend of it, so one bill version makes one invoice per configuration."""
    name = f"{run.config_id}/{run.entity_id}/{bill.get('version')}"
    return f"meterbell-{uuid.uuid5(BILL_KEYS, name)}"


def _sent(outcome: AttemptOutcome, started: float) -> Sent:
    return Sent(outcome, None, "", {}, time.perf_counter() - started)


def missing_mapping(account_id: str, system: str) -> Sent:
    """A run whose bill's account has no external mapping to the system: nothing was sent."""
    error = (
        f"account {account_id} has no external mapping to {system}: create one (m3terEntity "
        f"'Account', m3terId {account_id}, externalSystem '{system}'), then resend the run"
    )
    return _sent(AttemptOutcome(False, None, error, final=MISSING_MAPPING), time.perf_counter())


async def send_bill(connector: BillConnector, job: BillJob) -> Sent:
    """Run the connector: the invoice it made, or why it made none."""
    started = time.perf_counter()
    try:
        invoice = await connector(job)
    except BillNotSent as exc:
        final = next((f for kind, f in FINAL_FAILURES.items() if isinstance(exc, kind)), None)
        return _sent(AttemptOutcome(False, None, exc.message, final=final), started)
    return _sent(AttemptOutcome(True, None, None, invoice=invoice), started)
