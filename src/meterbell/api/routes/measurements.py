"""Usage ingest: `/organizations/{orgId}/measurements`, and failed-ingest downloads."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from meterbell.api.deps import CurrentOrg, StateDep
from meterbell.api.responses import JSONResponse
from meterbell.domain.clock import utcnow
from meterbell.services import ingest

router = APIRouter(prefix="/organizations/{orgId}/measurements", tags=["Usage"])
# Signed links work without a token, like an object store's presigned URLs, so they live
# outside the organization paths (whose every route needs the organization's token).
downloads = APIRouter(tags=["Usage"])
DOWNLOAD_ROUTE = "download_failed_ingest"


@router.post("", summary="Submit measurements (validated asynchronously)")
async def submit(org: CurrentOrg, state: StateDep, request: Request) -> Response:
    await ingest.submit(state.db, org.org_id, await request.body(), utcnow())
    return JSONResponse({"result": "accepted"})


@router.get(
    "/failedIngest/getDownloadUrl", summary="A 5-minute download link to a failed measurement"
)
async def download_url(
    org: CurrentOrg, state: StateDep, request: Request, file: str = ""
) -> Response:
    query = await ingest.download_link(state.db, org.org_id, file, state.downloads, utcnow())
    url = request.url_for(DOWNLOAD_ROUTE, orgId=org.org_id).include_query_params(**query)
    return JSONResponse({"url": str(url)})


@downloads.get(
    "/downloads/{orgId}/failedIngest",
    name=DOWNLOAD_ROUTE,
    summary="A failed measurement and the reason (a signed link: no token needed)",
)
async def download(orgId: str, state: StateDep, request: Request) -> Response:
    link = dict(request.query_params)
    failure = await ingest.download(state.db, orgId, link, state.downloads, utcnow())
    filename = link["file"].rsplit("/", 1)[-1]
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return JSONResponse(failure, headers=headers)
