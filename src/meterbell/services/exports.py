"""Data exports: destinations and schedules (versioned documents), ad hoc exports, jobs, and
download links to the files jobs wrote. The exports themselves run in workers/exporter.py."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.clock import as_utc, isoformat
from meterbell.domain.documents import DocumentKind
from meterbell.domain.download_links import DownloadSigner
from meterbell.domain.errors import Conflict, InvalidRequest, NotFound
from meterbell.domain.exports.jobs import (
    KEPT_FILES_LIFETIME,
    JobStatus,
    kept_file,
    public_job,
    spec_for_adhoc,
    spec_for_schedule,
)
from meterbell.domain.exports.requests import checked_adhoc, checked_destination, checked_schedule
from meterbell.domain.exports.timing import next_run
from meterbell.domain.listing import FieldFilter, choice_param, id_filters, split_values
from meterbell.domain.meters import field_codes
from meterbell.domain.pagination import Page, continue_before, page_from_rows
from meterbell.services import versioned
from meterbell.services.versioned import Document, Kind
from meterbell.store import documents as document_store
from meterbell.store import exports as export_store
from meterbell.store.db import Database
from meterbell.store.export_storage import ExportStorage
from meterbell.store.exports import JobQuery, JobRow

DESTINATION = Kind(DocumentKind.EXPORT_DESTINATION, "Export destination")
SCHEDULE = Kind(DocumentKind.EXPORT_SCHEDULE, "Export schedule")
DESTINATION_PAGE_SIZE = 200
SCHEDULE_PAGE_SIZE = 100
JOB_PAGE_SIZE = 100
DOWNLOAD_LIFETIME = timedelta(minutes=15)
DATE_FILTER_EXAMPLE = "2026-01-31T00:00:00Z"


# Destinations


async def create_destination(db: Database, org_id: str, body: object, actor: str) -> Document:
    return await versioned.create(db, org_id, DESTINATION, checked_destination(body), actor)


async def get_destination(db: Database, org_id: str, destination_id: str) -> Document:
    return await versioned.get(db, org_id, DESTINATION, destination_id)


async def update_destination(
    db: Database, org_id: str, destination_id: str, body: object, actor: str
) -> Document:
    fields = checked_destination(body)
    version = versioned.requested_version(body)
    return await versioned.replace(db, org_id, DESTINATION, destination_id, fields, version, actor)


async def delete_destination(db: Database, org_id: str, destination_id: str) -> Document:
    async with db.read() as conn:
        users = await document_store.list_entities(
            conn,
            org_id,
            SCHEDULE.name,
            filters=[FieldFilter("destinationIds", "contains", (destination_id,))],
            before_seq=None,
            limit=20,
        )
    if users:
        names = ", ".join(f"{s['id']} ('{s['name']}')" for _, s in users)
        raise Conflict(
            f"Export destination {destination_id} is used by export schedules {names}: remove "
            "it from those schedules or delete them first"
        )
    return await versioned.delete(db, org_id, DESTINATION, destination_id)


async def list_destinations(
    db: Database, org_id: str, query: Mapping[str, Sequence[str]], *, page_size: int
) -> Page:
    return await versioned.list_page(
        db, org_id, DESTINATION, id_filters(query), query, page_size=page_size
    )


# References a schedule or ad hoc export makes, checked against what the organization has


async def _owned(
    conn: AsyncConnection, org_id: str, kind: str, ids: set[str]
) -> dict[str, Document]:
    """Those of `ids` that are documents of `kind` in this organization."""
    found = {}
    for document_id in sorted(ids):
        document = await document_store.get_entity(conn, org_id, kind, document_id)
        if document is not None:
            found[document_id] = document
    return found


def _field_references(selection: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(where, meterId, fieldCode) of every field the selection names."""
    references = []
    for key in ("dimensionFilters", "aggregations", "groups"):
        for index, item in enumerate(selection.get(key) or []):
            if item.get("meterId") and item.get("fieldCode"):
                references.append((f"{key}[{index}]", item["meterId"], item["fieldCode"]))
    return references


async def _check_references(conn: AsyncConnection, org_id: str, selection: Document) -> None:
    destination_ids = set(selection.get("destinationIds") or [])
    destinations = await _owned(conn, org_id, DESTINATION.name, destination_ids)
    if missing := sorted(destination_ids - set(destinations)):
        raise InvalidRequest(f"'destinationIds': no export destination {', '.join(missing)}")
    references = _field_references(selection)
    meter_ids = set(selection.get("meterIds") or []) | {m for _, m, _ in references}
    meters = await _owned(conn, org_id, DocumentKind.METER, meter_ids)
    if missing := sorted(meter_ids - set(meters)):
        raise InvalidRequest(f"No meter {', '.join(missing)} in this organization")
    for where, meter_id, code in references:
        codes = field_codes(meters[meter_id])
        if code not in codes:
            raise InvalidRequest(
                f"'{where}.fieldCode': meter {meter_id} has no field '{code}' (its fields: "
                f"{', '.join(codes) or 'none'})"
            )


# Schedules


def _schedule_writer(org_id: str, now: datetime, *, first_run: bool) -> versioned.AlsoInTransaction:
    """Inside the schedule's write: check what it refers to, set when it is next due, and
    (on create) queue its first run."""

    async def write(conn: AsyncConnection, schedule: Mapping[str, Any]) -> None:
        await _check_references(conn, org_id, dict(schedule))
        due = next_run(str(schedule["cronExpression"]), now)
        await export_store.set_next_run(conn, org_id, str(schedule["id"]), due)
        if first_run:
            await export_store.queue_job(
                conn,
                org_id=org_id,
                schedule_id=str(schedule["id"]),
                source_type=str(schedule["sourceType"]),
                spec=spec_for_schedule(schedule, now),
                at=now,
            )

    return write


async def create_schedule(
    db: Database, org_id: str, body: object, actor: str, now: datetime
) -> Document:
    fields, _ = checked_schedule(body)
    return await versioned.create(
        db, org_id, SCHEDULE, fields, actor, also=_schedule_writer(org_id, now, first_run=True)
    )


async def get_schedule(db: Database, org_id: str, schedule_id: str) -> Document:
    return await versioned.get(db, org_id, SCHEDULE, schedule_id)


async def update_schedule(
    db: Database, org_id: str, schedule_id: str, body: object, actor: str, now: datetime
) -> Document:
    fields, _ = checked_schedule(body)
    version = versioned.requested_version(body)
    return await versioned.replace(
        db,
        org_id,
        SCHEDULE,
        schedule_id,
        fields,
        version,
        actor,
        also=_schedule_writer(org_id, now, first_run=False),
    )


async def _forget(conn: AsyncConnection, schedule: Mapping[str, Any]) -> None:
    await export_store.forget_schedule(conn, str(schedule["id"]))


async def delete_schedule(db: Database, org_id: str, schedule_id: str) -> Document:
    return await versioned.delete(db, org_id, SCHEDULE, schedule_id, also=_forget)


async def list_schedules(
    db: Database, org_id: str, query: Mapping[str, Sequence[str]], *, page_size: int
) -> Page:
    return await versioned.list_page(
        db, org_id, SCHEDULE, id_filters(query), query, page_size=page_size
    )


# Ad hoc exports and jobs


async def create_adhoc(db: Database, org_id: str, body: object, now: datetime) -> str:
    request = checked_adhoc(body, now)
    async with db.write() as conn:
        await _check_references(conn, org_id, request)
        return await export_store.queue_job(
            conn,
            org_id=org_id,
            schedule_id=None,
            source_type=str(request["sourceType"]),
            spec=spec_for_adhoc(request, now),
            at=now,
        )


def job_view(job: JobRow) -> Document:
    return public_job(
        job_id=job.id,
        schedule_id=job.schedule_id,
        source_type=job.source_type,
        status=job.status,
        spec=job.spec,
        dt_created=job.dt_created,
        started_at=job.started_at,
        completed_at=job.completed_at,
        files=job.files,
        row_count=job.row_count,
        error=job.error,
    )


async def _job(db: Database, org_id: str, job_id: str) -> JobRow:
    async with db.read() as conn:
        job = await export_store.get_job(conn, org_id, job_id)
    if job is None:
        raise NotFound(f"No export job with id {job_id} in this organization")
    return job


async def get_job(db: Database, org_id: str, job_id: str) -> Document:
    return job_view(await _job(db, org_id, job_id))


def _date_filter(query: Mapping[str, Sequence[str]], name: str) -> datetime | None:
    raw = query.get(name, [""])[-1]
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
        if value.tzinfo is None:
            raise InvalidRequest(f"{name} needs a time zone, like {DATE_FILTER_EXAMPLE}")
        return as_utc(value)
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be a date-time like {DATE_FILTER_EXAMPLE}") from exc


def job_query(query: Mapping[str, Sequence[str]]) -> JobQuery:
    return JobQuery(
        ids=split_values(query.get("ids", ())),
        schedule_id=query.get("scheduleId", [""])[-1] or None,
        status=choice_param(query, "status", JobStatus),
        created_from=_date_filter(query, "dateCreatedStart"),
        created_before=_date_filter(query, "dateCreatedEnd"),
    )


async def list_jobs(
    db: Database, org_id: str, query: Mapping[str, Sequence[str]], *, page_size: int
) -> Page:
    filters = job_query(query)
    async with db.read() as conn:
        jobs = await export_store.list_jobs(
            conn, org_id, filters, before_seq=continue_before(query), limit=page_size + 1
        )
    return page_from_rows([(job.seq, job_view(job)) for job in jobs], page_size)


# Downloads


def _downloadable(job: JobRow, now: datetime) -> list[dict[str, Any]]:
    if job.status != JobStatus.SUCCEEDED:
        raise Conflict(
            f"Export job {job.id} is {job.status}: its files can be downloaded once it has "
            "SUCCEEDED"
        )
    assert job.completed_at is not None
    if as_utc(job.completed_at) + KEPT_FILES_LIFETIME <= now:
        raise Conflict(
            f"Export job {job.id} ran at {isoformat(job.completed_at)}: download URLs are only "
            "given for jobs that ran in the past 24 hours"
        )
    return list(job.files or [])


def _signed_link(signer: DownloadSigner, org_id: str, job_id: str, name: str, now: datetime) -> str:
    query = signer.sign(f"{org_id}/dataexports/{job_id}/{name}", now, DOWNLOAD_LIFETIME)
    return f"/downloads/{org_id}/dataexports/{job_id}/{name}?expires={query['expires']}" + (
        f"&signature={query['signature']}"
    )


async def _file_url(
    db: Database,
    storage: ExportStorage,
    signer: DownloadSigner,
    job: JobRow,
    file: Mapping[str, Any],
    now: datetime,
) -> str:
    """A presigned object-store URL where the file went to S3, else a signed meterbell link
    (path only: the router makes it absolute)."""
    for location in file.get("locations", []):
        if location.get("destinationType") == "S3":
            async with db.read() as conn:
                destination = await document_store.get_entity(
                    conn, job.org_id, DESTINATION.name, location["destinationId"]
                )
            url = await asyncio.to_thread(
                storage.download_url,
                destination or location,
                str(location["key"]),
                int(DOWNLOAD_LIFETIME.total_seconds()),
            )
            if url:
                return url
    return _signed_link(signer, job.org_id, job.id, str(file["name"]), now)


async def download_urls(
    db: Database,
    storage: ExportStorage,
    signer: DownloadSigner,
    org_id: str,
    job_id: str,
    now: datetime,
) -> tuple[list[tuple[str, str]], datetime]:
    """(file name, URL) of each file of a job that succeeded in the past 24 hours, and when
    the URLs expire (15 minutes)."""
    job = await _job(db, org_id, job_id)
    files = _downloadable(job, now)
    urls = [(str(f["name"]), await _file_url(db, storage, signer, job, f, now)) for f in files]
    return urls, now + DOWNLOAD_LIFETIME


async def file_to_download(
    db: Database,
    signer: DownloadSigner,
    exports_dir: Path,
    org_id: str,
    job_id: str,
    name: str,
    link: Mapping[str, str],
    now: datetime,
) -> Path:
    """The local file a signed link (made by `download_urls`) opens."""
    resource = f"{org_id}/dataexports/{job_id}/{name}"
    signer.check(resource, link.get("expires", ""), link.get("signature", ""), now)
    job = await _job(db, org_id, job_id)
    # A link given just before the 24-hour cut-off still works for its whole lifetime.
    for file in _downloadable(job, now - DOWNLOAD_LIFETIME):
        if file["name"] == name:
            return _local_copy(exports_dir, job, file)
    raise NotFound(f"Export job {job_id} has no file {name}")


def _local_copy(exports_dir: Path, job: JobRow, file: Mapping[str, Any]) -> Path:
    for location in file.get("locations", []):
        if location.get("destinationType") == "LOCAL":
            return Path(location["path"])
    path = kept_file(exports_dir, job.id, str(file["name"]))
    if not path.exists():
        raise NotFound(f"The file {file['name']} of export job {job.id} is no longer kept")
    return path
