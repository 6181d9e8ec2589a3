"""The entity dispatcher picks, with one lookup, exactly the route the documented routes would
match, and leaves everything else to them."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.routing import Match

from meterbell.api.deps import CurrentOrg, JsonBody
from meterbell.api.routes.entities import EntityDispatch, _never_called, build_routers, direct_call
from meterbell.app import ROUTERS
from meterbell.domain.errors import Unauthorized

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
    routers = build_routers()
    (dispatch,) = routers.dispatch.routes
    assert isinstance(dispatch, EntityDispatch)
    return dispatch, [route for route in routers.documented.routes if isinstance(route, APIRoute)]


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
            assert found[0].route is documented_match(documented, request), (method, route.path)
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


async def _takes_an_unknown_parameter(org: CurrentOrg, page: int) -> Response:
    raise AssertionError


async def _takes_org_as_a_plain_string(org: str) -> Response:
    raise AssertionError


@pytest.mark.parametrize(
    ("handler", "parameter"),
    [(_takes_an_unknown_parameter, "'page'"), (_takes_org_as_a_plain_string, "'org'")],
)
def test_a_handler_the_dispatcher_cannot_call_directly_is_refused_when_added(
    handler: Any, parameter: str
) -> None:
    with pytest.raises(TypeError, match=f"cannot supply {parameter}"):
        direct_call(handler)


async def test_a_direct_call_resolves_parameters_in_their_order_with_the_routes_functions() -> None:
    seen: list[str] = []

    async def handler(org: CurrentOrg, body: JsonBody) -> Response:
        seen.append("called")
        raise AssertionError

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    def verify(*_args: Any, **_kwargs: Any) -> None:
        seen.append("token verified")

    app = SimpleNamespace(
        state=SimpleNamespace(mb=SimpleNamespace(signer=SimpleNamespace(verify=verify)))
    )
    request = Request(
        scope("PUT", f"/organizations/{ORG}/accounts/a-1", headers=[], app=app), receive
    )
    with pytest.raises(Unauthorized, match="Bearer"):  # the token is checked before the body
        await direct_call(handler)(request, {"orgId": ORG, "id": "a-1"})
    assert seen == []


def test_no_other_route_serves_a_path_an_entity_route_serves(
    router_parts: tuple[EntityDispatch, list[APIRoute]],
) -> None:
    """The documented entity routes come after every other router: that changes nothing only
    while no request could fully match both kinds."""
    dispatch, documented = router_parts
    others = [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    assert len(others) > 30
    for route in others:
        for method in route.methods or ():
            request = scope(method, concrete_any(route.path))
            assert dispatch.lookup(request) is None, (method, route.path)
            assert documented_match(documented, request) is None, (method, route.path)


def concrete_any(path: str) -> str:
    """A concrete path for a route's pattern: every parameter filled in."""
    return re.sub(r"\{[^}]+\}", "x-1", path.replace("{orgId}", ORG))
