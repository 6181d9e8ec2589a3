"""Entity CRUD at m3ter's paths, generated from the entity catalog.

Every collection gets list / create / get / update / delete; singletons get GET and PUT.
Entities that have event types but no m3ter path are served under the extension path
`/organizations/{orgId}/extension/entities/{entity}` so a billing system can push them too.

One ordinary FastAPI route per method serves every entity, on the pattern
`/organizations/{orgId}/{entityPath}`, where `entityPath` only matches an entity's path (a
collection or singleton path, or a collection path and an id): other paths are not matched
(404, as for any unknown path) and no other router's path is swallowed. The route's first
dependency finds the entity in the catalog and refuses a method its path does not support
(405), before the token or the body is looked at. The per-entity operations, with their own
request schemas, are described in the OpenAPI document by `entity_operations`
(api/openapi.py), not by routes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from starlette.convertors import Convertor, register_url_convertor

from meterbell.api.deps import CurrentOrg, JsonBody, QueryLists, StateDep, requested_page_size
from meterbell.api.responses import JSONResponse
from meterbell.domain.catalog import EntitySpec, crud_entities
from meterbell.services import entities

EXTENSION_PREFIX = "extension/entities"
ENTITY_PATTERN = "/organizations/{orgId}/{entityPath:entity}"

Operation = Literal["list", "create", "get", "update", "delete"]
COLLECTION_METHODS: Mapping[str, Operation] = {"GET": "list", "POST": "create"}
ITEM_METHODS: Mapping[str, Operation] = {"GET": "get", "PUT": "update", "DELETE": "delete"}
SINGLETON_METHODS: Mapping[str, Operation] = {"GET": "get", "PUT": "update"}


@dataclass(frozen=True)
class EntityPath:
    """Where an entity is served, below /organizations/{orgId}/."""

    base: str
    spec: EntitySpec
    tag: str

    @property
    def methods(self) -> Mapping[str, Operation]:
        return SINGLETON_METHODS if self.spec.singleton else COLLECTION_METHODS


def entity_paths() -> tuple[EntityPath, ...]:
    """Every served entity path, in catalog order (organizations and alerts have APIs of
    their own)."""
    paths = []
    for spec in crud_entities():
        base = spec.path or f"{EXTENSION_PREFIX}/{spec.name}"
        paths.append(EntityPath(base, spec, spec.title if spec.path else "Extension entities"))
    return tuple(paths)


@dataclass(frozen=True)
class Target:
    """What a request acts on: an entity type, and the item's id on an item path."""

    spec: EntitySpec
    id: str | None


class EntityPaths:
    """The catalog's paths, by base, and the regular expression that matches exactly them."""

    def __init__(self, paths: tuple[EntityPath, ...]) -> None:
        self.by_base = {path.base: path for path in paths}
        item_bases = {path.base for path in paths if not path.spec.singleton}
        overlapping = sorted(base for base in self.by_base if base.rpartition("/")[0] in item_bases)
        if overlapping:
            raise RuntimeError(f"entity paths {overlapping} overlap another entity's item path")
        self.regex = "|".join(self._alternatives(paths))

    @staticmethod
    def _alternatives(paths: tuple[EntityPath, ...]) -> Iterator[str]:
        # Longest first, so that a base that extends another is tried before it.
        for path in sorted(paths, key=lambda path: len(path.base), reverse=True):
            id_part = "" if path.spec.singleton else "(?:/[^/]+)?"
            yield re.escape(path.base) + id_part

    def target(self, method: str, entity_path: str) -> Target:
        """What `method` on `entity_path` (which the route's pattern matched) acts on; 405 for a
        method the path does not support."""
        path = self.by_base.get(entity_path)
        entity_id: str | None = None
        if path is not None:
            methods = path.methods
        else:
            base, _, entity_id = entity_path.rpartition("/")
            path, methods = self.by_base[base], ITEM_METHODS
        if method not in methods:
            raise HTTPException(405, headers={"Allow": ", ".join(methods)})
        return Target(path.spec, entity_id)


PATHS = EntityPaths(entity_paths())


class _EntityPathConvertor(Convertor[str]):
    """Matches an entity path (`PATHS.regex`), as it is."""

    regex = PATHS.regex

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("entity", _EntityPathConvertor())


async def entity_target(request: Request, entityPath: str) -> Target:
    return PATHS.target(request.method, entityPath)


EntityTarget = Annotated[Target, Depends(entity_target)]

router = APIRouter()


@router.get(ENTITY_PATTERN, include_in_schema=False)
async def read(
    target: EntityTarget, org: CurrentOrg, state: StateDep, query: QueryLists
) -> Response:
    spec = target.spec
    if target.id is not None:
        return JSONResponse(await entities.get_entity(state.db, org.org_id, spec, target.id))
    if spec.singleton:
        return JSONResponse(await entities.get_singleton(state.db, org.org_id, spec))
    size = requested_page_size(query, entities.MAX_PAGE_SIZE)
    page = await entities.list_entities(state.db, org.org_id, spec, query, page_size=size)
    return JSONResponse(page.to_json())


@router.post(ENTITY_PATTERN, include_in_schema=False)
async def create(
    target: EntityTarget, org: CurrentOrg, state: StateDep, body: JsonBody
) -> Response:
    entity = await entities.create_entity(state.db, org.org_id, target.spec, body, org.actor)
    return JSONResponse(entity)


@router.put(ENTITY_PATTERN, include_in_schema=False)
async def update(
    target: EntityTarget, org: CurrentOrg, state: StateDep, body: JsonBody
) -> Response:
    spec = target.spec
    if target.id is None:
        entity = await entities.put_singleton(state.db, org.org_id, spec, body, org.actor)
    else:
        entity = await entities.update_entity(
            state.db, org.org_id, spec, target.id, body, org.actor
        )
    return JSONResponse(entity)


@router.delete(ENTITY_PATTERN, include_in_schema=False)
async def delete(target: EntityTarget, org: CurrentOrg, state: StateDep) -> Response:
    assert target.id is not None, "DELETE is only allowed on item paths"
    entity = await entities.delete_entity(state.db, org.org_id, target.spec, target.id)
    return JSONResponse(entity)
