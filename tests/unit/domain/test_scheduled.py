"""Scheduled event configurations: validation messages and due-time arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from meterbell.domain.catalog import entity_by_name
from meterbell.domain.errors import InvalidRequest
from meterbell.domain.scheduled import (
    ScheduledEventFields,
    checked_configuration,
    date_fields,
    due_time,
    scheduled_event_payload,
)

BILL_DATE_FIELDS = (
    "billDate, createdDate, dtApproved, dtCreated, dtLastModified, dtLocked, dueDate, endDate, "
    "endDateTimeUTC, externalInvoiceDate, lastCalculatedDate, startDate, startDateTimeUTC"
)


def fields(**overrides: Any) -> ScheduledEventFields:
    body = {"name": "scheduled.bill.endDateEvent", "entity": "Bill", "field": "endDate"}
    return ScheduledEventFields(**{**body, "offset": 5, **overrides})


def problem(**overrides: Any) -> str:
    with pytest.raises(InvalidRequest) as caught:
        checked_configuration(fields(**overrides))
    return caught.value.message


def test_a_valid_configuration_names_its_entity() -> None:
    assert checked_configuration(fields()) == entity_by_name("bill")
    assert checked_configuration(fields(entity="bill", name="scheduled.BILL.x-1_y")).name == "bill"
    assert (
        checked_configuration(
            fields(entity="AccountPlan", name="scheduled.accountplan.start", field="startDate")
        ).name
        == "accountplan"
    )


@pytest.mark.parametrize(
    "name",
    [
        "bill.endDateEvent",
        "scheduled.bill",
        "scheduled.bill.",
        "scheduled..x",
        "scheduled.bill.end date",
        "scheduled.bill.a.b",
        "Scheduled.bill.x",
        "x.scheduled.bill.y",
    ],
)
def test_name_must_have_the_scheduled_form(name: str) -> None:
    assert problem(name=name) == (
        "'name' must be in the form scheduled.<entity>.<customName>, e.g. "
        "scheduled.bill.endDateEvent (customName: letters, digits, _ and -); "
        f"got '{name}'"
    )


def test_entity_part_of_name_must_match_entity() -> None:
    assert problem(name="scheduled.commitment.endDateEvent") == (
        "The entity part of 'name' ('commitment') must match 'entity' ('Bill'): "
        "use scheduled.bill.endDateEvent"
    )


def test_entity_must_be_a_catalog_entity() -> None:
    assert problem(entity="Bil") == (
        "'entity' 'Bil' is not a configuration or billing entity. Did you mean 'Bill'?"
    )
    assert problem(entity="Xyzzy").startswith(
        "'entity' 'Xyzzy' is not a configuration or billing entity. One of: Account, AccountPlan,"
    )


def test_field_must_be_a_date_field_of_the_entity_and_the_message_lists_them() -> None:
    assert date_fields(entity_by_name("bill")) == BILL_DATE_FIELDS.split(", ")
    assert problem(field="paidDate") == (
        f"Bill has no field 'paidDate': 'field' must be one of {BILL_DATE_FIELDS}"
    )
    assert problem(field="currency") == (
        f"'currency' is not a date or date-time field of Bill: 'field' must be one of "
        f"{BILL_DATE_FIELDS}"
    )


def test_date_only_values_mean_midnight_utc_plus_whole_days() -> None:
    assert due_time("2099-03-01", 5) == datetime(2099, 3, 6, tzinfo=UTC)
    assert due_time("2099-03-01", 0) == datetime(2099, 3, 1, tzinfo=UTC)
    assert due_time("2099-03-01", -3) == datetime(2099, 2, 26, tzinfo=UTC)


def test_date_time_values_keep_their_instant_in_utc() -> None:
    assert due_time("2099-03-01T12:30:00Z", 1) == datetime(2099, 3, 2, 12, 30, tzinfo=UTC)
    assert due_time("2099-03-01T12:30:00+02:00", 1) == datetime(2099, 3, 2, 10, 30, tzinfo=UTC)
    assert due_time("2099-03-01T12:30:00", -1) == datetime(2099, 2, 28, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize("value", [None, "", "soon", "2099-02-30", 20990301, ["2099-03-01"]])
def test_values_that_are_not_dates_are_never_due(value: object) -> None:
    assert due_time(value, 5) is None


def test_a_due_time_beyond_the_calendar_is_never_due() -> None:
    assert due_time("9999-12-31", 1) is None
    assert due_time("0001-01-01", -1) is None


def test_payload_carries_the_snapshot_and_what_made_it_due() -> None:
    configuration = {"id": "c-1", "name": "scheduled.bill.e", "field": "endDate", "offset": -2}
    bill = {"id": "b-1", "endDate": "2099-03-01"}
    payload = scheduled_event_payload(
        "org-1", configuration, bill, datetime(2099, 2, 27, tzinfo=UTC)
    )
    assert payload == {
        "eventData": {"newDto": {"id": "b-1", "endDate": "2099-03-01", "orgId": "org-1"}},
        "scheduledEvent": {
            "configurationId": "c-1",
            "field": "endDate",
            "offset": -2,
            "dueTime": "2099-02-27T00:00:00.000Z",
        },
    }
