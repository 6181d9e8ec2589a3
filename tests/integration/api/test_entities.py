"""Entity CRUD at m3ter paths, for every entity type in the catalog."""

from __future__ import annotations

from typing import Any

import pytest

from meterbell.domain.catalog import EntitySpec, all_entities, crud_entities, entity_by_name
from tests.conftest import OrgApi
from tests.factories import entity_path, minimal_body

COLLECTIONS = [s for s in crud_entities() if not s.singleton]
SINGLETONS = [s for s in all_entities() if s.singleton]
AUDIT_FIELDS = ("id", "version", "dtCreated", "dtLastModified", "createdBy", "lastModifiedBy")


async def create(api: OrgApi, spec: EntitySpec, **fields: Any) -> dict[str, Any]:
    response = await api.post(entity_path(spec), {**minimal_body(spec), **fields})
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("spec", COLLECTIONS, ids=lambda s: s.name)
async def test_collection_lifecycle(api: OrgApi, spec: EntitySpec) -> None:
    body = {**minimal_body(spec), "someFutureField": {"kept": True}}
    created = await api.post(entity_path(spec), body)
    assert created.status_code == 200, created.text
    entity = created.json()
    assert entity["version"] == 1
    assert all(entity[name] for name in AUDIT_FIELDS)
    assert entity["createdBy"] == api.client_id
    assert {k: entity[k] for k in body} == body

    fetched = await api.get(f"{entity_path(spec)}/{entity['id']}")
    assert fetched.json() == entity

    updated = await api.put(f"{entity_path(spec)}/{entity['id']}", {**entity, "note": "changed"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2
    assert updated.json()["note"] == "changed"
    assert updated.json()["dtCreated"] == entity["dtCreated"]

    listed = await api.get(entity_path(spec))
    assert [item["id"] for item in listed.json()["data"]] == [entity["id"]]

    deleted = await api.delete(f"{entity_path(spec)}/{entity['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == updated.json()
    gone = await api.get(f"{entity_path(spec)}/{entity['id']}")
    assert gone.status_code == 404
    assert entity["id"] in gone.json()["message"]


@pytest.mark.parametrize("spec", SINGLETONS, ids=lambda s: s.name)
async def test_singleton_get_and_put(api: OrgApi, spec: EntitySpec) -> None:
    current = await api.get(spec.path or "")
    assert current.status_code == 200
    assert current.json()["version"] == 1
    changed = await api.put(spec.path or "", {**current.json(), "note": "set"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    assert (await api.get(spec.path or "")).json()["note"] == "set"


async def test_update_replaces_the_whole_entity(api: OrgApi) -> None:
    product = await create(api, entity_by_name("product"), description="first")
    replacement = {"name": "Renamed", "code": product["code"], "version": 1}
    response = await api.put(f"products/{product['id']}", replacement)
    assert response.status_code == 200
    assert "description" not in response.json()
    assert response.json()["name"] == "Renamed"


async def test_stale_version_is_a_409_that_must_not_be_retried(api: OrgApi) -> None:
    product = await create(api, entity_by_name("product"))
    first = await api.put(f"products/{product['id']}", {**product, "name": "A"})
    assert first.status_code == 200
    stale = await api.put(f"products/{product['id']}", {**product, "name": "B"})
    assert stale.status_code == 409
    assert stale.headers["x-should-retry"] == "false"
    assert "version 2" in stale.json()["message"]
    assert "version 1" in stale.json()["message"]
    assert (await api.get(f"products/{product['id']}")).json()["name"] == "A"


async def test_update_without_version_is_refused(api: OrgApi) -> None:
    product = await create(api, entity_by_name("product"))
    body = {k: v for k, v in product.items() if k != "version"}
    response = await api.put(f"products/{product['id']}", body)
    assert response.status_code == 400
    assert "'version' is required" in response.json()["message"]


async def test_server_fields_in_a_create_body_are_ignored(api: OrgApi) -> None:
    body = {**minimal_body(entity_by_name("product")), "id": "mine", "version": 7}
    response = await api.post("products", body)
    assert response.json()["id"] != "mine"
    assert response.json()["version"] == 1


async def test_updating_or_deleting_an_unknown_id_is_404(api: OrgApi) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    product = minimal_body(entity_by_name("product"))
    assert (await api.put(f"products/{missing}", {**product, "version": 1})).status_code == 404
    assert (await api.delete(f"products/{missing}")).status_code == 404
    assert (await api.get(f"products/{missing}")).status_code == 404


async def test_bills_accept_post_and_put_as_an_extension(api: OrgApi) -> None:
    bill = await create(api, entity_by_name("bill"), endDate="2026-02-01")
    response = await api.put(f"bills/{bill['id']}", {**bill, "status": "APPROVED"})
    assert response.status_code == 200
    assert response.json()["status"] == "APPROVED"


async def test_extension_path_serves_entities_without_an_m3ter_path(api: OrgApi) -> None:
    group = await create(api, entity_by_name("metergroup"), level="HIGH")
    response = await api.get(f"extension/entities/metergroup/{group['id']}")
    assert response.json()["level"] == "HIGH"
    unknown = await api.get("extension/entities/notathing")
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("entity", "field"), [("counteradjustment", "date"), ("charge", "billDate")]
)
async def test_a_field_m3ter_returns_as_a_date_must_be_a_date(
    api: OrgApi, entity: str, field: str
) -> None:
    spec = entity_by_name(entity)
    response = await api.post(entity_path(spec), {**minimal_body(spec), field: "not-a-date"})
    assert response.status_code == 400, response.text
    assert field in response.json()["message"]
