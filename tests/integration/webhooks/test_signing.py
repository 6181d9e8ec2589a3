"""Standard Webhooks signatures and secret rotation, through a live engine to a real receiver.
Every request is checked with the official `standardwebhooks` package (or, for m3ter's
scheme, an HMAC computed here), not only with meterbell's own helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from meterbell.app import create_app
from meterbell.config import Settings
from meterbell.store.db import Database
from meterbell.webhooks import verify, verify_request, verify_standard
from tests.conftest import TEST_SECRET_KEY, OrgApi, new_org_api
from tests.integration.webhooks.conftest import live_engine, new_commitment, spend
from tests.integration.webhooks.test_delivery import poll
from tests.receiver import Received, Receiver

SECRET_24 = "whsec_" + base64.b64encode(bytes(range(24))).decode()
SECRET_64 = "whsec_" + base64.b64encode(bytes(range(100, 164))).decode()


@pytest.fixture(scope="module")
async def live_client(
    db: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    async with live_engine(db, tmp_path_factory.mktemp("signing"), delivery_attempts=3) as client:
        yield client


async def wire_webhook(
    api: OrgApi, receiver: Receiver, path: str, credentials: dict[str, Any], **fields: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An always-firing rule on commitment updates, delivered to a new destination at `path`
    with `credentials`: (the create answer of the destination, the rule)."""
    rule = await api.post(
        "notifications/configurations",
        {
            "name": f"rule {path}",
            "code": f"rule{path.replace('/', '-')}",
            "eventName": "configuration.commitment.updated",
            "alwaysFireEvent": True,
        },
    )
    assert rule.status_code == 200, rule.text
    webhook = await api.post(
        "integrationdestinations/webhooks",
        {"name": f"hook {path}", "url": receiver.url(path), "credentials": credentials, **fields},
    )
    assert webhook.status_code == 200, webhook.text
    config = await api.post(
        "integrationconfigs",
        {
            "entityType": "Notification",
            "entityId": rule.json()["id"],
            "destination": "Webhook",
            "destinationId": webhook.json()["id"],
        },
    )
    assert config.status_code == 200, config.text
    return webhook.json(), rule.json()


async def fire(api: OrgApi, receiver: Receiver, path: str, count: int = 1) -> list[Received]:
    """Update a commitment (firing every always-firing rule once); the requests at `path`."""
    before = len(receiver.at(path))
    await spend(api, await new_commitment(api), 1)
    return (await receiver.wait_for(path, before + count))[before:]


def standard_verified(secret: str, request: Received) -> Any:
    """The body as the official library parses it, or its WebhookVerificationError."""
    return Webhook(secret).verify(request.body, request.headers)


def m3ter_hmac(secret: str, url: str, request: Received) -> str:
    base, _, query = url.partition("?")
    timestamp = request.headers["X-m3ter-timestamp"]
    message = f"{base}|{query}|{request.headers['X-m3ter-apikey']}|{timestamp}|".encode()
    return hmac.new(secret.encode(), message + request.body, hashlib.sha256).hexdigest()


async def run_ids(api: OrgApi, rule: dict[str, Any]) -> list[str]:
    runs = (await api.get(f"integrationruns/Notification/{rule['id']}")).json()["data"]
    return [run["id"] for run in runs]


async def test_a_generated_secret_is_returned_once_and_signs_every_attempt(
    live: OrgApi, receiver: Receiver
) -> None:
    receiver.answer("/std", 500, then=200)
    webhook, rule = await wire_webhook(live, receiver, "/std", {"type": "STANDARD_WEBHOOKS"})
    secret = webhook["credentials"]["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    for read in (
        (await live.get(f"integrationdestinations/webhooks/{webhook['id']}")).json(),
        (await live.get("integrationdestinations/webhooks")).json()["data"][0],
    ):
        assert "secret" not in read["credentials"]
        assert secret not in str(read)
        assert read["credentials"]["type"] == "STANDARD_WEBHOOKS"

    first, retry = await fire(live, receiver, "/std", count=2)
    [run_id] = await run_ids(live, rule)
    for request in (first, retry):
        assert standard_verified(secret, request) == request.json
        assert request.headers["webhook-id"] == run_id
        assert request.headers["webhook-timestamp"].isdigit()
        assert request.headers["webhook-signature"].startswith("v1,")
        assert " " not in request.headers["webhook-signature"]
        assert not any(name.lower().startswith("x-m3ter-") for name in request.headers)
        assert verify_standard(headers=request.headers, body=request.body, secret=secret)
        assert verify_request(
            scheme="STANDARD_WEBHOOKS", headers=request.headers, body=request.body, secret=secret
        )
    assert first.body == retry.body
    with pytest.raises(WebhookVerificationError):
        standard_verified(SECRET_24, first)
    assert not verify_standard(headers=first.headers, body=first.body, secret=SECRET_24)
    assert not verify_standard(headers=first.headers, body=first.body + b" ", secret=secret)


@pytest.mark.parametrize("secret", [SECRET_24, SECRET_64, SECRET_64.rstrip("=")])
async def test_a_secret_of_the_client_signs_and_is_never_returned(
    live: OrgApi, receiver: Receiver, secret: str
) -> None:
    webhook, _ = await wire_webhook(
        live, receiver, "/own", {"type": "STANDARD_WEBHOOKS", "secret": secret}
    )
    assert "secret" not in webhook["credentials"]
    [request] = await fire(live, receiver, "/own")
    assert standard_verified(secret, request) == request.json


async def test_rotating_a_standard_secret_signs_with_both_during_the_overlap(
    live: OrgApi, receiver: Receiver
) -> None:
    webhook, _ = await wire_webhook(
        live, receiver, "/rot", {"type": "STANDARD_WEBHOOKS", "secret": SECRET_24}
    )
    rotated = await live.post(f"integrationdestinations/webhooks/{webhook['id']}/rotatesecret")
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["credentials"]["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != SECRET_24
    assert rotated.json()["version"] == webhook["version"] + 1
    [valid_until] = rotated.json()["credentials"]["previousSecretsValidUntil"]
    read = (await live.get(f"integrationdestinations/webhooks/{webhook['id']}")).json()
    assert "secret" not in read["credentials"]
    assert read["credentials"]["previousSecretsValidUntil"] == [valid_until]

    [request] = await fire(live, receiver, "/rot")
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    # A receiver on either secret accepts the request: the official library tries each.
    assert standard_verified(new_secret, request) == request.json
    assert standard_verified(SECRET_24, request) == request.json
    for secret, signature in zip((new_secret, SECRET_24), signatures, strict=True):
        one = {**request.headers, "webhook-signature": signature}
        assert Webhook(secret).verify(request.body, one) == request.json
    with pytest.raises(WebhookVerificationError):
        standard_verified(SECRET_64, request)


async def test_rotating_an_m3ter_secret_adds_the_previous_signature_during_the_overlap(
    live: OrgApi, receiver: Receiver
) -> None:
    credentials = {"type": "M3TER_SIGNED_REQUEST", "apiKey": "key", "secret": "old-secret"}
    webhook, _ = await wire_webhook(live, receiver, "/m3rot", credentials)
    rotated = await live.post(
        f"integrationdestinations/webhooks/{webhook['id']}/rotatesecret",
        json={"version": webhook["version"]},
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["credentials"]["secret"]
    assert rotated.json()["credentials"]["apiKey"] == "key"

    [request] = await fire(live, receiver, "/m3rot")
    url = receiver.url("/m3rot")
    assert request.headers["X-m3ter-signature"] == m3ter_hmac(new_secret, url, request)
    assert request.headers["X-m3ter-signature-previous"] == m3ter_hmac("old-secret", url, request)
    for secret in (new_secret, "old-secret"):
        assert verify(
            url=url, headers=request.headers, body=request.body, api_key="key", secret=secret
        )
    assert not verify(
        url=url, headers=request.headers, body=request.body, api_key="key", secret="other"
    )


async def test_after_the_overlap_only_the_new_secret_signs(
    live: OrgApi, receiver: Receiver, db: Database, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Rotated through an API whose overlap is 0 s: the replaced secret signs nothing more."""
    std, _ = await wire_webhook(
        live, receiver, "/after-std", {"type": "STANDARD_WEBHOOKS", "secret": SECRET_24}
    )
    m3ter = {"type": "M3TER_SIGNED_REQUEST", "apiKey": "key", "secret": "old-secret"}
    signed, _ = await wire_webhook(live, receiver, "/after-m3ter", m3ter)
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("no-overlap"),
        secret_key=TEST_SECRET_KEY,
        webhook_allow_private=True,
        secret_overlap_s=0,
    )
    app = create_app(settings, db=db, run_workers=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://other.test") as other:
        api = OrgApi(other, live.org_id, live.client_id, live.client_secret, live.token)
        new = {}
        for webhook in (std, signed):
            path = f"integrationdestinations/webhooks/{webhook['id']}/rotatesecret"
            rotated = (await api.post(path)).json()
            new[webhook["id"]] = rotated["credentials"]["secret"]
            assert "previousSecretsValidUntil" not in rotated["credentials"]

    before = len(receiver.received)
    await spend(live, await new_commitment(live), 1)
    await poll(lambda: _arrived(receiver, before, 2))
    [std_request] = receiver.at("/after-std")
    assert " " not in std_request.headers["webhook-signature"]
    assert standard_verified(new[std["id"]], std_request) == std_request.json
    with pytest.raises(WebhookVerificationError):
        standard_verified(SECRET_24, std_request)
    [m3ter_request] = receiver.at("/after-m3ter")
    assert "X-m3ter-signature-previous" not in m3ter_request.headers
    url = receiver.url("/after-m3ter")
    assert m3ter_request.headers["X-m3ter-signature"] == m3ter_hmac(
        new[signed["id"]], url, m3ter_request
    )


async def _arrived(receiver: Receiver, before: int, count: int) -> bool:
    return len(receiver.received) >= before + count


async def test_rotation_answers_404_409_and_400(
    live: OrgApi, receiver: Receiver, db: Database
) -> None:
    webhook, _ = await wire_webhook(live, receiver, "/errors", {"type": "STANDARD_WEBHOOKS"})
    base = f"integrationdestinations/webhooks/{webhook['id']}/rotatesecret"
    missing = await live.post("integrationdestinations/webhooks/no-such-id/rotatesecret")
    assert missing.status_code == 404
    assert "no-such-id" in missing.json()["message"]
    stale = await live.post(base, json={"version": webhook["version"] + 5})
    assert stale.status_code == 409
    assert "version" in stale.json()["message"]
    for bad in ([1], "x", {"version": "one"}):
        response = await live.post(base, json=bad)
        assert response.status_code == 400, bad
        assert response.json()["message"]
    other = await new_org_api(live.client, db, "Another organization")
    foreign = await other.post(base)
    assert foreign.status_code == 404
    assert (await live.get(f"integrationdestinations/webhooks/{webhook['id']}")).json()[
        "version"
    ] == webhook["version"]
