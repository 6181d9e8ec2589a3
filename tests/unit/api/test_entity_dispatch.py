"""The entity dispatcher picks, with one lookup, exactly the route the documented routes would
match, and leaves everything else to them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Match

from meterbell.api.routes.entities import EntityDispatch, _never_called, build_router

ORG = "6a3d5b1e-0000-4e8a-9b7c-000000000001"


def scope(method: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", **extra}


def documented_match(routes: list[APIRoute], request: dict[str, Any]) -> APIRoute | None:
    """The documented route Starlette would run: the first full match, in order."""
    for route in routes:
        match, _ = route.matches(request)
        if match is Match.FULL:
            return route
    return None


def concrete(path: str) -> str:
    return path.replace("{orgId}", ORG).replace("{id}", "item-1")


@pytest.fixture(scope="module")
def router_parts() -> tuple[EntityDispatch, list[APIRoute]]:
    routes = build_router().routes
    dispatch, *documented = routes
    assert isinstance(dispatch, EntityDispatch)
    return dispatch, [route for route in documented if isinstance(route, APIRoute)]


def test_every_documented_operation_is_found_by_one_lookup(
    router_parts: tuple[EntityDispatch, list[APIRoute]],
) -> None:
    dispatch, documented = router_parts
    checked = 0
    for route in documented:
        for method in route.methods or ():
            request = scope(method, concrete(route.path))
            found = dispatch.lookup(request)
            assert found is not None, (method, route.path)
            assert found[0] is documented_match(documented, request), (method, route.path)
            expected = {"orgId": ORG} | ({"id": "item-1"} if "{id}" in route.path else {})
            assert found[1] == expected
            checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("method", "path", "why"),
    [
        ("PATCH", f"/organizations/{ORG}/accounts/item-1", "a method no route has"),
        ("DELETE", f"/organizations/{ORG}/accounts", "a method only the item path has"),
        ("GET", f"/organizations/{ORG}/nosuchthing", "a path no entity has"),
        ("GET", f"/organizations/{ORG}/accounts/item-1/extra", "too deep"),
        ("GET", f"/organizations/{ORG}", "no entity path"),
        ("GET", "/organizations//accounts", "no organization id"),
        ("GET", "/oauth/token", "not under /organizations"),
    ],
)
def test_requests_no_entity_route_serves_fall_through(
    router_parts: tuple[EntityDispatch, list[APIRoute]], method: str, path: str, why: str
) -> None:
    dispatch, documented = router_parts
    request = scope(method, path)
    assert dispatch.lookup(request) is None, why
    assert dispatch.matches(request) == (Match.NONE, {})
    assert documented_match(documented, request) is None


def test_under_a_root_path_or_for_websockets_the_documented_routes_match(
    router_parts: tuple[EntityDispatch, list[APIRoute]],
) -> None:
    dispatch, _ = router_parts
    path = f"/organizations/{ORG}/accounts"
    assert dispatch.lookup(scope("GET", path, root_path="/api")) is None
    assert dispatch.lookup({**scope("GET", path), "type": "websocket"}) is None


def test_a_match_carries_the_chosen_route_and_path_parameters(
    router_parts: tuple[EntityDispatch, list[APIRoute]],
) -> None:
    dispatch, _ = router_parts
    match, child = dispatch.matches(scope("PUT", f"/organizations/{ORG}/commitments/c-1"))
    assert match is Match.FULL
    assert child["path_params"] == {"orgId": ORG, "id": "c-1"}
    assert child["endpoint"].__name__ == "update"


def test_overlapping_collection_and_item_paths_are_refused() -> None:
    dispatch = EntityDispatch()
    item = APIRoute("/organizations/{orgId}/plans/{id}", _never_called, methods=["GET"])
    collection = APIRoute("/organizations/{orgId}/plans/archived", _never_called, methods=["GET"])
    dispatch.add(item, "plans", item=True)
    dispatch.add(collection, "plans/archived", item=False)
    with pytest.raises(RuntimeError, match=r"\['plans/archived'\] overlap"):
        dispatch.check()
