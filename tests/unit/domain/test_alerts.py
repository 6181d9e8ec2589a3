"""What the engine's alerts say and about what: the cause of an ingest alert, the guard that
keeps a failing rule from feeding on its own alert."""

from __future__ import annotations

from typing import Any

from meterbell.domain.alerts import (
    AlertType,
    evaluation_error,
    ingest_resource,
    is_evaluation_alert_change,
    perform_error,
)


def test_an_ingest_alert_names_its_meter_or_the_code_no_meter_has() -> None:
    assert ingest_resource("meter-id", "api_calls") == "meter-id"
    assert ingest_resource(None, "api_calls") == "api_calls"
    assert ingest_resource(None, "x" * 500) == "x" * 80  # m3ter's longest meter code


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
