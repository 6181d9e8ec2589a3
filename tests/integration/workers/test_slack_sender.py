"""The Slack send step on the deliverer's HTTP path: the webhook URL rules hold at delivery
time, and what an attempt records never names the incoming-webhook URL in full."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
import pytest

from meterbell.domain.integrations import RunStatus
from meterbell.domain.slack import masked_url
from meterbell.store.runs import RunRow
from meterbell.workers.sender import SignedSender
from meterbell.workers.slack_sender import post_to_slack
from tests.receiver import Receiver

PATH = "/services/T0001/B0001/SecretTokenWxyz"
NOTIFICATION = {
    "id": "n-1",
    "eventName": "configuration.plan.updated",
    "eventTime": "2026-12-05T10:00:00Z",
    "m3terEvent": {
        "eventData": {"newDto": {"id": "p-1", "name": "Pro"}, "oldDto": {"id": "p-1"}},
        "notification": {"id": "r-1", "code": "plans", "name": "Plan changed"},
        "triggeringEvent": {"id": "e-1", "eventName": "configuration.plan.updated"},
    },
}


def a_run() -> RunRow:
    return RunRow(
        id="run-1",
        org_id="org-1",
        config_id="cfg-1",
        entity_type="Notification",
        entity_id="r-1",
        destination="Slack",
        destination_id="cfg-1",
        event_id="n-1",
        status=RunStatus.STARTED,
        body=orjson.dumps(NOTIFICATION).decode(),
        dt_created=datetime.now(UTC),
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


async def sent_with(url: str, **rules: bool) -> tuple[str | None, bool]:
    """Post a run to `url` under the sender's `rules`: the recorded error, and success."""
    sender = SignedSender(timeout_s=2.0, concurrency=1, **rules)
    await sender.open()
    try:
        sent = await post_to_slack(sender, url, masked_url(url), a_run(), "")
    finally:
        await sender.close()
    return sent.outcome.error, sent.outcome.ok


async def test_a_message_is_posted_where_the_rules_allow(receiver: Receiver) -> None:
    error, ok = await sent_with(receiver.url(PATH), allow_private=True)
    assert (error, ok) == (None, True)
    (request,) = receiver.at(PATH)
    assert request.json["text"] == "Plan changed: configuration.plan.updated on plan p-1"


@pytest.mark.parametrize(
    ("rules", "says"),
    [
        ({"allow_private": False}, "127.0.0.1 is not a public address"),
        ({"allow_private": True, "https_only": True}, "plain http target refused"),
    ],
)
async def test_the_webhook_url_rules_hold_at_delivery(
    receiver: Receiver, rules: dict[str, bool], says: str
) -> None:
    error, ok = await sent_with(receiver.url(PATH), **rules)
    assert not ok
    assert error is not None
    assert says in error
    assert receiver.at(PATH) == []


async def test_an_error_naming_the_url_names_it_masked() -> None:
    url = f"http://127.0.0.1:99999{PATH}"  # aiohttp refuses it, quoting the URL
    error, ok = await sent_with(url, allow_private=True)
    assert not ok
    assert error is not None
    assert masked_url(url) in error
    assert "SecretToken" not in error
