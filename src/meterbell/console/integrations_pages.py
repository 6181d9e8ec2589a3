"""The Integrations pages: each configuration with whether it is enabled and, if not, why;
Re-enable; its runs, per rule and per destination; a run with every attempt; Resend. Each
action is the API's own service call."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from meterbell.api.deps import QueryLists, StateDep
from meterbell.console.rendering import PAGE_SIZE, page_links, query_filters, render
from meterbell.console.routing import ConsoleRoute, org_page, see_other
from meterbell.console.session import SignedInDep, checked_form
from meterbell.domain.integrations import FINAL_STATUSES, RunStatus
from meterbell.services import integrations, runs

router = APIRouter(route_class=ConsoleRoute)
# The filters of the runs page, as the API's run lists take them.
RUN_FILTERS = ("entityId", "destinationId", "status")


@router.get("/console/orgs/{org_id}/integrations")
async def integrations_page(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, query: QueryLists
) -> Response:
    org = signed.user.organization(org_id)
    page = await integrations.list_configs(state.db, org.id, query, page_size=PAGE_SIZE)
    only = query_filters(query, ("ids",))
    return render(
        request,
        "integrations.html",
        signed=signed,
        org=org,
        section="integrations",
        configs=page.data,
        only=only.get("ids"),
        **page_links(org_page(org.id, "integrations"), only, query, page),
    )


@router.post("/console/orgs/{org_id}/integrations/{config_id}/enable")
async def re_enable(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, config_id: str
) -> Response:
    await checked_form(request, state, signed.session_token)
    org = signed.user.organization(org_id)
    await integrations.enable_config(state.db, org.id, config_id, signed.user.id)
    return see_other(request, f"{org_page(org.id, 'integrations')}?ids={config_id}")


@router.get("/console/orgs/{org_id}/integrations/runs")
async def runs_page(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, query: QueryLists
) -> Response:
    org = signed.user.organization(org_id)
    filters = query_filters(query, RUN_FILTERS)
    wanted = runs.run_query(
        query, entity_id=filters.get("entityId"), destination_id=filters.get("destinationId")
    )
    page = await runs.list_runs(state.db, org.id, wanted, query, page_size=PAGE_SIZE)
    return render(
        request,
        "runs.html",
        signed=signed,
        org=org,
        section="integrations",
        runs=page.data,
        filters=filters,
        statuses=list(RunStatus),
        **page_links(org_page(org.id, "integrations/runs"), filters, query, page),
    )


@router.get("/console/orgs/{org_id}/integrations/runs/{run_id}")
async def run_page(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, run_id: str
) -> Response:
    org = signed.user.organization(org_id)
    run, attempts = await runs.run_with_attempts(state.db, org.id, run_id)
    return render(
        request,
        "run.html",
        signed=signed,
        org=org,
        section="integrations",
        run=run,
        attempts=attempts,
        finished=RunStatus(run["status"]) in FINAL_STATUSES,
    )


@router.post("/console/orgs/{org_id}/integrations/runs/{run_id}/resend")
async def resend(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, run_id: str
) -> Response:
    await checked_form(request, state, signed.session_token)
    org = signed.user.organization(org_id)
    new_run = await runs.resend(state.db, org.id, run_id)
    return see_other(request, org_page(org.id, f"integrations/runs/{new_run['id']}"))
