"""Entity CRUD at m3ter's paths, generated from the entity catalog.

Every collection gets list / create / get / update / delete; singletons get GET and PUT.
Entities that have event types but no m3ter path are served under the extension path
`/organizations/{orgId}/extension/entities/{entity}` so a billing system can push them too.

`EntityDispatch`, the app's first route, finds the operation for a request with a dictionary
lookup on (method, path) and calls its handler with the same dependency functions FastAPI
would. The documented routes, the app's last, are what OpenAPI shows, and what answers the
requests the dispatcher leaves alone (a method a path does not support: 405; a path no entity
has: 404), exactly as they always did. Without the dispatcher a request was matched against
each entity's pattern in turn (a fifth of the CPU of an update), and FastAPI's dependency
solving took another sixth; with the documented routes first, so was every request to the
other routers (0.3 ms each).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple, get_type_hints

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from meterbell.api.deps import (
    CurrentOrg,
    JsonBody,
    QueryLists,
    StateDep,
    current_org,
    get_state,
    json_body,
    query_lists,
    requested_page_size,
)
from meterbell.api.responses import JSONResponse
from meterbell.domain.catalog import EntitySpec, crud_entities
from meterbell.services import entities

EXTENSION_PREFIX = "extension/entities"
ORG_PREFIX = "/organizations/"
Handler = Callable[..., Awaitable[Response]]
DirectCall = Callable[[Request, Mapping[str, str]], Awaitable[Response]]
_SELECTED = "meterbell.entity_route"


# How the dispatcher supplies each parameter an entity handler may take, without FastAPI's
# dependency solving (a sixth of the CPU of an update): by name, checked against the
# annotation FastAPI resolves for the documented route, with the same dependency functions.
async def _org_of(request: Request, params: Mapping[str, str]) -> Any:
    return await current_org(request, await get_state(request), params["orgId"])


async def _state_of(request: Request, _params: Mapping[str, str]) -> Any:
    return await get_state(request)


async def _body_of(request: Request, _params: Mapping[str, str]) -> Any:
    return await json_body(request)


async def _query_of(request: Request, _params: Mapping[str, str]) -> Any:
    return await query_lists(request)


async def _id_of(_request: Request, params: Mapping[str, str]) -> Any:
    return params["id"]


HANDLER_PARAMETERS: dict[str, tuple[object, Callable[[Request, Mapping[str, str]], Any]]] = {
    "org": (CurrentOrg, _org_of),
    "state": (StateDep, _state_of),
    "body": (JsonBody, _body_of),
    "query": (QueryLists, _query_of),
    "id": (str, _id_of),
}


def direct_call(handler: Handler) -> DirectCall:
    """`handler` called with its parameters resolved, in order, as its route would."""
    hints = get_type_hints(handler, include_extras=True)
    resolvers = []
    for name in inspect.signature(handler).parameters:
        known = HANDLER_PARAMETERS.get(name)
        if known is None or hints.get(name) != known[0]:
            raise TypeError(f"{handler.__qualname__}: EntityDispatch cannot supply {name!r}")
        resolvers.append((name, known[1]))

    async def call(request: Request, params: Mapping[str, str]) -> Response:
        arguments = {name: await resolve(request, params) for name, resolve in resolvers}
        return await handler(**arguments)

    return call


class Operation(NamedTuple):
    route: APIRoute
    call: DirectCall


class EntityDispatch(APIRoute):
    """Matches every entity operation with one dictionary lookup, then calls that operation's
    handler directly (`direct_call`). It only claims requests a documented route would answer
    with that same handler (checked as routes are added); anything else falls through to the
    documented routes."""

    def __init__(self) -> None:
        super().__init__(
            f"{ORG_PREFIX}{{orgId}}/{{entityPath:path}}",
            _never_called,
            include_in_schema=False,
            name="entity_dispatch",
        )
        # (method, path below /organizations/{orgId}/) -> operation; items keyed by their base.
        self._collections: dict[tuple[str, str], Operation] = {}
        self._items: dict[tuple[str, str], Operation] = {}

    def add(self, route: APIRoute, base: str, *, item: bool) -> None:
        table = self._items if item else self._collections
        operation = Operation(route, direct_call(route.endpoint))
        for method in route.methods or ():
            table.setdefault((method, base), operation)

    def check(self) -> None:
        """A lookup picks the route the documented routes would: no path is both a collection
        (or singleton) path and an item path of another entity."""
        item_bases = {path for _, path in self._items}
        shadowed = [path for _, path in self._collections if path.rpartition("/")[0] in item_bases]
        if shadowed:
            raise RuntimeError(f"entity paths {shadowed} overlap another entity's item path")

    def lookup(self, scope: Scope) -> tuple[Operation, dict[str, str]] | None:
        if scope["type"] != "http" or scope.get("root_path"):
            return None  # (under a root path the documented routes do the matching)
        path: str = scope["path"]
        if not path.startswith(ORG_PREFIX):
            return None
        org_id, slash, rest = path[len(ORG_PREFIX) :].partition("/")
        if not org_id or not slash:
            return None
        method: str = scope["method"]
        operation = self._collections.get((method, rest))
        if operation is not None:
            return operation, {"orgId": org_id}
        base, slash, entity_id = rest.rpartition("/")
        operation = self._items.get((method, base)) if slash and entity_id else None
        return None if operation is None else (operation, {"orgId": org_id, "id": entity_id})

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        found = self.lookup(scope)
        if found is None:
            return Match.NONE, {}
        operation, params = found
        path_params = {**scope.get("path_params", {}), **params}
        child = {"endpoint": operation.route.endpoint, "path_params": path_params}
        return Match.FULL, child | {_SELECTED: operation}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation = scope.pop(_SELECTED, None)
        if not isinstance(operation, Operation):  # handle() without matches(): match now
            found = self.lookup(scope)
            assert found is not None, "EntityDispatch.handle called for a path it does not serve"
            operation, params = found
            scope["path_params"] = {**scope.get("path_params", {}), **params}
        scope["route"] = operation.route
        request = Request(scope, receive, send)
        response = await operation.call(request, scope["path_params"])
        await response(scope, receive, send)


async def _never_called() -> Response:
    raise AssertionError("EntityDispatch calls the matched entity handler, never its own endpoint")


def _body_doc(spec: EntitySpec) -> dict[str, Any]:
    schema = {**spec.schema, "additionalProperties": True}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _collection_handlers(spec: EntitySpec) -> dict[str, Handler]:
    async def list_(org: CurrentOrg, state: StateDep, query: QueryLists) -> Response:
        size = requested_page_size(query, entities.MAX_PAGE_SIZE)
        page = await entities.list_entities(state.db, org.org_id, spec, query, page_size=size)
        return JSONResponse(page.to_json())

    async def create(org: CurrentOrg, state: StateDep, body: JsonBody) -> Response:
        entity = await entities.create_entity(state.db, org.org_id, spec, body, org.actor)
        return JSONResponse(entity)

    async def get(org: CurrentOrg, state: StateDep, id: str) -> Response:
        return JSONResponse(await entities.get_entity(state.db, org.org_id, spec, id))

    async def update(org: CurrentOrg, state: StateDep, id: str, body: JsonBody) -> Response:
        entity = await entities.update_entity(state.db, org.org_id, spec, id, body, org.actor)
        return JSONResponse(entity)

    async def delete(org: CurrentOrg, state: StateDep, id: str) -> Response:
        entity = await entities.delete_entity(state.db, org.org_id, spec, id)
        return JSONResponse(entity)

    return {"list": list_, "create": create, "get": get, "update": update, "delete": delete}


def _singleton_handlers(spec: EntitySpec) -> dict[str, Handler]:
    async def get(org: CurrentOrg, state: StateDep) -> Response:
        return JSONResponse(await entities.get_singleton(state.db, org.org_id, spec))

    async def put(org: CurrentOrg, state: StateDep, body: JsonBody) -> Response:
        entity = await entities.put_singleton(state.db, org.org_id, spec, body, org.actor)
        return JSONResponse(entity)

    return {"get": get, "put": put}


class EntityRouters(NamedTuple):
    """`dispatch` (the dispatcher alone) goes before every other router; `documented` (the
    routes OpenAPI shows) after them, so that another router's request is not first matched
    against every entity pattern."""

    dispatch: APIRouter
    documented: APIRouter


class _EntityRoutes:
    """Adds documented routes to their router and registers each with the dispatcher."""

    def __init__(self) -> None:
        self.router = APIRouter()
        self.dispatch = EntityDispatch()

    def add(
        self,
        base: str,
        handler: Handler,
        method: str,
        summary: str,
        *,
        tag: str,
        item: bool = False,
        body_of: EntitySpec | None = None,
    ) -> None:
        path = f"{ORG_PREFIX}{{orgId}}/{base}" + ("/{id}" if item else "")
        self.router.add_api_route(
            path,
            handler,
            methods=[method],
            summary=summary,
            tags=[tag],
            response_class=JSONResponse,
            openapi_extra=None if body_of is None else _body_doc(body_of),
        )
        route = self.router.routes[-1]
        assert isinstance(route, APIRoute)
        self.dispatch.add(route, base, item=item)

    def collection(self, base: str, spec: EntitySpec, tag: str) -> None:
        handlers, title = _collection_handlers(spec), spec.title
        self.add(base, handlers["list"], "GET", f"List {title}s", tag=tag)
        self.add(base, handlers["create"], "POST", f"Create {title}", tag=tag, body_of=spec)
        self.add(base, handlers["get"], "GET", f"Get {title}", tag=tag, item=True)
        self.add(
            base, handlers["update"], "PUT", f"Update {title}", tag=tag, item=True, body_of=spec
        )
        self.add(base, handlers["delete"], "DELETE", f"Delete {title}", tag=tag, item=True)

    def singleton(self, base: str, spec: EntitySpec, tag: str) -> None:
        handlers = _singleton_handlers(spec)
        self.add(base, handlers["get"], "GET", f"Get {spec.title}", tag=tag)
        self.add(base, handlers["put"], "PUT", f"Update {spec.title}", tag=tag, body_of=spec)


def build_routers() -> EntityRouters:
    routes = _EntityRoutes()
    for spec in crud_entities():
        base = spec.path or f"{EXTENSION_PREFIX}/{spec.name}"
        tag = spec.title if spec.path else "Extension entities"
        if spec.singleton:
            routes.singleton(base, spec, tag)
        else:
            routes.collection(base, spec, tag)
    routes.dispatch.check()
    dispatch = APIRouter()
    dispatch.routes.append(routes.dispatch)
    return EntityRouters(dispatch, routes.router)
