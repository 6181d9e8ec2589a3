"""External mappings (`/externalmappings`): create, read, replace with its version, delete,
list with m3ter's filters, look up from either side; one mapping per m3ter entity and external
table; bad bodies are 400s that name the field; another organization sees none of them."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import OrgApi

PATH = "externalmappings"


def mapping(**fields: Any) -> dict[str, Any]:
    return {
        "m3terEntity": "Account",
        "m3terId": str(uuid.uuid4()),
        "externalSystem": "Stripe",
        "externalTable": "Customer",
        "externalId": f"cus_{uuid.uuid4().hex[:14]}",
        **fields,
    }


async def created(api: OrgApi, **fields: Any) -> dict[str, Any]:
    response = await api.post(PATH, mapping(**fields))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def ids_of(api: OrgApi, path: str, **params: str) -> list[str]:
    response = await api.get(path, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


async def test_a_mapping_is_created_read_replaced_and_deleted(api: OrgApi) -> None:
    first = await created(api)
    assert first["version"] == 1
    assert first["createdBy"]
    assert (await api.get(f"{PATH}/{first['id']}")).json() == first

    body = {**mapping(m3terId=first["m3terId"]), "externalId": "cus_new", "version": 1}
    replaced = await api.put(f"{PATH}/{first['id']}", body)
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["externalId"], replaced.json()["version"]) == ("cus_new", 2)
    stale = await api.put(f"{PATH}/{first['id']}", body)
    assert stale.status_code == 409
    assert "version" in stale.json()["message"]
    unversioned = await api.put(f"{PATH}/{first['id']}", mapping())
    assert unversioned.status_code == 400

    deleted = await api.delete(f"{PATH}/{first['id']}")
    assert deleted.status_code == 200
    assert (await api.get(f"{PATH}/{first['id']}")).status_code == 404


async def test_mappings_are_listed_and_found_from_either_side(api: OrgApi) -> None:
    account = str(uuid.uuid4())
    stripe = await created(api, m3terId=account, externalId="cus_either")
    xero = await created(api, m3terId=account, externalSystem="Xero", externalTable="Contact")
    other = await created(api)

    assert await ids_of(api, PATH, m3terIds=account) == [xero["id"], stripe["id"]]
    assert other["id"] in await ids_of(api, PATH, externalSystemId="Stripe")
    assert xero["id"] not in await ids_of(api, PATH, externalSystemId="Stripe")
    assert await ids_of(api, f"{PATH}/external/Account/{account}") == [xero["id"], stripe["id"]]
    assert await ids_of(api, f"{PATH}/externalid/Stripe/Customer/cus_either") == [stripe["id"]]
    assert await ids_of(api, f"{PATH}/externalid/Stripe/Customer/cus_nobody") == []

    first_page = await api.get(PATH, params={"m3terIds": account, "pageSize": 1})
    assert [m["id"] for m in first_page.json()["data"]] == [xero["id"]]
    token = first_page.json()["nextToken"]
    second = await api.get(PATH, params={"m3terIds": account, "pageSize": 1, "nextToken": token})
    assert [m["id"] for m in second.json()["data"]] == [stripe["id"]]


async def test_an_entity_maps_to_one_record_per_external_table(api: OrgApi) -> None:
    first = await created(api)
    again = await api.post(PATH, mapping(m3terId=first["m3terId"], externalId="cus_twice"))
    assert again.status_code == 409
    assert first["id"] in again.json()["message"]
    second = await created(api)
    moved = await api.put(
        f"{PATH}/{second['id']}", {**mapping(m3terId=first["m3terId"]), "version": 1}
    )
    assert moved.status_code == 409
    kept = await api.put(
        f"{PATH}/{first['id']}", {**mapping(m3terId=first["m3terId"]), "version": 1}
    )
    assert kept.status_code == 200, kept.text


async def test_bad_mappings_are_refused_with_the_field_named(api: OrgApi) -> None:
    cases = [
        ({k: v for k, v in mapping().items() if k != "externalId"}, "externalId"),
        (mapping(externalSystem=""), "externalSystem"),
        (mapping(externalTable=" Customer"), "externalTable"),
        (mapping(externalId="cus\x01"), "externalId"),
        (mapping(m3terEntity=7), "m3terEntity"),
        (mapping(colour="blue"), "colour"),
        (mapping(integrationConfigId=str(uuid.uuid4())), "integrationConfigId"),
    ]
    for body, field in cases:
        response = await api.post(PATH, body)
        assert response.status_code == 400, (body, response.text)
        assert field in response.json()["message"], (body, response.text)


async def test_another_organization_sees_none_of_them(api: OrgApi, other_api: OrgApi) -> None:
    mine = await created(api)
    assert (await other_api.get(f"{PATH}/{mine['id']}")).status_code == 404
    assert (await other_api.delete(f"{PATH}/{mine['id']}")).status_code == 404
    replaced = await other_api.put(f"{PATH}/{mine['id']}", {**mapping(), "version": 1})
    assert replaced.status_code == 404
    assert await ids_of(other_api, f"{PATH}/external/Account/{mine['m3terId']}") == []
    assert mine["id"] not in await ids_of(other_api, PATH)
    assert (await api.get(f"{PATH}/{mine['id']}")).json() == mine
