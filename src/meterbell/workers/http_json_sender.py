"""HttpJson: a bill, with its line items and the account's customer id in the system, POSTed
as JSON to an in-house accounts-receivable system at `configData.url`, on the deliverer's one
HTTP path (workers/sender.py), so the same private-address, https-only, redirect and timeout
rules apply as to webhooks.

The request carries the configuration's credentials (domain/bill_credentials.py) and the run's
idempotency key in `Idempotency-Key`. OAuth tokens are fetched with the client credentials
grant, kept until shortly before they expire, and fetched again once when the system answers
401 to a kept one. The answer's `id` is the invoice's id, its `url` (if any) the invoice's URL.
401/403 mean refused credentials, 400/422 refused data (the answer's `message`), anything else
that is not 2xx (and a timeout, a connection failure) the system down: retried."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from meterbell.domain.bill_credentials import OAUTH_CLIENT_CREDENTIALS, basic_auth, static_headers
from meterbell.domain.bill_delivery import (
    BillCredentialsRefused,
    BillJob,
    BillRejected,
    BillSent,
    BillSystemDown,
)
from meterbell.workers.sender import Sent, SignedSender

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
TOKEN_HEADERS = {
    "Content-Type": "application/x-www-form-urlencoded",
    "Accept": "application/json",
}
TOKEN_BODY = b"grant_type=client_credentials"
# A token is fetched again this long before the system says it expires.
TOKEN_MARGIN_S = 30.0
# A token whose answer gives no `expires_in` is kept this long.
DEFAULT_TOKEN_LIFE_S = 300.0
REFUSED_CREDENTIALS = (401, 403)
REFUSED_DATA = (400, 422)
MESSAGE_LIMIT = 500


def bill_payload(job: BillJob) -> bytes:
    """What is POSTed: the bill (with `lineItems`) and the account's id in the system."""
    return orjson.dumps({"externalCustomerId": job.customer_id, "bill": job.bill})


def _answer(sent: Sent) -> Any:
    try:
        return orjson.loads(sent.response_body)
    except orjson.JSONDecodeError:
        return None


def _message(sent: Sent) -> str:
    """The system's own words: the answer's `message` (or `error`), else its text."""
    answer = _answer(sent)
    if isinstance(answer, Mapping):
        for name in ("message", "error_description", "error"):
            if isinstance(answer.get(name), str) and answer[name]:
                return str(answer[name])[:MESSAGE_LIMIT]
    return sent.response_body.strip()[:MESSAGE_LIMIT] or "(no message)"


def _failure(sent: Sent, what: str) -> Exception:
    """The error a non-2xx answer (or no answer) to `what` comes to."""
    status = sent.status_code
    if status is None:
        return BillSystemDown(f"{what}: {sent.outcome.error}")
    said = f"{what}: HTTP {status}: {_message(sent)}"
    if status in REFUSED_CREDENTIALS:
        return BillCredentialsRefused(said)
    if status in REFUSED_DATA:
        return BillRejected(said)
    return BillSystemDown(said)


@dataclass(frozen=True)
class _Token:
    value: str
    good_until: float


class OAuthTokens:
    """Bearer tokens by client (token URL, client id and secret), kept until shortly before
    they expire; one fetch at a time per client."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str, str], _Token] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    @staticmethod
    def _key(credentials: Mapping[str, Any]) -> tuple[str, str, str]:
        return (
            str(credentials["tokenUrl"]),
            str(credentials["clientId"]),
            str(credentials["clientSecret"]),
        )

    async def token(self, sender: SignedSender, credentials: Mapping[str, Any]) -> str:
        key = self._key(credentials)
        async with self._locks.setdefault(key, asyncio.Lock()):
            kept = self._tokens.get(key)
            if kept is None or kept.good_until <= self._clock():
                kept = await self._fetch(sender, credentials)
                self._tokens[key] = kept
            return kept.value

    def forget(self, credentials: Mapping[str, Any], value: str) -> None:
        """Drop the kept token `value` (the system refused it), unless already replaced."""
        key = self._key(credentials)
        kept = self._tokens.get(key)
        if kept is not None and kept.value == value:
            del self._tokens[key]

    async def _fetch(self, sender: SignedSender, credentials: Mapping[str, Any]) -> _Token:
        headers = TOKEN_HEADERS | {
            "Authorization": basic_auth(credentials["clientId"], credentials["clientSecret"])
        }
        sent = await sender.post(str(credentials["tokenUrl"]), TOKEN_BODY, headers)
        if not sent.outcome.ok:
            raise _failure(sent, "the token request failed")
        answer = _answer(sent)
        if not isinstance(answer, Mapping) or not isinstance(answer.get("access_token"), str):
            raise BillCredentialsRefused("the token endpoint answered without an access_token")
        life = answer.get("expires_in")
        seconds = float(life) if isinstance(life, int | float) else DEFAULT_TOKEN_LIFE_S
        return _Token(answer["access_token"], self._clock() + max(seconds - TOKEN_MARGIN_S, 0))


def _sent_bill(sent: Sent) -> BillSent:
    answer = _answer(sent)
    invoice_id = answer.get("id") if isinstance(answer, Mapping) else None
    if not isinstance(invoice_id, str | int) or isinstance(invoice_id, bool) or invoice_id == "":
        raise BillRejected(
            f"the system answered HTTP {sent.status_code} without an invoice 'id' in a JSON "
            "object, so meterbell cannot tell which invoice it made"
        )
    url = answer.get("url")
    return BillSent(str(invoice_id), url if isinstance(url, str) and url else None)


async def _post(sender: SignedSender, job: BillJob, auth: Mapping[str, str]) -> Sent:
    headers = JSON_HEADERS | {"Idempotency-Key": job.idempotency_key} | dict(auth)
    return await sender.post(str(job.config_data["url"]), bill_payload(job), headers)


async def send_bill_as_json(sender: SignedSender, tokens: OAuthTokens, job: BillJob) -> BillSent:
    """POST the job's bill to `configData.url`; the invoice the system made of it."""
    credentials = job.credentials
    if credentials["type"] != OAUTH_CLIENT_CREDENTIALS:
        sent = await _post(sender, job, static_headers(credentials, job.config_data))
    else:
        token = await tokens.token(sender, credentials)
        sent = await _post(sender, job, {"Authorization": f"Bearer {token}"})
        if sent.status_code == 401:
            tokens.forget(credentials, token)
            token = await tokens.token(sender, credentials)
            sent = await _post(sender, job, {"Authorization": f"Bearer {token}"})
    if not sent.outcome.ok:
        raise _failure(sent, "the bill was not taken")
    return _sent_bill(sent)
