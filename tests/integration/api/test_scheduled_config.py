"""Scheduled event configurations: the API, validation, unique names, and how their names
become event types that rules can use."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import OrgApi
from tests.scheduling import END_DATE_EVENT, new_configuration

PATH = "scheduledevents/configurations"
BODY = {"name": END_DATE_EVENT, "entity": "Bill", "field": "endDate", "offset": 5}


async def refused(api: OrgApi, body: Any, status: int = 400) -> str:
    response = await api.post(PATH, body)
    assert response.status_code == status, response.text
    return str(response.json()["message"])


async def test_configuration_crud(api: OrgApi) -> None:
    created = await new_configuration(api, offset=-10)
    assert {k: created[k] for k in BODY} == {**BODY, "offset": -10}
    assert created["version"] == 1
    assert created["createdBy"] == api.client_id
    assert (await api.get(f"{PATH}/{created['id']}")).json() == created

    changed = await api.put(f"{PATH}/{created['id']}", {**created, "offset": 3, "field": "dueDate"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["offset"], changed.json()["field"], changed.json()["version"]) == (
        3,
        "dueDate",
        2,
    )
    stale = await api.put(f"{PATH}/{created['id']}", {**created, "offset": 4})
    assert stale.status_code == 409
    assert stale.headers["x-should-retry"] == "false"

    deleted = await api.delete(f"{PATH}/{created['id']}")
    assert deleted.json() == changed.json()
    missing = await api.get(f"{PATH}/{created['id']}")
    assert missing.status_code == 404
    assert missing.json()["message"] == (
        f"No ScheduledEventConfiguration with id {created['id']} in this organization"
    )


async def test_list_by_ids_and_pages(api: OrgApi) -> None:
    made = [await new_configuration(api, name=f"scheduled.bill.e{i}") for i in range(3)]
    everything = (await api.get(PATH)).json()
    assert [c["id"] for c in everything["data"]] == [c["id"] for c in reversed(made)]
    picked = await api.get(PATH, params={"ids": f"{made[0]['id']},{made[2]['id']}"})
    assert {c["id"] for c in picked.json()["data"]} == {made[0]["id"], made[2]["id"]}
    first = (await api.get(PATH, params={"pageSize": 2})).json()
    second = (await api.get(PATH, params={"pageSize": 2, "nextToken": first["nextToken"]})).json()
    assert [c["id"] for c in first["data"] + second["data"]] == [c["id"] for c in reversed(made)]
    assert "nextToken" not in second or not second["nextToken"]
    assert (await api.get(PATH, params={"pageSize": 100})).status_code == 200
    too_big = await api.get(PATH, params={"pageSize": 101})
    assert too_big.status_code == 400, too_big.text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"name": "bill.endDateEvent"},
            "'name' must be in the form scheduled.<entity>.<customName>, e.g. "
            "scheduled.bill.endDateEvent (customName: letters, digits, _ and -); "
            "got 'bill.endDateEvent'",
        ),
        (
            {"name": "scheduled.commitment.endDateEvent"},
            "The entity part of 'name' ('commitment') must match 'entity' ('Bill'): "
            "use scheduled.bill.endDateEvent",
        ),
        (
            {"entity": "Invoice", "name": "scheduled.invoice.x"},
            "'entity' 'Invoice' is not a configuration or billing entity. One of:",
        ),
        ({"field": "paidDate"}, "Bill has no field 'paidDate': 'field' must be one of billDate,"),
        (
            {"field": "billTotal"},
            "'billTotal' is not a date or date-time field of Bill: 'field' must be one of "
            "billDate, createdDate, dtApproved, dtCreated, dtLastModified, dtLocked, dueDate, "
            "endDate, endDateTimeUTC, externalInvoiceDate, lastCalculatedDate, startDate, "
            "startDateTimeUTC",
        ),
        ({"offset": 1.5}, "'offset' must be a whole number"),
        ({"offset": "5"}, "'offset' must be a whole number"),
        ({"offset": 2**31}, "'offset': Input should be less than 2147483648"),
        ({"offset": True}, "'offset' must be a whole number"),
        ({"name": ""}, "'name' must be at least 1 characters long"),
    ],
)
async def test_invalid_configurations_are_refused_saying_why(
    api: OrgApi, change: dict[str, Any], message: str
) -> None:
    assert (await refused(api, {**BODY, **change})).startswith(message)


@pytest.mark.parametrize("missing", ["name", "entity", "field", "offset"])
async def test_every_field_is_required(api: OrgApi, missing: str) -> None:
    body = {k: v for k, v in BODY.items() if k != missing}
    assert await refused(api, body) == f"'{missing}' is required"


async def test_entity_is_matched_in_any_case_and_offsets_may_be_negative(api: OrgApi) -> None:
    created = await new_configuration(
        api, name="scheduled.Commitment.before", entity="commitment", field="endDate", offset=-7
    )
    assert (created["name"], created["entity"], created["offset"]) == (
        "scheduled.Commitment.before",
        "commitment",
        -7,
    )


async def test_names_are_unique_per_organization_in_any_case(
    api: OrgApi, other_api: OrgApi
) -> None:
    first = await new_configuration(api)
    message = await refused(api, {**BODY, "name": "scheduled.BILL.ENDDATEEVENT"}, 409)
    assert message == (
        "The event name 'scheduled.BILL.ENDDATEEVENT' is taken by scheduled event configuration "
        f"{first['id']} ('{END_DATE_EVENT}'): names are unique per organization, whatever their "
        "letter case"
    )
    await new_configuration(other_api)
    second = await new_configuration(api, name="scheduled.bill.other")
    renamed = await api.put(f"{PATH}/{second['id']}", {**second, "name": END_DATE_EVENT})
    assert renamed.status_code == 409, renamed.text
    kept = await api.put(f"{PATH}/{first['id']}", {**first, "offset": 6})
    assert kept.status_code == 200, kept.text
    assert [c["name"] for c in (await api.get(PATH)).json()["data"]] == [
        "scheduled.bill.other",
        END_DATE_EVENT,
    ]


async def test_names_become_event_types_with_the_entitys_new_fields(api: OrgApi) -> None:
    types = (await api.get("events/types")).json()["events"]
    assert END_DATE_EVENT not in types
    created = await new_configuration(api)
    types = (await api.get("events/types")).json()["events"]
    assert END_DATE_EVENT in types
    assert types == sorted(types)

    fields = (await api.get("events/fields", params={"eventName": END_DATE_EVENT})).json()
    created_fields = await api.get("events/fields", params={"eventName": "billing.bill.created"})
    assert (
        fields["events"][END_DATE_EVENT] == created_fields.json()["events"]["billing.bill.created"]
    )
    bill_fields = fields["events"][END_DATE_EVENT]
    assert bill_fields["new.endDate"] == "string"
    assert bill_fields["new.billTotal"] == "double"
    assert bill_fields["new.orgId"] == "string"
    assert not [f for f in bill_fields if not f.startswith("new.")]
    all_fields = (await api.get("events/fields")).json()["events"]
    assert all_fields[END_DATE_EVENT] == bill_fields

    await api.delete(f"{PATH}/{created['id']}")
    assert END_DATE_EVENT not in (await api.get("events/types")).json()["events"]
    gone = await api.get("events/fields", params={"eventName": END_DATE_EVENT})
    assert gone.status_code == 400


async def test_other_organizations_names_are_not_theirs(api: OrgApi, other_api: OrgApi) -> None:
    await new_configuration(other_api)
    assert END_DATE_EVENT not in (await api.get("events/types")).json()["events"]


async def test_rules_can_be_written_for_scheduled_names(api: OrgApi) -> None:
    rule = {"name": "late bill", "code": "late-bill", "eventName": END_DATE_EVENT}
    unknown = await api.post(
        "notifications/configurations", {**rule, "calculation": "new.billTotal > 100"}
    )
    assert unknown.status_code == 400
    assert unknown.json()["message"].startswith(f"Unknown event type '{END_DATE_EVENT}'")

    await new_configuration(api)
    created = await api.post(
        "notifications/configurations", {**rule, "calculation": "new.billTotal > 100"}
    )
    assert created.status_code == 200, created.text
    old_side = await api.post(
        "notifications/configurations",
        {**rule, "code": "old-side", "calculation": "old.billTotal > 100"},
    )
    assert old_side.status_code == 400
    assert old_side.json()["message"].startswith(
        "The calculation does not compile: old.* fields do not exist"
    )
    checked = await api.post(
        "notifications/evaluate",
        {"eventName": END_DATE_EVENT, "calculation": 'new.status == "PENDING"'},
    )
    assert checked.json() == {"success": True, "errorMessage": None}
