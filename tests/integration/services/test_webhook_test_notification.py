"""A webhook destination's test notification: signed like every delivery (the receiver can
verify it), its outcome reported (status, duration, the answer's excerpt or the error), and
private targets refused unless MB_WEBHOOK_ALLOW_PRIVATE; on both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from meterbell.domain.errors import NotFound
from meterbell.domain.secrets_box import SecretBox
from meterbell.services import webhooks
from meterbell.store.db import Database
from meterbell.webhooks import verify
from tests.conftest import TEST_SECRET_KEY, OrgApi
from tests.receiver import Receiver

API_KEY = "test-key"
SECRET = "test-notification-secret"
BOX = SecretBox(TEST_SECRET_KEY)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


async def new_webhook(db: Database, org_id: str, url: str) -> str:
    body = {
        "name": "Ops hook",
        "url": url,
        "credentials": {"type": "M3TER_SIGNED_REQUEST", "apiKey": API_KEY, "secret": SECRET},
    }
    webhook = await webhooks.create_webhook(db, BOX, org_id, body, "tester", allow_private=True)
    return str(webhook["id"])


async def send(
    db: Database, org_id: str, webhook_id: str, *, allow_private: bool = True
) -> dict[str, Any]:
    return await webhooks.send_test_notification(
        db, BOX, org_id, webhook_id, timeout_s=2.0, allow_private=allow_private
    )


async def test_the_receiver_gets_a_signed_test_notification(
    db: Database, api: OrgApi, receiver: Receiver
) -> None:
    url = receiver.url("/hook?tenant=1")
    webhook_id = await new_webhook(db, api.org_id, url)
    outcome = await send(db, api.org_id, webhook_id)
    [request] = receiver.at("/hook")
    assert verify(
        url=url, headers=request.headers, body=request.body, api_key=API_KEY, secret=SECRET
    )
    assert request.json["eventName"] == webhooks.TEST_EVENT
    assert request.json["id"] == outcome["deliveryId"]
    assert outcome["success"] is True
    assert outcome["statusCode"] == 200
    assert outcome["durationMs"] > 0
    assert outcome["error"] is None
    assert SECRET not in str(outcome)


async def test_a_failing_answer_is_reported_with_its_status(
    db: Database, api: OrgApi, receiver: Receiver
) -> None:
    receiver.answer("/down", then=503)
    webhook_id = await new_webhook(db, api.org_id, receiver.url("/down"))
    outcome = await send(db, api.org_id, webhook_id)
    assert outcome["success"] is False
    assert outcome["statusCode"] == 503
    assert "503" in outcome["error"]


async def test_a_private_target_is_refused_without_allow_private(
    db: Database, api: OrgApi, receiver: Receiver
) -> None:
    webhook_id = await new_webhook(db, api.org_id, receiver.url("/private"))
    outcome = await send(db, api.org_id, webhook_id, allow_private=False)
    assert outcome["success"] is False
    assert outcome["statusCode"] is None
    assert "not a public address" in outcome["error"]
    assert receiver.at("/private") == []


async def test_another_organizations_webhook_is_not_found(
    db: Database, api: OrgApi, other_api: OrgApi, receiver: Receiver
) -> None:
    webhook_id = await new_webhook(db, other_api.org_id, receiver.url("/theirs"))
    with pytest.raises(NotFound):
        await send(db, api.org_id, webhook_id)
    assert receiver.at("/theirs") == []
