"""Slack requests: a run's Notification, formatted as a Slack message (domain/slack.py) and
posted to the incoming-webhook URL on the deliverer's one HTTP path (workers/sender.py), so the
same private-address, https-only, redirect and timeout rules apply as to webhooks. The URL is
the secret: what is recorded of an attempt names it only masked."""

from __future__ import annotations

import dataclasses

import orjson

from meterbell.domain.slack import slack_message
from meterbell.store.runs import RunRow
from meterbell.workers.sender import Sent, SignedSender

HEADERS = {"Content-Type": "application/json"}


def slack_body(run: RunRow, public_url: str) -> bytes:
    """What a run posts to Slack: its Notification (the run's body), as a message."""
    message = slack_message(orjson.loads(run.body), org_id=run.org_id, public_url=public_url)
    return orjson.dumps(message)


async def post_to_slack(
    sender: SignedSender, url: str, masked: str, run: RunRow, public_url: str
) -> Sent:
    """Post `run` to the Slack webhook at `url`; any error names the URL as `masked`."""
    sent = await sender.post(url, slack_body(run, public_url), dict(HEADERS))
    error = sent.outcome.error
    if error is None or url not in error:
        return sent
    outcome = dataclasses.replace(sent.outcome, error=error.replace(url, masked))
    return dataclasses.replace(sent, outcome=outcome)
