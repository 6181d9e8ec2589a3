"""The Events API: one event per change, written with it; filters, pages, types and fields."""

from __future__ import annotations

from typing import Any

from meterbell.domain import catalog
from meterbell.domain.catalog import entity_by_name
from tests.conftest import OrgApi
from tests.factories import minimal_body

BILLING_ENTITIES = (
    "balance balanceamount bill billconfig billjob charge counteradjustment "
    "scheduledbalancecharge scheduledbalancetransaction statementjob"
)
CONFIGURATION_ENTITIES = (
    "account accountplan aggregation alert commitment compoundaggregation contract counter "
    "counterpricing creditreason customfield meter metergroup organization organizationconfig "
    "plan plangroup plangrouplink plantemplate pricing pricingband product transactiontype"
)
ERROR_EVENT_TYPES = {
    "dataexport.job.failure",
    "ingest.validation.failure",
    "integration.authentication.error",
    "integration.disabled.error",
    "integration.missingaccountmapping.error",
    "integration.perform.error",
    "integration.validation.error",
}
M3TER_EVENT_TYPES = ERROR_EVENT_TYPES | {
    f"{category}.{entity}.{action}"
    for category, names in (
        ("billing", BILLING_ENTITIES),
        ("configuration", CONFIGURATION_ENTITIES),
    )
    for entity in names.split()
    for action in ("created", "updated", "deleted")
}


async def events_of(api: OrgApi, **params: Any) -> list[dict[str, Any]]:
    response = await api.get("events", params={"pageSize": 100, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def commitment_lifecycle(api: OrgApi) -> dict[str, Any]:
    spec = entity_by_name("commitment")
    created = (await api.post("commitments", minimal_body(spec))).json()
    updated = (await api.put(f"commitments/{created['id']}", {**created, "amountSpent": 9})).json()
    await api.delete(f"commitments/{created['id']}")
    return updated


async def test_create_update_delete_each_write_one_event(api: OrgApi) -> None:
    commitment = await commitment_lifecycle(api)
    events = await events_of(api, resourceId=commitment["id"])
    assert [e["eventName"] for e in events] == [
        "configuration.commitment.deleted",
        "configuration.commitment.updated",
        "configuration.commitment.created",
    ]
    deleted, updated, created = (e["m3terEvent"]["eventData"] for e in events)
    assert set(created) == {"newDto"}
    assert set(updated) == {"newDto", "oldDto"}
    assert set(deleted) == {"oldDto"}
    assert updated["newDto"] == {**commitment, "orgId": api.org_id}
    assert updated["oldDto"]["version"] == 1
    assert "amountSpent" not in updated["oldDto"]
    assert deleted["oldDto"] == updated["newDto"]
    assert all(
        set(e) == {"id", "eventName", "eventTime", "dtActioned", "m3terEvent"} for e in events
    )


async def test_billing_entities_emit_billing_events(api: OrgApi) -> None:
    bill = (await api.post("bills", minimal_body(entity_by_name("bill")))).json()
    events = await events_of(api, resourceId=bill["id"])
    assert [e["eventName"] for e in events] == ["billing.bill.created"]


async def test_get_one_event_and_unknown_event(api: OrgApi) -> None:
    commitment = await commitment_lifecycle(api)
    event = (await events_of(api, resourceId=commitment["id"]))[0]
    assert (await api.get(f"events/{event['id']}")).json() == event
    missing = await api.get("events/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404


async def test_filters(api: OrgApi) -> None:
    account = (await api.post("accounts", minimal_body(entity_by_name("account")))).json()
    commitment_spec = entity_by_name("commitment")
    commitment = (
        await api.post("commitments", {**minimal_body(commitment_spec), "accountId": account["id"]})
    ).json()
    by_account = await events_of(api, accountId=account["id"])
    assert {e["m3terEvent"]["eventData"]["newDto"]["id"] for e in by_account} == {
        account["id"],
        commitment["id"],
    }
    by_name = await events_of(api, eventName="configuration.account.created")
    assert [e["m3terEvent"]["eventData"]["newDto"]["id"] for e in by_name] == [account["id"]]
    by_category = await events_of(api, eventType="Configuration")
    assert len(by_category) >= 2
    assert await events_of(api, eventType="Notification") == []
    ids = ",".join(e["id"] for e in by_account)
    assert {e["id"] for e in await events_of(api, ids=ids)} == {e["id"] for e in by_account}
    assert await events_of(api, notificationId="nope") == []
    unactioned = await events_of(api, includeActioned="false")
    assert all(e["dtActioned"] is None for e in unactioned)
    bad = await api.get("events", params={"includeActioned": "maybe"})
    assert bad.status_code == 400
    assert "includeActioned must be true or false" in bad.json()["message"]


async def test_page_size_limit_is_100(api: OrgApi) -> None:
    response = await api.get("events", params={"pageSize": 101})
    assert response.status_code == 400
    assert "1 to 100" in response.json()["message"]


async def test_pagination_neither_skips_nor_repeats_while_events_arrive(api: OrgApi) -> None:
    spec = entity_by_name("product")
    for _ in range(6):
        await api.post("products", minimal_body(spec))
    before = [e["id"] for e in await events_of(api, eventName="configuration.product.created")]
    seen: list[str] = []
    token = None
    while True:
        params = {"pageSize": 2, "eventName": "configuration.product.created"}
        body = (
            await api.get("events", params={**params, **({"nextToken": token} if token else {})})
        ).json()
        seen.extend(e["id"] for e in body["data"])
        await api.post("products", minimal_body(spec))
        token = body.get("nextToken")
        if not token:
            break
    assert seen == before


async def test_event_types_list_every_m3ter_type(api: OrgApi) -> None:
    types = (await api.get("events/types")).json()["events"]
    assert set(types) >= M3TER_EVENT_TYPES
    assert len(types) == len(set(types))


async def test_event_fields_by_action(api: OrgApi) -> None:
    fields = (await api.get("events/fields")).json()["events"]
    assert set(catalog.event_types()) <= set(fields)
    created = fields["configuration.commitment.created"]
    assert created["new.amount"] == "double"
    assert created["new.billingInterval"] == "int"
    assert created["new.customFields"] == "map"
    assert created["new.feeDates"] == "array"
    assert created["new.commitmentFeeBillInAdvance"] == "boolean"
    assert not any(name.startswith("old.") for name in created)
    deleted = fields["configuration.commitment.deleted"]
    assert deleted
    assert all(name.startswith("old.") for name in deleted)
    updated = fields["configuration.commitment.updated"]
    assert updated["old.amount"] == updated["new.amount"] == "double"


async def test_event_fields_learn_fields_clients_send(api: OrgApi, other_api: OrgApi) -> None:
    body = {**minimal_body(entity_by_name("commitment")), "riskScore": 0.7, "tier": "gold"}
    assert (await api.post("commitments", body)).status_code == 200
    query = {"eventName": "configuration.commitment.updated"}
    fields = (await api.get("events/fields", params=query)).json()["events"]
    assert list(fields) == [query["eventName"]]
    assert fields[query["eventName"]]["new.riskScore"] == "double"
    assert fields[query["eventName"]]["old.tier"] == "string"
    others = (await other_api.get("events/fields", params=query)).json()["events"]
    assert "new.riskScore" not in others[query["eventName"]]


async def test_a_field_with_a_very_long_name_is_kept_but_not_listed(api: OrgApi) -> None:
    long_name = "x" * 201
    body = {**minimal_body(entity_by_name("bill")), long_name: 1, "shortExtra": 2}
    created = await api.post("bills", body)
    assert created.status_code == 200, created.text
    assert created.json()[long_name] == 1
    query = {"eventName": "billing.bill.created"}
    fields = (await api.get("events/fields", params=query)).json()["events"][query["eventName"]]
    assert fields["new.shortExtra"] == "int"
    assert f"new.{long_name}" not in fields


async def test_event_fields_for_unknown_type_suggests_a_name(api: OrgApi) -> None:
    response = await api.get(
        "events/fields", params={"eventName": "configuration.comitment.updated"}
    )
    assert response.status_code == 400
    assert "Did you mean 'configuration.commitment.updated'" in response.json()["message"]
