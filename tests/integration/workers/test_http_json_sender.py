"""The HttpJson connector on the deliverer's HTTP path, against a real accounts-receivable
stand-in: OAuth tokens kept until shortly before they expire, a refused token request, an
answer without an invoice id, and the webhook URL rules at delivery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from meterbell.domain.bill_delivery import (
    BillCredentialsRefused,
    BillJob,
    BillRejected,
    BillSent,
    BillSystemDown,
)
from meterbell.workers.http_json_sender import TOKEN_MARGIN_S, OAuthTokens, send_bill_as_json
from meterbell.workers.sender import SignedSender
from tests.ar_server import CLIENT_ID, CLIENT_SECRET, ArServer


@pytest.fixture
async def ar() -> AsyncIterator[ArServer]:
    server = ArServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def sender() -> AsyncIterator[SignedSender]:
    opened = SignedSender(timeout_s=2.0, allow_private=True, concurrency=2)
    await opened.open()
    yield opened
    await opened.close()


def oauth_job(ar: ArServer, secret: str = CLIENT_SECRET, path: str = "/invoices") -> BillJob:
    credentials = {
        "type": "OAUTH_CLIENT_CREDENTIALS",
        "clientId": CLIENT_ID,
        "clientSecret": secret,
        "tokenUrl": ar.url("/token"),
    }
    return job_to(ar.url(path), credentials)


def job_to(url: str, credentials: dict[str, Any]) -> BillJob:
    return BillJob(
        bill={"id": "bill-1", "accountId": "acct-1", "lineItems": []},
        customer_id="cus_1",
        credentials=credentials,
        config_data={"url": url},
        idempotency_key="meterbell-key-1",
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_token_is_kept_until_shortly_before_it_expires(
    ar: ArServer, sender: SignedSender
) -> None:
    clock = Clock()
    tokens = OAuthTokens(clock)
    assert await send_bill_as_json(sender, tokens, oauth_job(ar)) == BillSent(
        "inv_1", ar.url("/i/inv_1")
    )
    clock.now += 3600 - TOKEN_MARGIN_S - 1
    await send_bill_as_json(sender, tokens, oauth_job(ar))
    assert ar.tokens_given == ["token-1"]
    clock.now += 1
    await send_bill_as_json(sender, tokens, oauth_job(ar))
    assert ar.tokens_given == ["token-1", "token-2"]
    authorizations = [r.headers["Authorization"] for r in ar.at("/invoices")]
    assert authorizations == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]


async def test_a_refused_token_request_is_refused_credentials(
    ar: ArServer, sender: SignedSender
) -> None:
    with pytest.raises(BillCredentialsRefused, match="invalid_client"):
        await send_bill_as_json(sender, OAuthTokens(), oauth_job(ar, secret="wrong"))
    assert ar.at("/invoices") == []


async def test_an_unreachable_system_is_down(sender: SignedSender) -> None:
    job = job_to("http://127.0.0.1:9/invoices", {"type": "STATIC_API_KEY", "apiKey": "k"})
    with pytest.raises(BillSystemDown, match="connection failed"):
        await send_bill_as_json(sender, OAuthTokens(), job)


@pytest.mark.parametrize("answer", [{"url": "https://ar.example/i/1"}, {"id": ""}, ["inv_1"]])
async def test_an_answer_without_an_invoice_id_is_rejected(
    ar: ArServer, sender: SignedSender, answer: Any
) -> None:
    ar.taken_answer = answer
    job = job_to(ar.url("/invoices"), {"type": "STATIC_API_KEY", "apiKey": "k"})
    with pytest.raises(BillRejected, match="without an invoice 'id'"):
        await send_bill_as_json(sender, OAuthTokens(), job)


async def test_the_webhook_url_rules_hold_at_delivery(ar: ArServer) -> None:
    strict = SignedSender(timeout_s=2.0, allow_private=False, concurrency=1)
    await strict.open()
    try:
        with pytest.raises(BillSystemDown, match="not a public address"):
            await send_bill_as_json(strict, OAuthTokens(), oauth_job(ar))
    finally:
        await strict.close()
    assert ar.requests == []
    assert ar.tokens_given == []
