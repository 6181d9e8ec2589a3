"""Notification rules: what a rule is, and what a firing of it looks like."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

NOTIFICATION_CATEGORY = "Notification"


class NotificationRuleFields(BaseModel):
    """The body of `POST`/`PUT notifications/configurations` (m3ter's NotificationRequest)."""

    model_config = ConfigDict(extra="allow", strict=True)

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=1000)
    code: str = Field(min_length=1, max_length=80)
    eventName: str = Field(min_length=1, max_length=200)  # noqa: N815
    calculation: str | None = Field(default=None, max_length=5000)
    active: bool = True
    alwaysFireEvent: bool = False  # noqa: N815


def rule_context(m3ter_event: Mapping[str, Any]) -> dict[str, Any]:
    """What `new.*` and `old.*` in a calculation read: the event's DTOs (missing = null)."""
    data = m3ter_event.get("eventData") or {}
    return {"new": data.get("newDto"), "old": data.get("oldDto")}


def notification_payload(
    *,
    rule: Mapping[str, Any],
    source_event_id: str,
    source_event_name: str,
    source_event_time: str,
    source_m3ter_event: Mapping[str, Any],
) -> dict[str, Any]:
    """`m3terEvent` of a Notification event: the triggering event's data and the rule."""
    return {
        "eventData": source_m3ter_event.get("eventData", {}),
        "notification": {
            "id": rule["id"],
            "code": rule["code"],
            "name": rule["name"],
            "eventName": rule["eventName"],
        },
        "triggeringEvent": {
            "id": source_event_id,
            "eventName": source_event_name,
            "eventTime": source_event_time,
        },
    }
