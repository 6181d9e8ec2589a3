"""One route per method serves every entity: its path pattern matches exactly the entity paths
(so no other router's path is swallowed, and an unknown path is a 404), and its first
dependency refuses a method an entity path does not support (405)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import HTTPException
from fastapi.routing import APIRoute
from starlette.routing import Match

from meterbell.api.openapi import entity_operations
from meterbell.api.routes import entities
from meterbell.api.routes.entities import PATHS, EntityPath, EntityPaths, entity_paths
from meterbell.app import ROUTERS
from meterbell.domain.catalog import entity_by_name

ORG = "6a3d5b1e-0000-4e8a-9b7c-000000000001"
ENTITY_ROUTES = [route for route in entities.router.routes if isinstance(route, APIRoute)]
OTHER_ROUTES = [
    route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)
]


def scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": ""}


def matches(routes: list[APIRoute], method: str, path: str) -> list[tuple[APIRoute, Match]]:
    found = [(route, route.matches(scope(method, path))[0]) for route in routes]
    return [(route, match) for route, match in found if match is not Match.NONE]


def concrete(path: str) -> str:
    """A concrete path for a pattern: every parameter filled in."""
    return re.sub(r"\{[^}]+\}", "x-1", path.replace("{orgId}", ORG))


def documented_entity_operations() -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for entity in entity_paths()
        for method, path, _ in entity_operations(entity)
    ]


def test_every_documented_entity_operation_is_served_by_the_entity_route() -> None:
    operations = documented_entity_operations()
    assert len(operations) > 100
    for method, path in operations:
        full = [
            route
            for route, match in matches(ENTITY_ROUTES, method, concrete(path))
            if match is Match.FULL
        ]
        assert [route.methods for route in full] == [{method}], (method, path)
        entity_path = concrete(path).removeprefix(f"/organizations/{ORG}/")
        target = PATHS.target(method, entity_path)
        assert (target.id is not None) == path.endswith("{id}"), (method, path)


@pytest.mark.parametrize(
    ("method", "path", "why"),
    [
        ("GET", "nosuchthing", "a path no entity has"),
        ("GET", "accounts/item-1/extra", "too deep"),
        ("GET", "billconfig/item-1", "a singleton has no item paths"),
        ("GET", "", "no entity path"),
        ("GET", "extension/entities", "the extension prefix alone"),
    ],
)
def test_paths_no_entity_has_are_not_matched(method: str, path: str, why: str) -> None:
    assert matches(ENTITY_ROUTES, method, f"/organizations/{ORG}/{path}") == [], why


def test_no_organization_id_is_not_matched() -> None:
    assert matches(ENTITY_ROUTES, "GET", "/organizations//accounts") == []


def test_a_method_no_entity_route_has_is_a_partial_match_so_a_405() -> None:
    found = matches(ENTITY_ROUTES, "PATCH", f"/organizations/{ORG}/accounts/item-1")
    assert found
    assert {match for _, match in found} == {Match.PARTIAL}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "accounts", "GET, POST"),
        ("PUT", "accounts", "GET, POST"),
        ("POST", "accounts/item-1", "GET, PUT, DELETE"),
        ("POST", "billconfig", "GET, PUT"),
        ("DELETE", "billconfig", "GET, PUT"),
    ],
)
def test_a_method_an_entity_path_does_not_support_is_refused_with_what_it_does(
    method: str, path: str, allowed: str
) -> None:
    with pytest.raises(HTTPException) as refused:
        PATHS.target(method, path)
    assert refused.value.status_code == 405
    assert refused.value.headers == {"Allow": allowed}


def test_the_longer_of_two_bases_wins() -> None:
    target = PATHS.target("GET", "picklists/creditreasons")
    assert (target.spec.name, target.id) == ("creditreason", None)
    target = PATHS.target("GET", "extension/entities/metergroup/a-1")
    assert (target.spec.name, target.id) == ("metergroup", "a-1")


def test_overlapping_collection_and_item_paths_are_refused() -> None:
    plan = entity_by_name("plan")
    overlapping = (EntityPath("plans", plan, "Plan"), EntityPath("plans/archived", plan, "Plan"))
    with pytest.raises(RuntimeError, match=r"\['plans/archived'\] overlap"):
        EntityPaths(overlapping)


def test_no_other_route_and_no_entity_route_serve_the_same_path() -> None:
    """Every path belongs to one side: the entity routes come first and must not answer (not
    even 405) for another router's path, nor another router for an entity path."""
    assert len(OTHER_ROUTES) > 30
    for route in OTHER_ROUTES:
        for method in route.methods or ():
            assert matches(ENTITY_ROUTES, method, concrete(route.path)) == [], route.path
    for method, path in documented_entity_operations():
        assert matches(OTHER_ROUTES, method, concrete(path)) == [], path


def test_every_entity_path_is_served() -> None:
    bases = {path.base for path in entity_paths()}
    assert "extension/entities/metergroup" in bases
    assert "extension/entities/alert" not in bases  # alerts have an API of their own
    assert "organization" not in {path.spec.name for path in entity_paths()}
    assert len(bases) == len(entity_paths())
