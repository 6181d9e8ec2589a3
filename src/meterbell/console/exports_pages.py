"""The Exports pages: jobs (newest first, with their status and Download), a job's details,
the ad hoc export form, and destinations and schedules, each listed with a create form. Every
change calls the service the `dataexports` routes call, with the same validation; the service's
message is shown beside the field it concerns. Download goes, for the signed-in organization
only, to the same 15-minute link as `getdownloadurl` (a signed meterbell link, or the object
store's presigned URL)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from meterbell.api.deps import QueryLists, StateDep
from meterbell.console.operations_pages import problem_context
from meterbell.console.rendering import PAGE_SIZE, page_links, query_filters, render
from meterbell.console.routing import ConsoleRoute, org_page, see_other
from meterbell.console.session import SignedIn, SignedInDep, checked_form
from meterbell.domain.clock import utcnow
from meterbell.domain.errors import MeterbellError, NotFound
from meterbell.domain.exports.jobs import JobStatus
from meterbell.domain.exports.operational import OPERATIONAL_DATA_TYPES
from meterbell.domain.exports.periods import TIME_PERIODS
from meterbell.domain.exports.timing import SCHEDULE_TYPES
from meterbell.domain.pagination import Page
from meterbell.services import exports
from meterbell.services.versioned import Document
from meterbell.store.db import Database
from meterbell.store.orgs import OrganizationRow

SECTION = "exports"
# The filters of the jobs list a link may carry: one job, or the jobs of one schedule.
JOB_FILTERS = ("ids", "scheduleId")
DESTINATION_FIELDS = (
    "name",
    "code",
    "destinationType",
    "bucketName",
    "prefix",
    "partitionOrder",
    "iamRoleArn",
    "projectNumber",
    "poolId",
    "providerId",
    "serviceAccountEmail",
)
SELECTION_FIELDS = (
    "sourceType",
    "operationalDataTypes",
    "timePeriod",
    "meterIds",
    "accountIds",
    "destinationIds",
    "exportFileFormat",
)
SCHEDULE_FIELDS = ("name", "code", *SELECTION_FIELDS, "scheduleType", "period", "offset")
ADHOC_FIELDS = (*SELECTION_FIELDS, "startDate", "endDate")
WHOLE_NUMBER = re.compile(r"\d{1,9}")
# What a `datetime-local` control sends: a time without a zone, which the form says is UTC.
LOCAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?")
CHOICES = {
    "sourceTypes": ("USAGE", "OPERATIONAL"),
    "operationalDataTypes": tuple(OPERATIONAL_DATA_TYPES),
    "timePeriods": TIME_PERIODS,
    "scheduleTypes": SCHEDULE_TYPES,
    "destinationTypes": ("LOCAL", "S3", "GCS"),
    "partitionOrders": ("TIME_FIRST", "TYPE_FIRST"),
    "fileFormats": ("CSV", "JSONL"),
}

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _ticked(form: Mapping[str, str], name: str) -> list[str]:
    """The values of a group of checkboxes, each named `<name>.<value>`."""
    return [key.split(".", 1)[1] for key in form if key.startswith(f"{name}.")]


def _listed(text: str) -> list[str]:
    """Ids typed into one field, separated by commas or spaces."""
    return [part for part in re.split(r"[\s,]+", text) if part]


def _utc(text: str) -> str:
    return f"{text}Z" if LOCAL_TIME.fullmatch(text) else text


def _selection(form: Mapping[str, str]) -> dict[str, Any]:
    """What a schedule or an ad hoc export selects, as the API's body: a field left empty is
    left out (so the service names what is missing for the chosen source type)."""
    body: dict[str, Any] = {
        "sourceType": form.get("sourceType", ""),
        "exportFileFormat": form.get("exportFileFormat") or "CSV",
    }
    lists = {
        "operationalDataTypes": _ticked(form, "operationalDataTypes"),
        "destinationIds": _ticked(form, "destinationIds"),
        "meterIds": _listed(form.get("meterIds", "")),
        "accountIds": _listed(form.get("accountIds", "")),
    }
    body.update({name: values for name, values in lists.items() if values})
    return body


def _number(text: str) -> int | str:
    return int(text) if WHOLE_NUMBER.fullmatch(text) else text


def destination_body(form: Mapping[str, str]) -> dict[str, Any]:
    return {name: form[name].strip() for name in DESTINATION_FIELDS if form.get(name, "").strip()}


def schedule_body(form: Mapping[str, str]) -> dict[str, Any]:
    body = {"name": form.get("name", ""), "code": form.get("code", ""), **_selection(form)}
    if form.get("timePeriod"):
        body["timePeriod"] = form["timePeriod"]
    body["scheduleType"] = form.get("scheduleType", "")
    body.update({name: _number(form[name]) for name in ("period", "offset") if form.get(name)})
    return body


def adhoc_body(form: Mapping[str, str]) -> dict[str, Any]:
    body = _selection(form)
    body.update({name: _utc(form[name]) for name in ("startDate", "endDate") if form.get(name)})
    return body


async def _destinations(db: Database, org_id: str) -> list[Document]:
    """The organization's destinations, for the forms to pick from."""
    page = await exports.list_destinations(db, org_id, {}, page_size=exports.DESTINATION_PAGE_SIZE)
    return page.data


async def _jobs_page(
    request: Request,
    state: StateDep,
    signed: SignedIn,
    org: OrganizationRow,
    query: QueryLists,
    *,
    form: Mapping[str, str] | None = None,
    problem: MeterbellError | None = None,
) -> Response:
    page = await exports.list_jobs(state.db, org.id, query, page_size=PAGE_SIZE)
    only = query_filters(query, JOB_FILTERS)
    return render(
        request,
        "exports.html",
        signed=signed,
        org=org,
        section=SECTION,
        jobs=page.data,
        only=only,
        destinations=await _destinations(state.db, org.id),
        choices=CHOICES,
        form=form or {"sourceType": "OPERATIONAL"},
        **page_links(org_page(org.id, SECTION), only, query, page),
        **problem_context(problem, ADHOC_FIELDS),
    )


@router.get("/console/orgs/{org_id}/exports")
async def jobs_page(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, query: QueryLists
) -> Response:
    org = signed.user.organization(org_id)
    return await _jobs_page(request, state, signed, org, query)


@router.post("/console/orgs/{org_id}/exports")
async def start_adhoc(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str
) -> Response:
    form = await checked_form(request, state, signed.session_token)
    org = signed.user.organization(org_id)
    try:
        job_id = await exports.create_adhoc(state.db, org.id, adhoc_body(form), utcnow())
    except MeterbellError as exc:
        return await _jobs_page(request, state, signed, org, {}, form=form, problem=exc)
    return see_other(request, f"{org_page(org.id, SECTION)}/jobs/{job_id}")


@router.get("/console/orgs/{org_id}/exports/jobs/{job_id}")
async def job_page(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, job_id: str
) -> Response:
    org = signed.user.organization(org_id)
    job = await exports.get_job(state.db, org.id, job_id)
    return render(
        request,
        "export_job.html",
        signed=signed,
        org=org,
        section=SECTION,
        job=job,
        done=job["status"] in (JobStatus.SUCCEEDED, JobStatus.FAILED),
    )


@router.get("/console/orgs/{org_id}/exports/jobs/{job_id}/files/{name}")
async def download(
    state: StateDep, signed: SignedInDep, org_id: str, job_id: str, name: str
) -> Response:
    """Download: to the file's 15-minute link, as `getdownloadurl` gives it."""
    org = signed.user.organization(org_id)
    urls, _expires = await exports.download_urls(
        state.db, state.storage, state.downloads, org.id, job_id, utcnow()
    )
    url = dict(urls).get(name)
    if url is None:
        raise NotFound(f"Export job {job_id} has no file {name}")
    return RedirectResponse(url, status_code=303)


# Destinations and schedules: a list and a create form each.

Lister = Callable[..., Awaitable[Page]]
Creator = Callable[[Database, str, dict[str, Any], str], Awaitable[Document]]


async def _create_schedule(db: Database, org_id: str, body: dict[str, Any], actor: str) -> Document:
    return await exports.create_schedule(db, org_id, body, actor, utcnow())


@dataclass(frozen=True)
class Records:
    """One of the record kinds listed with a create form under Exports."""

    lister: Lister
    creator: Creator
    body: Callable[[Mapping[str, str]], dict[str, Any]]
    fields: tuple[str, ...]
    template: str
    blank: Mapping[str, str]


RECORDS = {
    "destinations": Records(
        exports.list_destinations,
        exports.create_destination,
        destination_body,
        DESTINATION_FIELDS,
        "export_destinations.html",
        {"destinationType": "LOCAL"},
    ),
    "schedules": Records(
        exports.list_schedules,
        _create_schedule,
        schedule_body,
        SCHEDULE_FIELDS,
        "export_schedules.html",
        {"sourceType": "OPERATIONAL", "scheduleType": "DAY", "period": "1"},
    ),
}


def _records(request: Request, kind: str) -> Records:
    records = RECORDS.get(kind)
    if records is None:
        raise NotFound(f"No console page {request.url.path}")
    return records


async def _records_page(
    request: Request,
    state: StateDep,
    signed: SignedIn,
    org: OrganizationRow,
    kind: str,
    query: QueryLists,
    *,
    form: Mapping[str, str] | None = None,
    problem: MeterbellError | None = None,
) -> Response:
    records = _records(request, kind)
    page = await records.lister(state.db, org.id, query, page_size=PAGE_SIZE)
    only = query_filters(query, ("ids",))
    return render(
        request,
        records.template,
        signed=signed,
        org=org,
        section=SECTION,
        rows=page.data,
        only=only.get("ids"),
        destinations=await _destinations(state.db, org.id),
        choices=CHOICES,
        form=form or records.blank,
        **page_links(f"{org_page(org.id, SECTION)}/{kind}", only, query, page),
        **problem_context(problem, records.fields),
    )


@router.get("/console/orgs/{org_id}/exports/{kind}")
async def records_page(
    request: Request,
    state: StateDep,
    signed: SignedInDep,
    org_id: str,
    kind: str,
    query: QueryLists,
) -> Response:
    org = signed.user.organization(org_id)
    return await _records_page(request, state, signed, org, kind, query)


@router.post("/console/orgs/{org_id}/exports/{kind}")
async def create_record(
    request: Request, state: StateDep, signed: SignedInDep, org_id: str, kind: str
) -> Response:
    form = await checked_form(request, state, signed.session_token)
    org = signed.user.organization(org_id)
    records = _records(request, kind)
    try:
        await records.creator(state.db, org.id, records.body(form), signed.user.id)
    except MeterbellError as exc:
        return await _records_page(request, state, signed, org, kind, {}, form=form, problem=exc)
    return see_other(request, f"{org_page(org.id, SECTION)}/{kind}")
