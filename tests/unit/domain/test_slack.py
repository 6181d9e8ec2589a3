"""The Slack message a Notification becomes, and how an incoming-webhook URL is shown."""

from __future__ import annotations

from typing import Any

import pytest

from meterbell.domain.slack import MAX_LISTED_CHANGES, masked_url, slack_message


def notification(
    *,
    event_name: str = "configuration.commitment.updated",
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    rule_name: str = "Spend alert",
) -> dict[str, Any]:
    return {
        "id": "n-1",
        "eventName": event_name,
        "eventTime": "2026-12-05T10:00:01Z",
        "dtActioned": None,
        "m3terEvent": {
            "eventData": {"newDto": new, "oldDto": old},
            "notification": {"id": "r-1", "code": "spend", "name": rule_name},
            "triggeringEvent": {
                "id": "e-1",
                "eventName": event_name,
                "eventTime": "2026-12-05T10:00:00Z",
            },
        },
    }


def sections(message: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://hooks.slack.com/services/T0001/B0001/XXXXXXXXabcd",
            "https://hooks.slack.com/…abcd",
        ),
        ("https://hooks.slack.com/services/T0/B0/tok?x=1wxyz", "https://hooks.slack.com/…wxyz"),
        ("https://example.com:8443/short", "https://example.com:8443/…"),
        ("https://example.com", "https://example.com/…"),
    ],
)
def test_masked_url_keeps_the_host_and_a_short_tail_only(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_an_update_lists_changed_fields_old_to_new_without_bookkeeping() -> None:
    old = {"id": "c-1", "amountSpent": 899, "version": 2, "currency": "USD", "tier": None}
    new = {"id": "c-1", "amountSpent": 950, "version": 3, "currency": "USD", "tier": "gold"}
    message = slack_message(
        notification(old=old, new=new), org_id="o-1", public_url="https://mb.example.com/"
    )
    assert message["text"] == "Spend alert: configuration.commitment.updated on commitment c-1"
    summary, changes = sections(message)
    console = "https://mb.example.com/console/orgs/o-1"
    assert summary == (
        f"*Event:* <{console}/events/e-1|`configuration.commitment.updated`>\n"
        "*Entity:* Commitment `c-1`\n"
        f"*Rule:* <{console}/notifications/r-1|Spend alert>\n"
        "*At:* 2026-12-05T10:00:00Z"
    )
    assert changes == "*Changed fields*\n• `amountSpent`: `899` → `950`\n• `tier`: — → `gold`"


def test_without_a_public_url_there_are_no_links() -> None:
    message = slack_message(notification(new={"id": "c-1"}), org_id="o-1", public_url="")
    assert "<" not in sections(message)[0]
    assert "*Rule:* Spend alert" in sections(message)[0]


def test_user_text_cannot_make_links_or_mentions() -> None:
    message = slack_message(
        notification(
            new={"id": "c-1", "name": "<!channel> & <https://evil.example|click>"},
            rule_name="A <b> & c",
        ),
        org_id="o-1",
        public_url="",
    )
    text = message["text"] + "".join(sections(message))
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in sections(message)[1]
    assert message["text"].startswith("A &lt;b&gt; &amp; c: ")
    assert message["blocks"][0]["text"]["text"] == "A <b> & c"  # plain_text shows it as is


def test_long_messages_stay_within_slacks_limits() -> None:
    new = {"id": "c-1", **{f"field{n:02}": "x" * 400 for n in range(MAX_LISTED_CHANGES + 5)}}
    message = slack_message(notification(new=new, rule_name="r" * 300), org_id="o-1", public_url="")
    assert len(message["blocks"][0]["text"]["text"]) == 150
    changes = sections(message)[1]
    assert len(changes) <= 3000
    assert changes.endswith("…")
    few = {"id": "c-1", **{f"f{n:02}": n for n in range(MAX_LISTED_CHANGES + 5)}}
    listed = sections(slack_message(notification(new=few), org_id="o-1", public_url=""))[1]
    assert listed.endswith("\n…and 5 more")
    assert listed.count("• ") == MAX_LISTED_CHANGES


def test_an_integration_error_links_to_its_integration() -> None:
    new = {"integrationConfigId": "cfg-1", "reason": "HTTP 500", "id": None}
    message = slack_message(
        notification(event_name="integration.perform.error", new=new),
        org_id="o-1",
        public_url="https://mb.example.com",
    )
    assert (
        "*Entity:* <https://mb.example.com/console/orgs/o-1/integrations?ids=cfg-1|"
        "Integration `cfg-1`>"
    ) in sections(message)[0]


def test_nothing_changed_means_no_changes_section() -> None:
    same = {"id": "c-1", "amount": 5, "version": 1}
    message = slack_message(
        notification(old=same, new={**same, "version": 2}), org_id="o-1", public_url=""
    )
    assert len(message["blocks"]) == 2
