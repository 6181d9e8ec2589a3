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
from meterbell.domain.measurements import (
    CALCULATION_ERROR,
    DUPLICATE_FIELD,
    DUPLICATE_UID,
    INVALID_ACCOUNT_CODE,
    MISSING_FIELD,
    UNDEFINED_METER,
    Failure,
)

# Related events kept on an alert: the latest ones.
KEPT_EVENT_IDS = 10
# m3ter's longest meter code: an undefined meter's code, as an API_INGEST alert's resource.
MAX_METER_CODE = 80


class AlertType(StrEnum):
    INTEGRATION_PERFORM_ERROR = "INTEGRATION_PERFORM_ERROR"
    INTEGRATION_FAILING = "INTEGRATION_FAILING"
    INTEGRATION_DISABLED = "INTEGRATION_DISABLED"
    INTEGRATION_AUTHENTICATION_ERROR = "INTEGRATION_AUTHENTICATION_ERROR"
    INTEGRATION_VALIDATION_ERROR = "INTEGRATION_VALIDATION_ERROR"
    INTEGRATION_MISSING_ACCOUNT_MAPPING = "INTEGRATION_MISSING_ACCOUNT_MAPPING"
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
    # Tells apart causes of one type on one resource: an API_INGEST alert's failure type.
    cause: str = ""


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
    cause: str = ""
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
        "cause": alert.cause or None,
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
    "cause": "string",
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


# What the engine raises. A description says what happened and what to do about it.


def perform_error(
    org_id: str, config_id: str, run_id: str, url: str | None, reason: str, event_id: str
) -> Occurrence:
    to_url = f" to {url}" if url else ""
    return Occurrence(
        org_id=org_id,
        type=AlertType.INTEGRATION_PERFORM_ERROR,
        severity=Severity.WARN,
        resource_type=ResourceType.INTEGRATION_CONFIGURATION,
        resource_id=config_id,
        description=(
            f"Integration {config_id} failed to deliver run {run_id}{to_url} after its last "
            f"attempt: {reason}. Check that the receiver is up and answers 2xx, then resend "
            "the failed runs. The integration's next delivered run resolves this alert."
        ),
        event_id=event_id,
    )


def _bill_refused(
    org_id: str, config_id: str, alert_type: AlertType, description: str, event_id: str
) -> Occurrence:
    return Occurrence(
        org_id=org_id,
        type=alert_type,
        severity=Severity.ERROR,
        resource_type=ResourceType.INTEGRATION_CONFIGURATION,
        resource_id=config_id,
        description=description,
        event_id=event_id,
    )


def missing_account_mapping(
    org_id: str, config_id: str, run_id: str, account_id: str, system: str, event_id: str
) -> Occurrence:
    """A Bill run found no external mapping of its bill's account in the system."""
    return _bill_refused(
        org_id,
        config_id,
        AlertType.INTEGRATION_MISSING_ACCOUNT_MAPPING,
        f"Integration {config_id} could not send run {run_id}: account {account_id} has no "
        f"external mapping to {system} (externalmappings with m3terEntity 'Account', m3terId "
        f"{account_id}, externalSystem '{system}'). Create the mapping, then resend the run. "
        "The integration's next delivered run resolves this alert.",
        event_id,
    )


def authentication_error(
    org_id: str, config_id: str, run_id: str, system: str, reason: str, event_id: str
) -> Occurrence:
    """The accounts-receivable system refused a Bill integration's credentials."""
    return _bill_refused(
        org_id,
        config_id,
        AlertType.INTEGRATION_AUTHENTICATION_ERROR,
        f"{system} refused the credentials of integration {config_id} on run {run_id}: "
        f"{reason}. Update the configuration's credentials, then resend the run. The "
        "integration's next delivered run resolves this alert.",
        event_id,
    )


def validation_error(
    org_id: str, config_id: str, run_id: str, system: str, reason: str, event_id: str
) -> Occurrence:
    """The accounts-receivable system cannot take a bill's data."""
    return _bill_refused(
        org_id,
        config_id,
        AlertType.INTEGRATION_VALIDATION_ERROR,
        f"{system} rejected the bill of run {run_id} (integration {config_id}): {reason}. "
        "Correct the bill or the system's settings, then resend the run. The integration's "
        "next delivered run resolves this alert.",
        event_id,
    )


def integration_failing(
    org_id: str, config_id: str, failures: int, left: int, event_id: str
) -> Occurrence:
    """Consecutive runs of an integration failed: a warning before it is disabled."""
    return Occurrence(
        org_id=org_id,
        type=AlertType.INTEGRATION_FAILING,
        severity=Severity.WARN,
        resource_type=ResourceType.INTEGRATION_CONFIGURATION,
        resource_id=config_id,
        description=(
            f"Integration {config_id} has failed {failures} runs in a row: {left} more "
            f"failed run{'s' if left != 1 else ''} and it is disabled (MB_AUTO_DISABLE_AFTER). "
            "Check that the receiver is up and answers 2xx. The integration's next delivered "
            "run resolves this alert."
        ),
        event_id=event_id,
    )


def integration_disabled(org_id: str, config_id: str, why: str, event_id: str) -> Occurrence:
    return Occurrence(
        org_id=org_id,
        type=AlertType.INTEGRATION_DISABLED,
        severity=Severity.ERROR,
        resource_type=ResourceType.INTEGRATION_CONFIGURATION,
        resource_id=config_id,
        description=(
            f"Integration {config_id} was disabled: {why}. Nothing is sent through it "
            "until it is re-enabled. Fix the receiver, then re-enable the integration "
            f"(POST /integrationconfigs/{config_id}/enable), which resolves this alert."
        ),
        event_id=event_id,
    )


def evaluation_error(
    org_id: str, rule_id: str, event_name: str, error: str, event_id: str
) -> Occurrence:
    why = error.partition("\n")[0]  # a calculation error goes on to point at its place
    return Occurrence(
        org_id=org_id,
        type=AlertType.NOTIFICATION_EVALUATION_ERROR,
        severity=Severity.WARN,
        resource_type=ResourceType.NOTIFICATION_RULE,
        resource_id=rule_id,
        description=(
            f"Notification rule {rule_id} could not be evaluated on a {event_name} event "
            f"({why}), so it did not fire for it. Fix the rule's calculation (for example, "
            "guard fields that may be null or of another type), then resolve this alert."
        ),
        event_id=event_id,
    )


def is_evaluation_alert_change(event_name: str, m3ter_event: Mapping[str, Any]) -> bool:
    """Whether the event is a change of a NOTIFICATION_EVALUATION_ERROR alert: a rule failing
    on it raises no alert, or a failing rule on alert events would feed itself for ever."""
    if not event_name.startswith("configuration.alert."):
        return False
    new = (m3ter_event.get("eventData") or {}).get("newDto") or {}
    return bool(new.get("type") == AlertType.NOTIFICATION_EVALUATION_ERROR)


def ingest_resource(meter_id: str | None, meter_code: str) -> str:
    """The `resourceId` of an API_INGEST alert: the meter's id, or the code no meter has."""
    return meter_id or meter_code[:MAX_METER_CODE]


_INGEST_ADVICE = {
    UNDEFINED_METER: "Create the meter, or correct the meter code the sender uses.",
    MISSING_FIELD: "Correct the measurements the sender builds to match the meter's data fields.",
    DUPLICATE_FIELD: "Correct the measurements the sender builds to match the meter's fields.",
    INVALID_ACCOUNT_CODE: "Correct the account code the sender uses, or create the account.",
    DUPLICATE_UID: "Give each measurement a uid of its own; a uid is accepted once in 35 days.",
}
_STORED_ANYWAY = {CALCULATION_ERROR}


def ingest_failure(
    org_id: str, meter_id: str | None, meter_code: str, failure: Failure, event_id: str
) -> Occurrence:
    """A measurement failed validation: one alert per meter and failure type."""
    which = f"for meter '{meter_code}'" if meter_code else "without a meter code"
    fate = (
        "They were stored without the derived field that failed: correct its calculation."
        if failure.type in _STORED_ANYWAY
        else "They were not stored; send them again once corrected. "
        + _INGEST_ADVICE.get(failure.type, "See the server log for the cause.")
    )
    return Occurrence(
        org_id=org_id,
        type=AlertType.API_INGEST,
        severity=Severity.WARN,
        resource_type=ResourceType.METER,
        resource_id=ingest_resource(meter_id, meter_code),
        cause=failure.type,
        description=(
            f"Measurements {which} failed validation with {failure.type} (the latest: "
            f"{failure.reason}). {fate} Their ingest.validation.failure events link to each "
            "failed measurement."
        ),
        event_id=event_id,
    )


def export_failure(
    org_id: str, job_id: str, schedule_id: str | None, reason: str, event_id: str
) -> Occurrence:
    """An export job failed: one alert per schedule, or per job for an ad hoc export."""
    what = f"Export job {job_id}" + (f" of schedule {schedule_id}" if schedule_id else "")
    then = (
        "The schedule's next successful job resolves this alert."
        if schedule_id
        else "Run the export again, then resolve this alert."
    )
    return Occurrence(
        org_id=org_id,
        type=AlertType.DATA_EXPORT,
        severity=Severity.ERROR,
        resource_type=ResourceType.EXPORT_SCHEDULE if schedule_id else ResourceType.EXPORT_JOB,
        resource_id=schedule_id or job_id,
        description=(
            f"{what} failed: {reason}. Correct the cause (the destination's settings or "
            f"access, or the export's definition). {then}"
        ),
        event_id=event_id,
    )
