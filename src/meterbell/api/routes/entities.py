"""Entity CRUD at m3ter's paths, generated from the entity catalog.

Every collection gets list / create / get / update / delete; singletons get GET and PUT.
Entities that have event types but no m3ter path are served under the extension path
`/organizations/{orgId}/extension/entities/{entity}` so a billing system can push them too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from meterbell.api.deps import CurrentOrg, JsonBody, QueryLists, StateDep, requested_page_size
from meterbell.api.responses import JSONResponse
from meterbell.domain.catalog import EntitySpec, all_entities
from meterbell.services import entities

EXTENSION_PREFIX = "extension/entities"
Handler = Callable[..., Awaitable[Response]]


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
        state.events_written.set()
        return JSONResponse(entity)

    async def get(org: CurrentOrg, state: StateDep, id: str) -> Response:
        return JSONResponse(await entities.get_entity(state.db, org.org_id, spec, id))

    async def update(org: CurrentOrg, state: StateDep, id: str, body: JsonBody) -> Response:
        entity = await entities.update_entity(state.db, org.org_id, spec, id, body, org.actor)
        state.events_written.set()
        return JSONResponse(entity)

    async def delete(org: CurrentOrg, state: StateDep, id: str) -> Response:
        entity = await entities.delete_entity(state.db, org.org_id, spec, id)
        state.events_written.set()
        return JSONResponse(entity)

    return {"list": list_, "create": create, "get": get, "update": update, "delete": delete}


def _add_collection(router: APIRouter, base: str, spec: EntitySpec) -> None:
    handlers = _collection_handlers(spec)
    title = spec.title
    router.add_api_route(base, handlers["list"], methods=["GET"], summary=f"List {title}s")
    router.add_api_route(
        base,
        handlers["create"],
        methods=["POST"],
        summary=f"Create {title}",
        openapi_extra=_body_doc(spec),
    )
    item = f"{base}/{{id}}"
    router.add_api_route(item, handlers["get"], methods=["GET"], summary=f"Get {title}")
    router.add_api_route(
        item,
        handlers["update"],
        methods=["PUT"],
        summary=f"Update {title}",
        openapi_extra=_body_doc(spec),
    )
    router.add_api_route(item, handlers["delete"], methods=["DELETE"], summary=f"Delete {title}")


def _add_singleton(router: APIRouter, base: str, spec: EntitySpec) -> None:
    async def get(org: CurrentOrg, state: StateDep) -> Response:
        return JSONResponse(await entities.get_singleton(state.db, org.org_id, spec))

    async def put(org: CurrentOrg, state: StateDep, body: JsonBody) -> Response:
        entity = await entities.put_singleton(state.db, org.org_id, spec, body, org.actor)
        state.events_written.set()
        return JSONResponse(entity)

    router.add_api_route(base, get, methods=["GET"], summary=f"Get {spec.title}")
    router.add_api_route(
        base, put, methods=["PUT"], summary=f"Update {spec.title}", openapi_extra=_body_doc(spec)
    )


def build_router() -> APIRouter:
    router = APIRouter(prefix="/organizations/{orgId}")
    for spec in all_entities():
        if spec.name == "organization":
            continue
        base = f"/{spec.path}" if spec.path else f"/{EXTENSION_PREFIX}/{spec.name}"
        tag = spec.title if spec.path else "Extension entities"
        sub = APIRouter(tags=[tag])
        if spec.singleton:
            _add_singleton(sub, base, spec)
        else:
            _add_collection(sub, base, spec)
        router.include_router(sub)
    return router
