"""Webhook destinations, integration configurations, and the life of an integration run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from meterbell.domain.bill_delivery import BillSent
from meterbell.domain.signing import (
    Scheme,
    signed_headers,
    standard_headers,
    standard_secret_key,
)

INTEGRATION_CATEGORY = "IntegrationEvent"
NOTIFICATION_ENTITY = "Notification"
WEBHOOK_DESTINATION = "Webhook"
SLACK_DESTINATION = "Slack"
BILL_ENTITY = "Bill"
HTTP_JSON_DESTINATION = "HttpJson"
STRIPE_DESTINATION = "Stripe"
# The accounts-receivable systems Bill integrations deliver to.
BILL_DESTINATIONS = (HTTP_JSON_DESTINATION, STRIPE_DESTINATION)
PERFORM_ERROR = "integration.perform.error"
DISABLED_ERROR = "integration.disabled.error"
AUTHENTICATION_ERROR = "integration.authentication.error"
VALIDATION_ERROR = "integration.validation.error"
MISSING_MAPPING_ERROR = "integration.missingaccountmapping.error"
SEALED_SECRET = "sealedSecret"
# A Slack configuration's incoming-webhook URL, sealed (its `credentials.url` is masked).
SEALED_URL = "sealedUrl"
# A Bill configuration's credentials, sealed whole as JSON (its other fields are masked).
SEALED_CREDENTIALS = "sealedCredentials"
# What an integration configuration's `credentials` may hold sealed: never shown.
SEALED_FIELDS = (SEALED_URL, SEALED_CREDENTIALS)
# Secrets replaced by `rotatesecret` that still sign until their overlap ends, newest first:
# [{"sealedSecret": ..., "validUntil": ISO time}].
PREVIOUS_SECRETS = "previousSecrets"
# How many replaced secrets sign at most at once (rotating more often drops the oldest).
MAX_PREVIOUS_SECRETS = 5


class RunStatus(StrEnum):
    """m3ter's RunStatus, in the spec's order: where an integration run is in its life.
    meterbell sets AUTH_FAILED on Bill runs whose credentials the system refused, never the
    two billing ones (ACCOUNTING_PERIOD_CLOSED, INVOICE_ALREADY_PAID), but filters on every
    one."""

    WAITING = "WAITING"
    STARTED = "STARTED"
    COMPLETE = "COMPLETE"
    ERROR = "ERROR"
    AWAITING_RETRY = "AWAITING_RETRY"
    AUTH_FAILED = "AUTH_FAILED"
    ACCOUNTING_PERIOD_CLOSED = "ACCOUNTING_PERIOD_CLOSED"
    INVOICE_ALREADY_PAID = "INVOICE_ALREADY_PAID"
    DISABLED = "DISABLED"
    TIMEOUT_LIMIT_EXCEEDED = "TIMEOUT_LIMIT_EXCEEDED"
    RATE_LIMIT_RETRY = "RATE_LIMIT_RETRY"


UNFINISHED_STATUSES = frozenset(
    {RunStatus.WAITING, RunStatus.STARTED, RunStatus.AWAITING_RETRY, RunStatus.RATE_LIMIT_RETRY}
)
FINAL_STATUSES = frozenset(RunStatus) - UNFINISHED_STATUSES


def without_nulls(document: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The document without those of `names` that are null: m3ter's spec types them as plain
    strings, so an absent value is left out rather than sent as null."""
    return {k: v for k, v in document.items() if not (k in names and v is None)}


def config_status(enabled: bool) -> RunStatus:
    """The `status` of an integration configuration: m3ter's spec gives its GET the shape of a
    run, status required. An enabled one waits for something to deliver."""
    return RunStatus.WAITING if enabled else RunStatus.DISABLED


class SignedCredentials(BaseModel):
    """`credentials` of a webhook destination signed as m3ter signs (M3TER_SIGNED_REQUEST)."""

    model_config = ConfigDict(extra="allow", strict=True)

    type: Literal["M3TER_SIGNED_REQUEST"]
    apiKey: str = Field(min_length=1, max_length=200)  # noqa: N815
    secret: str | None = Field(default=None, min_length=1, max_length=500)
    name: str | None = None


class StandardWebhooksCredentials(BaseModel):
    """`credentials` of a destination signed the Standard Webhooks way (an extension beyond
    m3ter). A `secret` left out is generated."""

    model_config = ConfigDict(extra="allow", strict=True)

    type: Literal["STANDARD_WEBHOOKS"]
    secret: str | None = Field(default=None, min_length=1, max_length=200)
    name: str | None = None


class _SignedBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    credentials: SignedCredentials


class _StandardBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    credentials: StandardWebhooksCredentials


# Validates `{"credentials": ...}` by the credentials' type, so that messages name
# `credentials.<field>` (a pydantic union would name the union's member too).
CREDENTIALS_BODIES: Mapping[str, type[_SignedBody] | type[_StandardBody]] = {
    Scheme.M3TER_SIGNED_REQUEST: _SignedBody,
    Scheme.STANDARD_WEBHOOKS: _StandardBody,
}


class WebhookFields(BaseModel):
    """The body of `POST`/`PUT integrationdestinations/webhooks`."""

    model_config = ConfigDict(extra="allow", strict=True)

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=1000)
    url: str = Field(min_length=1, max_length=2000)
    credentials: dict[str, Any] | None = None  # checked by CREDENTIALS_BODIES
    code: str | None = Field(default=None, max_length=80)
    active: bool = True
    # Sent with every request to the destination (an extension beyond m3ter).
    headers: dict[str, Any] | None = None
    # Deliver one run at a time, in the order their events were written (an extension).
    ordered: bool = False
    # Start at most this many requests a second to the destination, over every worker.
    maxRequestsPerSecond: float | None = Field(default=None, gt=0, le=10_000)  # noqa: N815


class IntegrationConfigFields(BaseModel):
    """The body of `POST`/`PUT integrationconfigs` (m3ter's IntegrationConfigRequest)."""

    model_config = ConfigDict(extra="allow", strict=True)

    entityType: str = Field(min_length=1, max_length=80, pattern=r"^[a-zA-Z0-9_-]*$")  # noqa: N815
    destination: str = Field(min_length=1, max_length=80, pattern=r"^[a-zA-Z0-9_-]*$")
    entityId: str | None = Field(default=None, max_length=36)  # noqa: N815
    destinationId: str | None = Field(default=None, max_length=36)  # noqa: N815
    configData: dict[str, Any] = Field(default_factory=dict)  # noqa: N815
    name: str | None = Field(default=None, max_length=200)


@dataclass(frozen=True)
class RetryPolicy:
    """4 attempts, waiting 2 s, 4 s, 8 s by default: wait before retry n = backoff * 2^(n-1)."""

    attempts: int
    backoff_s: float

    @property
    def max_wait_s(self) -> float:
        return float(self.backoff_s * 2 ** max(self.attempts - 2, 0))

    def wait_before_retry(self, failed_attempts: int) -> float:
        return float(self.backoff_s * 2 ** (failed_attempts - 1))


@dataclass(frozen=True)
class FinalFailure:
    """A failure no retry can mend (a Bill the system refused): the run ends at once with
    `status`, raising the error event `event_name`."""

    status: RunStatus
    event_name: str


@dataclass(frozen=True)
class AttemptOutcome:
    """What one HTTP attempt came to."""

    ok: bool
    status_code: int | None
    error: str | None
    retry_after_s: float | None = None
    gone: bool = False
    final: FinalFailure | None = None
    # A Bill run's invoice, as the accounts-receivable system made it.
    invoice: BillSent | None = None


@dataclass(frozen=True)
class NextStep:
    status: RunStatus
    next_attempt_at: datetime | None
    error: str | None


def classify_response(status_code: int, retry_after: str | None) -> AttemptOutcome:
    """2xx succeeds; 3xx is a failure (redirects are not followed); 410 stops for good;
    429/503 may say when to come back (`Retry-After` in seconds)."""
    if 200 <= status_code < 300:
        return AttemptOutcome(True, status_code, None)
    if status_code == 410:
        return AttemptOutcome(
            False, status_code, "410 Gone: the receiver asked to stop sending", gone=True
        )
    wait = None
    if status_code in (429, 503) and retry_after and retry_after.strip().isdigit():
        wait = float(retry_after.strip())
    kind = "redirect (not followed)" if 300 <= status_code < 400 else "non-2xx response"
    return AttemptOutcome(False, status_code, f"{kind}: HTTP {status_code}", retry_after_s=wait)


def next_step(
    outcome: AttemptOutcome, failed_attempts: int, policy: RetryPolicy, now: datetime
) -> NextStep:
    """Where a run goes after an attempt: done, back in the queue, or failed for good."""
    if outcome.ok:
        return NextStep(RunStatus.COMPLETE, None, None)
    if outcome.final is not None:
        return NextStep(outcome.final.status, None, outcome.error)
    if outcome.gone or failed_attempts >= policy.attempts:
        return NextStep(RunStatus.ERROR, None, outcome.error)
    if outcome.retry_after_s is not None:
        wait = min(outcome.retry_after_s, policy.max_wait_s)
        return NextStep(RunStatus.RATE_LIMIT_RETRY, now + timedelta(seconds=wait), outcome.error)
    wait = policy.wait_before_retry(failed_attempts)
    return NextStep(RunStatus.AWAITING_RETRY, now + timedelta(seconds=wait), outcome.error)


@dataclass(frozen=True)
class DeliveryTarget:
    """Everything the deliverer needs to know about where a run goes, right now."""

    config_id: str
    enabled: bool
    destination_id: str
    destination_version: int
    url: str
    api_key: str
    sealed_secret: str
    active: bool
    scheme: Scheme = Scheme.M3TER_SIGNED_REQUEST
    # Replaced secrets that still sign: (sealed secret, until when), newest first.
    previous_secrets: tuple[tuple[str, datetime], ...] = ()
    # The destination's static headers, sent with every request.
    headers: tuple[tuple[str, str], ...] = ()
    # Slack: `sealed_secret` is the sealed incoming-webhook URL, `url` its masked form.
    # Bill systems: `sealed_secret` is the sealed credentials (JSON), `url` where bills go.
    destination: str = WEBHOOK_DESTINATION
    config_data: Mapping[str, Any] = field(default_factory=dict)
    ordered: bool = False
    max_per_second: float | None = None

    @property
    def in_lane(self) -> bool:
        """Whether its runs go by a delivery lane's rules (store/lanes.py): claimed from the
        store, never handed straight from the dispatcher to a deliverer."""
        return self.ordered or self.max_per_second is not None

    @property
    def closed_reason(self) -> str | None:
        """Why runs to this target are not sent, or None when they are."""
        if not self.enabled:
            return "the integration configuration is disabled"
        if not self.active:
            return "the webhook destination is inactive"
        return None


def delivery_target(config: Mapping[str, Any], webhook: Mapping[str, Any]) -> DeliveryTarget:
    credentials = webhook["credentials"]
    headers = webhook.get("headers") or {}
    return DeliveryTarget(
        config_id=config["id"],
        enabled=bool(config.get("enabled", True)),
        destination_id=webhook["id"],
        destination_version=int(webhook["version"]),
        url=webhook["url"],
        api_key=credentials.get("apiKey", ""),
        sealed_secret=credentials[SEALED_SECRET],
        active=bool(webhook.get("active", True)),
        scheme=Scheme(credentials.get("type", Scheme.M3TER_SIGNED_REQUEST)),
        previous_secrets=tuple(
            (old[SEALED_SECRET], datetime.fromisoformat(old["validUntil"]))
            for old in credentials.get(PREVIOUS_SECRETS, ())
        ),
        headers=tuple((str(name), str(value)) for name, value in headers.items()),
        ordered=bool(webhook.get("ordered")),
        max_per_second=webhook.get("maxRequestsPerSecond"),
    )


def slack_target(config: Mapping[str, Any]) -> DeliveryTarget:
    """A Slack configuration is its own destination: its credentials hold the sealed URL."""
    credentials = config["credentials"]
    return DeliveryTarget(
        config_id=config["id"],
        enabled=bool(config.get("enabled", True)),
        destination_id=config["id"],
        destination_version=int(config["version"]),
        url=credentials["url"],
        api_key="",
        sealed_secret=credentials[SEALED_URL],
        active=True,
        destination=SLACK_DESTINATION,
    )


def bill_target(config: Mapping[str, Any]) -> DeliveryTarget:
    """A Bill configuration is its own destination: its credentials are sealed in it, and its
    `configData.url` (HttpJson) is where bills go; other systems are named by their name."""
    config_data = config.get("configData") or {}
    return DeliveryTarget(
        config_id=config["id"],
        enabled=bool(config.get("enabled", True)),
        destination_id=config["id"],
        destination_version=int(config["version"]),
        url=str(config_data.get("url") or config["destination"]),
        api_key="",
        sealed_secret=config["credentials"][SEALED_CREDENTIALS],
        active=True,
        destination=config["destination"],
        config_data=config_data,
    )


def config_target(
    config: Mapping[str, Any], webhook: Mapping[str, Any] | None
) -> DeliveryTarget | None:
    """Where a configuration's runs go: Slack, an accounts-receivable system, or its webhook
    (None when that is gone)."""
    if config.get("destination") == SLACK_DESTINATION:
        return slack_target(config)
    if config.get("entityType") == BILL_ENTITY:
        return bill_target(config)
    return delivery_target(config, webhook) if webhook is not None else None


@dataclass(frozen=True)
class OpenedSecrets:
    """A target's secrets, decrypted: the current one, and those replaced by a rotation with
    until when they still sign."""

    current: str
    previous: tuple[tuple[str, datetime], ...] = ()

    def signing(self, now: datetime) -> list[str]:
        """The secrets that sign at `now`: the current one first."""
        return [self.current, *(secret for secret, until in self.previous if until > now)]


def request_headers(
    target: DeliveryTarget, secrets: OpenedSecrets, body: bytes, delivery_id: str, now: datetime
) -> dict[str, str]:
    """The headers of a request to `target`: its static headers, then its signature's."""
    current, *previous = secrets.signing(now)
    headers = dict(target.headers)
    if target.scheme == Scheme.STANDARD_WEBHOOKS:
        keys = [standard_secret_key(secret) for secret in (current, *previous)]
        headers.update(standard_headers(keys, int(now.timestamp()), body, delivery_id))
    else:
        timestamp_ms = int(now.timestamp() * 1000)
        headers.update(
            signed_headers(
                target.url, target.api_key, current, timestamp_ms, body, delivery_id, previous
            )
        )
    return headers


INTEGRATION_ERROR_FIELDS = {
    "integrationConfigId": "string",
    "entityType": "string",
    "entityId": "string",
    "destination": "string",
    "destinationId": "string",
    "integrationRunId": "string",
    "url": "string",
    "attempts": "int",
    "statusCode": "int",
    "reason": "string",
}


def integration_error_data(
    *,
    config_id: str,
    entity_type: str = NOTIFICATION_ENTITY,
    entity_id: str,
    destination: str = WEBHOOK_DESTINATION,
    destination_id: str,
    run_id: str | None,
    url: str | None,
    attempts: int,
    status_code: int | None,
    reason: str,
) -> dict[str, Any]:
    """`m3terEvent` of an `integration.*.error` event; rules read it as `new.*`."""
    details = {
        "integrationConfigId": config_id,
        "entityType": entity_type,
        "entityId": entity_id,
        "destination": destination,
        "destinationId": destination_id,
        "integrationRunId": run_id,
        "url": url,
        "attempts": attempts,
        "statusCode": status_code,
        "reason": reason,
    }
    return {"eventData": {"newDto": details}}
