"""System alerts: what the engine raises when something needs a person, deduplicated per cause.

An alert is open (NEW or IN_PROGRESS) until someone, or the end of its cause, resolves it.
While one is open, another occurrence of the same cause (type and resource) raises its `count`
and `dtLastSeen` instead of opening a second. Every change is a `configuration.alert.*` event,
so notification rules can forward alerts like any other event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from meterbell.domain.clock import isoformat

# Related events kept on an alert: the latest ones.
KEPT_EVENT_IDS = 10


class AlertType(StrEnum):
    INTEGRATION_PERFORM_ERROR = "INTEGRATION_PERFORM_ERROR"
    INTEGRATION_DISABLED = "INTEGRATION_DISABLED"
    NOTIFICATION_EVALUATION_ERROR = "NOTIFICATION_EVALUATION_ERROR"
    API_INGEST = "API_INGEST"
    DATA_EXPORT = "DATA_EXPORT"
    WORK_SET_ASIDE = "WORK_SET_ASIDE"


class Severity(StrEnum):
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


class AlertStatus(StrEnum):
    NEW = "NEW"
    IN_PROGRESS = "IN_PROGRESS"
    RESOLVED = "RESOLVED"


class ResourceType(StrEnum):
    INTEGRATION_CONFIGURATION = "IntegrationConfiguration"
    NOTIFICATION_RULE = "NotificationRule"
    METER = "Meter"
    EXPORT_SCHEDULE = "ExportSchedule"
    EXPORT_JOB = "ExportJob"
    DEAD_LETTER = "DeadLetter"


@dataclass(frozen=True)
class Occurrence:
    """One more time a cause happened: what an alert of it says."""

    org_id: str
    type: AlertType
    severity: Severity
    resource_type: ResourceType
    resource_id: str
    description: str
    event_id: str | None = None


@dataclass
class AlertRow:
    id: str
    org_id: str
    version: int
    type: AlertType
    severity: Severity
    status: AlertStatus
    description: str
    resource_type: ResourceType
    resource_id: str
    event_ids: list[str]
    count: int
    dt_first_seen: datetime
    dt_last_seen: datetime
    dt_created: datetime
    dt_last_modified: datetime
    created_by: str
    last_modified_by: str
    seq: int = 0


def kept_event_ids(event_ids: Sequence[str], event_id: str | None) -> list[str]:
    """The alert's related events with `event_id` added, the latest KEPT_EVENT_IDS."""
    ids = [*event_ids, event_id] if event_id else list(event_ids)
    return ids[-KEPT_EVENT_IDS:]


def public_alert(alert: AlertRow) -> dict[str, Any]:
    """The alert as the API shows it, and as `configuration.alert.*` events carry it."""
    return {
        "id": alert.id,
        "version": alert.version,
        "type": alert.type,
        "severity": alert.severity,
        "status": alert.status,
        "description": alert.description,
        "resourceType": alert.resource_type,
        "resourceId": alert.resource_id,
        "eventIds": list(alert.event_ids),
        "count": alert.count,
        "dtFirstSeen": isoformat(alert.dt_first_seen),
        "dtLastSeen": isoformat(alert.dt_last_seen),
        "dtCreated": isoformat(alert.dt_created),
        "dtLastModified": isoformat(alert.dt_last_modified),
        "createdBy": alert.created_by,
        "lastModifiedBy": alert.last_modified_by,
    }


# `new.*` / `old.*` fields of `configuration.alert.*` events, for rules.
ALERT_FIELDS: Mapping[str, str] = {
    "id": "string",
    "version": "long",
    "type": "string",
    "severity": "string",
    "status": "string",
    "description": "string",
    "resourceType": "string",
    "resourceId": "string",
    "eventIds": "array",
    "count": "long",
    "dtFirstSeen": "string",
    "dtLastSeen": "string",
    "dtCreated": "string",
    "dtLastModified": "string",
    "createdBy": "string",
    "lastModifiedBy": "string",
    "orgId": "string",
}


class AlertStatusUpdate(BaseModel):
    """The body of `PUT /alerts/{id}` (with `version`): a person moves an alert along."""

    model_config = ConfigDict(extra="ignore")

    status: AlertStatus


def resolved_description(description: str, why: str) -> str:
    return f"{description} Resolved: {why}"
