"""Data exports: `/organizations/{orgId}/dataexports/…` (destinations, schedules, ad hoc
exports, jobs, download URLs) and the signed download links of files meterbell serves."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from meterbell.api.deps import CurrentOrg, JsonBody, QueryLists, StateDep, requested_page_size
from meterbell.api.responses import JSONResponse
from meterbell.domain.clock import isoformat, utcnow
from meterbell.services import exports

router = APIRouter(prefix="/organizations/{orgId}/dataexports", tags=["Data exports"])
# Signed links work without a token, like an object store's presigned URLs.
downloads = APIRouter(tags=["Data exports"])


@router.get("/destinations", summary="List export destinations")
async def list_destinations(org: CurrentOrg, state: StateDep, query: QueryLists) -> Response:
    size = requested_page_size(query, exports.DESTINATION_PAGE_SIZE)
    page = await exports.list_destinations(state.db, org.org_id, query, page_size=size)
    return JSONResponse(page.to_json())


@router.post("/destinations", summary="Create an export destination (S3, GCS or LOCAL)")
async def create_destination(org: CurrentOrg, state: StateDep, body: JsonBody) -> Response:
    return JSONResponse(await exports.create_destination(state.db, org.org_id, body, org.actor))


@router.get("/destinations/{id}", summary="Get an export destination")
async def get_destination(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await exports.get_destination(state.db, org.org_id, id))


@router.put("/destinations/{id}", summary="Update an export destination")
async def update_destination(org: CurrentOrg, state: StateDep, id: str, body: JsonBody) -> Response:
    return JSONResponse(await exports.update_destination(state.db, org.org_id, id, body, org.actor))


@router.delete("/destinations/{id}", summary="Delete an export destination no schedule uses")
async def delete_destination(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await exports.delete_destination(state.db, org.org_id, id))


@router.get("/schedules", summary="List export schedules")
async def list_schedules(org: CurrentOrg, state: StateDep, query: QueryLists) -> Response:
    size = requested_page_size(query, exports.SCHEDULE_PAGE_SIZE)
    page = await exports.list_schedules(state.db, org.org_id, query, page_size=size)
    return JSONResponse(page.to_json())


@router.post("/schedules", summary="Create an export schedule (it runs once at creation)")
async def create_schedule(org: CurrentOrg, state: StateDep, body: JsonBody) -> Response:
    schedule = await exports.create_schedule(state.db, org.org_id, body, org.actor, utcnow())
    return JSONResponse(schedule)


@router.get("/schedules/{id}", summary="Get an export schedule")
async def get_schedule(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await exports.get_schedule(state.db, org.org_id, id))


@router.put("/schedules/{id}", summary="Update an export schedule")
async def update_schedule(org: CurrentOrg, state: StateDep, id: str, body: JsonBody) -> Response:
    return JSONResponse(
        await exports.update_schedule(state.db, org.org_id, id, body, org.actor, utcnow())
    )


@router.delete("/schedules/{id}", summary="Delete an export schedule")
async def delete_schedule(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await exports.delete_schedule(state.db, org.org_id, id))


@router.post("/adhoc", summary="Export now: usage over a date range, or operational data")
async def create_adhoc(org: CurrentOrg, state: StateDep, body: JsonBody) -> Response:
    job_id = await exports.create_adhoc(state.db, org.org_id, body, utcnow())
    return JSONResponse({"jobId": job_id})


@router.get("/jobs", summary="List export jobs")
async def list_jobs(org: CurrentOrg, state: StateDep, query: QueryLists) -> Response:
    size = requested_page_size(query, exports.JOB_PAGE_SIZE)
    page = await exports.list_jobs(state.db, org.org_id, query, page_size=size)
    return JSONResponse(page.to_json())


@router.get("/jobs/{id}", summary="Get an export job")
async def get_job(org: CurrentOrg, state: StateDep, id: str) -> Response:
    return JSONResponse(await exports.get_job(state.db, org.org_id, id))


@router.get(
    "/jobs/{jobId}/getdownloadurl",
    summary="15-minute download URLs of a job's files (jobs of the past 24 hours)",
)
async def download_url(org: CurrentOrg, state: StateDep, request: Request, jobId: str) -> Response:
    urls, expires = await exports.download_urls(
        state.db, state.storage, state.downloads, org.org_id, jobId, utcnow()
    )
    absolute = [(name, _absolute(request, url)) for name, url in urls]
    return JSONResponse(
        {
            "url": absolute[0][1] if absolute else None,
            "expirationTime": isoformat(expires),
            "files": [{"name": name, "url": url} for name, url in absolute],
        }
    )


def _absolute(request: Request, url: str) -> str:
    return str(request.base_url).rstrip("/") + url if url.startswith("/") else url


@downloads.get(
    "/downloads/{orgId}/dataexports/{jobId}/{name}",
    summary="An export file (a signed link from getdownloadurl: no token needed)",
)
async def download(
    orgId: str, jobId: str, name: str, state: StateDep, request: Request
) -> Response:
    path = await exports.file_to_download(
        state.db,
        state.downloads,
        state.settings.exports_dir,
        orgId,
        jobId,
        name,
        dict(request.query_params),
        utcnow(),
    )
    return FileResponse(path, media_type="application/gzip", filename=name)
