"""What the engine's alerts say and about what: the cause of an ingest alert, the guard that
keeps a failing rule from feeding on its own alert."""

from __future__ import annotations

import uuid
from typing import Any

from meterbell.domain.alerts import (
    AlertType,
    evaluation_error,
    ingest_cause,
    is_evaluation_alert_change,
    perform_error,
)


def test_an_ingest_cause_is_a_stable_uuid_per_meter_and_failure_type() -> None:
    cause = ingest_cause("meter-1", "MissingField")
    assert uuid.UUID(cause).version == 5
    assert len(cause) == 36  # the width of alerts.resource_id
    assert cause == ingest_cause("meter-1", "MissingField")
    assert cause != ingest_cause("meter-1", "DuplicateUid")
    assert cause != ingest_cause("meter-2", "MissingField")


def alert_change(
    alert_type: str, name: str = "configuration.alert.updated"
) -> tuple[str, dict[str, Any]]:
    return name, {"eventData": {"newDto": {"type": alert_type}, "oldDto": {"type": alert_type}}}


def test_only_changes_of_evaluation_error_alerts_are_kept_from_raising_more() -> None:
    assert is_evaluation_alert_change(*alert_change(AlertType.NOTIFICATION_EVALUATION_ERROR))
    assert is_evaluation_alert_change(
        *alert_change(AlertType.NOTIFICATION_EVALUATION_ERROR, "configuration.alert.created")
    )
    assert not is_evaluation_alert_change(*alert_change(AlertType.API_INGEST))
    assert not is_evaluation_alert_change(
        *alert_change(AlertType.NOTIFICATION_EVALUATION_ERROR, "configuration.meter.updated")
    )
    assert not is_evaluation_alert_change("configuration.alert.deleted", {"eventData": {}})


def test_descriptions_are_one_line_and_leave_out_what_is_unknown() -> None:
    error = "division by zero (line 1, column 12)\n  new.a / 0 > 1\n             ^"
    described = evaluation_error("org", "rule", "configuration.meter.created", error, "event")
    assert "(division by zero (line 1, column 12))" in described.description
    assert "\n" not in described.description
    without_url = perform_error("org", "config", "run", None, "timed out", "event")
    assert "run run after its last attempt: timed out." in without_url.description
