"""Tenants are walled off, checked on every route of the OpenAPI document, not a sample."""

from __future__ import annotations

import re
from typing import Any

import httpx

from meterbell.domain.catalog import EntitySpec, all_entities, entity_by_name
from tests.conftest import OrgApi
from tests.factories import entity_path, minimal_body

ITEM_PARAM = re.compile(r"\{(id|eventId)\}")


async def org_routes(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    spec = (await client.get("/openapi.json")).json()
    return [
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        if path.startswith("/organizations/{orgId}")
        for method in operations
    ]


def spec_for(path: str) -> EntitySpec | None:
    tail = ITEM_PARAM.sub("", path.removeprefix("/organizations/{orgId}/")).strip("/")
    for spec in all_entities():
        if tail == entity_path(spec):
            return spec
    return None


async def populate(api: OrgApi) -> tuple[dict[str, dict[str, Any]], str]:
    """One entity of every collection type, and the id of one event, in `api`'s org."""
    made: dict[str, dict[str, Any]] = {}
    for spec in all_entities():
        if spec.singleton or spec.name == "organization":
            continue
        response = await api.post(entity_path(spec), minimal_body(spec))
        assert response.status_code == 200, response.text
        made[spec.name] = response.json()
    event_id = (await api.get("events")).json()["data"][0]["id"]
    return made, event_id


def concrete(path: str, org_id: str, entity: dict[str, Any] | None, event_id: str) -> str:
    path = path.replace("{orgId}", org_id).replace("{eventId}", event_id)
    return path.replace("{id}", entity["id"] if entity else "unused")


async def call(api: OrgApi, method: str, url: str, body: Any, token: str) -> httpx.Response:
    return await api.client.request(
        method, url, json=body, headers={"Authorization": f"Bearer {token}"}
    )


async def test_every_route_refuses_another_orgs_path(api: OrgApi, other_api: OrgApi) -> None:
    victims, event_id = await populate(other_api)
    routes = await org_routes(api.client)
    assert len(routes) > 100
    for method, path in routes:
        spec = spec_for(path)
        entity = victims.get(spec.name) if spec else None
        url = concrete(path, other_api.org_id, entity, event_id)
        body = {**entity} if entity else ({} if method in ("POST", "PUT") else None)
        response = await call(api, method, url, body, api.token)
        assert response.status_code == 403, (method, path, response.text)
    for spec_name, entity in victims.items():
        path = entity_path(entity_by_name(spec_name))
        fetched = await other_api.get(f"{path}/{entity['id']}")
        assert fetched.json() == entity, "refused calls must change nothing"


async def test_own_path_never_reaches_another_orgs_data(api: OrgApi, other_api: OrgApi) -> None:
    victims, event_id = await populate(other_api)
    await populate(api)
    for method, path in await org_routes(api.client):
        spec = spec_for(path)
        if "{id}" in path and spec is not None:
            victim = victims[spec.name]
            url = concrete(path, api.org_id, victim, event_id)
            response = await call(api, method, url, {**victim}, api.token)
            assert response.status_code == 404, (method, path, response.text)
        elif "{eventId}" in path:
            url = concrete(path, api.org_id, None, event_id)
            assert (await call(api, method, url, None, api.token)).status_code == 404
        elif method == "GET":
            url = concrete(path, api.org_id, None, event_id)
            response = await call(api, method, url, None, api.token)
            assert response.status_code == 200, (path, response.text)
            assert other_api.org_id not in response.text, path
            for victim in victims.values():
                assert victim["id"] not in response.text, path
