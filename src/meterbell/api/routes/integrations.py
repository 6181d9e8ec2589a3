"""Integration configurations and runs: `/organizations/{orgId}/integrationconfigs`,
`/organizations/{orgId}/integrationruns`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from meterbell.api.deps import CurrentOrg, JsonBody, QueryLists, StateDep, requested_page_size
from meterbell.api.responses import JSONResponse
from meterbell.api.state import AppState
from meterbell.domain import connectors
from meterbell.domain.connectors import CONNECTORS
from meterbell.domain.listing import split_values
from meterbell.services import integrations, runs
from meterbell.services.slack import Sealing


def _sealing(state: AppState) -> Sealing:
    settings = state.settings
    return Sealing(state.box, settings.webhook_allow_private, settings.webhook_https_only)


configs = APIRouter(prefix="/organizations/{orgId}/integrationconfigs", tags=["Integrations"])
run_routes = APIRouter(prefix="/organizations/{orgId}/integrationruns", tags=["Integration runs"])


@configs.get("", summary="List integration configurations")
async def list_configs(org: CurrentOrg, state: StateDep, query: QueryLists) -> Response:
    size = requested_page_size(query, integrations.MAX_PAGE_SIZE)
    page = await integrations.list_configs(state.db, org.org_id, query, page_size=size)
    return JSONResponse(page.to_json())


@configs.post("", summary="Create an integration configuration")
async def create_config(org: CurrentOrg, state: StateDep, body: JsonBody) -> Response:
    config = await integrations.create_config(
        state.db, org.org_id, body, org.actor, _sealing(state)
    )
    return JSONResponse(config)


@configs.get("/entity/{entityType}", summary="The configuration for an entity type")
async def config_for_entity(
    org: CurrentOrg,
    state: StateDep,
    entityType: str,
    query: QueryLists,
) -> Response:
    config = await integrations.config_for_entity(state.db, org.org_id, entityType, query)
    return JSONResponse(config)


# Declared before `/{id}`, which would otherwise read "available" as a configuration id.
@configs.get("/available", summary="Entity types and the destinations each can go to")
async def available(_org: CurrentOrg, query: QueryLists) -> Response:
    entity_type = query.get("entityType", [""])[-1] or None
    system = query.get("systemName", [""])[-1] or None
    return JSONResponse(
        connectors.available_configuration(CONNECTORS, entity_type=entity_type, system=system)
    )


@configs.get("/available/systems", summary="Destination systems this server delivers to")
async def available_systems(_org: CurrentOrg, query: QueryLists) -> Response:
    entity_type = query.get("entityType", [""])[-1] or None
    return JSONResponse(connectors.available_systems(CONNECTORS, entity_type=entity_type))


@configs.get("/available/{systemName}/entities", summary="Entity types a system takes")
async def available_entities(_org: CurrentOrg, systemName: str) -> Response:
    return JSONResponse(connectors.system_entities(CONNECTORS, systemName))


@configs.get(
    "/available/{systemName}/auth/{entityType}",
    summary="The settings that authorize an entity type's delivery to a system",
)
async def available_auth(_org: CurrentOrg, systemName: str, entityType: str) -> Response:
    return JSONResponse(connectors.auth_options(CONNECTORS, systemName, entityType))


@configs.get("/{id}", summary="Get an integration configuration")
async def get_config(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await integrations.get_config(state.db, org.org_id, id))


@configs.put("/{id}", summary="Update an integration configuration")
async def update_config(org: CurrentOrg, state: StateDep, id: str, body: JsonBody) -> Response:
    config = await integrations.update_config(
        state.db, org.org_id, id, body, org.actor, _sealing(state)
    )
    return JSONResponse(config)


@configs.delete("/{id}", summary="Delete an integration configuration")
async def delete_config(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await integrations.delete_config(state.db, org.org_id, id))


@configs.post("/{id}/enable", summary="Re-enable a (possibly auto-disabled) integration")
async def enable_config(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await integrations.enable_config(state.db, org.org_id, id, org.actor))


@run_routes.get("/destinations/{destinationId}", summary="Runs to a destination")
async def runs_of_destination(
    org: CurrentOrg,
    state: StateDep,
    destinationId: str,
    query: QueryLists,
) -> Response:
    filters = runs.run_query(query, destination_id=destinationId)
    size = requested_page_size(query, runs.MAX_PAGE_SIZE)
    page = await runs.list_runs(state.db, org.org_id, filters, query, page_size=size)
    return JSONResponse(page.to_json())


@run_routes.get("/logs/{id}", summary="The attempt log of a run (base64 JSON)")
async def run_log(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await runs.run_log(state.db, org.org_id, id))


@run_routes.post("/{id}/resend", summary="Send a finished run again, as a new run")
async def resend(org: CurrentOrg, state: StateDep, id: str) -> Response:
    run = await runs.resend(state.db, org.org_id, id)
    return JSONResponse(run)


@run_routes.get("/{entityType}/latest", summary="The newest run for any of the entities `ids`")
async def latest_run_of_ids(
    org: CurrentOrg,
    state: StateDep,
    entityType: str,
    query: QueryLists,
) -> Response:
    ids = split_values(query.get("ids", ()))
    return JSONResponse(await runs.latest_run(state.db, org.org_id, entityType, ids))


@run_routes.get("/{entityType}/latest/{entityId}", summary="The newest run for an entity")
async def latest_run(
    org: CurrentOrg,
    state: StateDep,
    entityType: str,
    entityId: str,
) -> Response:
    return JSONResponse(await runs.latest_run(state.db, org.org_id, entityType, [entityId]))


@run_routes.get("/{entityType}/{entityId}", summary="Runs for an entity")
async def runs_of_entity(
    org: CurrentOrg,
    state: StateDep,
    entityType: str,
    entityId: str,
    query: QueryLists,
) -> Response:
    filters = runs.run_query(query, entity_type=entityType, entity_id=entityId)
    size = requested_page_size(query, runs.MAX_PAGE_SIZE)
    page = await runs.list_runs(state.db, org.org_id, filters, query, page_size=size)
    return JSONResponse(page.to_json())


@run_routes.get("/{id}", summary="Get a run")
async def get_run(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await runs.get_run(state.db, org.org_id, id))
