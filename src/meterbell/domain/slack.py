"""Slack as a notification destination: its credentials (`SLACK_WEBHOOK`: an incoming-webhook
URL, which is itself the secret), how that URL is shown (masked), and the message a firing
posts (Slack's `text` and `blocks`). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from meterbell.domain.payload_diff import FieldChange, field_changes

SLACK_WEBHOOK = "SLACK_WEBHOOK"
# Of an incoming-webhook URL's path, this many last characters are shown; the rest is masked.
SHOWN_TAIL = 4
MASK = "…"
# Slack's limits: a header's text, a section's text, and how many changed fields are listed.
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
MAX_LISTED_CHANGES = 20
# Fields the server sets on each write, and the id (the message names the entity): not listed
# as changed, they say nothing about what happened.
BOOKKEEPING_FIELDS = frozenset(
    {"id", "version", "dtCreated", "createdBy", "dtLastModified", "lastModifiedBy"}
)
# Entity kinds with a console page of their own, beyond the event's page.
ENTITY_PAGES = {"integration": "integrations?ids={id}"}


class SlackCredentials(BaseModel):
    """`credentials` of a Slack integration configuration."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["SLACK_WEBHOOK"]
    url: str = Field(min_length=1, max_length=2000)
    name: str | None = Field(default=None, max_length=200)


def masked_url(url: str) -> str:
    """The URL with its path masked but for its last few characters (when it is long enough
    that they give nothing away): enough to tell two webhooks apart, not to post to one."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    tail = path[-SHOWN_TAIL:] if len(path) >= 3 * SHOWN_TAIL else ""
    return f"{parts.scheme}://{parts.netloc}/{MASK}{tail}"


def _escaped(text: object) -> str:
    """Text as Slack's mrkdwn shows it literally (its three control characters escaped)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + MASK


def _value(value: object) -> str:
    return "—" if value is None else f"`{_escaped(value)}`"


def _entity(event_name: str, new: Mapping[str, Any], old: Mapping[str, Any]) -> tuple[str, str]:
    """The kind of entity an event is about and its id ('' when it has none)."""
    parts = event_name.split(".")
    if parts[0] == "integration":
        return "integration", str(new.get("integrationConfigId") or "")
    kind = parts[1] if len(parts) >= 3 else parts[0]
    return kind, str(new.get("id") or old.get("id") or "")


class ConsoleLinks:
    """Links into the console of the meterbell at `public_url` (none when it is empty)."""

    def __init__(self, public_url: str, org_id: str) -> None:
        self.base = f"{public_url.rstrip('/')}/console/orgs/{quote(org_id)}" if public_url else ""

    def linked(self, page: str, label: str) -> str:
        return f"<{self.base}/{page}|{label}>" if self.base else label


def _changes(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldChange]:
    return [
        change
        for change in field_changes(old, new)
        if change.changed and change.path not in BOOKKEEPING_FIELDS
    ]


def _changes_text(changes: list[FieldChange]) -> str:
    lines = [
        f"• `{_escaped(c.path)}`: {_value(c.old)} → {_value(c.new)}"
        for c in changes[:MAX_LISTED_CHANGES]
    ]
    if len(changes) > MAX_LISTED_CHANGES:
        lines.append(f"…and {len(changes) - MAX_LISTED_CHANGES} more")
    return _cut("*Changed fields*\n" + "\n".join(lines), SECTION_LIMIT)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_LIMIT)}}


def _summary(notification: Mapping[str, Any], links: ConsoleLinks) -> str:
    """The message's main section: the event (linked to its console page), the entity (linked
    where the console has a page for its kind), the rule and when."""
    m3ter_event = notification.get("m3terEvent") or {}
    rule = m3ter_event.get("notification") or {}
    trigger = m3ter_event.get("triggeringEvent") or {}
    data = m3ter_event.get("eventData") or {}
    event_name = _event_name(notification)
    kind, entity_id = _entity(event_name, data.get("newDto") or {}, data.get("oldDto") or {})
    entity = f"{kind[:1].upper()}{kind[1:]}"
    if entity_id:
        entity += f" `{_escaped(entity_id)}`"
        if kind in ENTITY_PAGES:
            entity = links.linked(ENTITY_PAGES[kind].format(id=quote(entity_id)), entity)
    event_page = f"events/{quote(str(trigger.get('id') or notification.get('id') or ''))}"
    rule_page = f"notifications/{quote(str(rule.get('id') or ''))}"
    at = trigger.get("eventTime") or notification.get("eventTime") or ""
    return "\n".join(
        (
            f"*Event:* {links.linked(event_page, f'`{_escaped(event_name)}`')}",
            f"*Entity:* {entity}",
            f"*Rule:* {links.linked(rule_page, _escaped(_rule_name(notification)))}",
            f"*At:* {_escaped(at)}",
        )
    )


def _event_name(notification: Mapping[str, Any]) -> str:
    trigger = (notification.get("m3terEvent") or {}).get("triggeringEvent") or {}
    return str(trigger.get("eventName") or notification.get("eventName") or "")


def _rule_name(notification: Mapping[str, Any]) -> str:
    rule = (notification.get("m3terEvent") or {}).get("notification") or {}
    return str(rule.get("name") or rule.get("code") or "A notification rule")


def slack_message(
    notification: Mapping[str, Any], *, org_id: str, public_url: str
) -> dict[str, Any]:
    """The Slack message for a Notification event (as a webhook body carries it): the rule's
    name, the event's name, the entity (linked where the console has a page for it), and the
    fields that changed, old → new. Links need `public_url` (MB_PUBLIC_URL)."""
    rule_name, event_name = _rule_name(notification), _event_name(notification)
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(rule_name, HEADER_LIMIT)}},
        _section(_summary(notification, ConsoleLinks(public_url, org_id))),
    ]
    data = (notification.get("m3terEvent") or {}).get("eventData") or {}
    changes = _changes(data.get("newDto") or {}, data.get("oldDto") or {})
    if changes:
        blocks.append(_section(_changes_text(changes)))
    kind, entity_id = _entity(event_name, data.get("newDto") or {}, data.get("oldDto") or {})
    about = f" on {kind} {entity_id}" if entity_id else ""
    return {"text": _escaped(f"{rule_name}: {event_name}{about}"), "blocks": blocks}
