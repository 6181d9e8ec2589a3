"""Export jobs: what a job exports (its spec, fixed when the job is created) and how the API
shows it. A job is created by a schedule coming due, by a new schedule (its first run), or by
an ad hoc request; its life is PENDING → RUNNING → SUCCEEDED | FAILED."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from meterbell.domain.clock import as_utc, isoformat
from meterbell.domain.exports.periods import period_window

# Files a job keeps for download (it had no destination) live this long.
KEPT_FILES_LIFETIME = timedelta(hours=24)


class JobStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


JOB_FAILURE = "dataexport.job.failure"
JOB_FAILURE_CATEGORY = "DataExportJobFailure"
JOB_FAILURE_FIELDS = {
    "jobId": "string",
    "scheduleId": "string",
    "sourceType": "string",
    "destinationId": "string",
    "reason": "string",
}
# Attempts at a job whose worker stopped mid-way (its lease expired) before it is failed.
MAX_JOB_ATTEMPTS = 3
USAGE_SELECTION = ("meterIds", "accountIds", "dimensionFilters", "aggregations", "groups")
SHARED_SELECTION = ("sourceType", "exportFileFormat", "destinationIds", "operationalDataTypes")


def _selection(source: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: source[key]
        for key in (*SHARED_SELECTION, *USAGE_SELECTION)
        if source.get(key) is not None
    }


def spec_for_schedule(schedule: Mapping[str, Any], run_at: datetime) -> dict[str, Any]:
    """What the run of `schedule` due at `run_at` exports: usage over the schedule's
    `timePeriod` as seen at `run_at`; operational data as it is when the job runs."""
    spec = _selection(schedule)
    spec["runAt"] = isoformat(run_at)
    if schedule["sourceType"] == "USAGE":
        start, end = period_window(str(schedule["timePeriod"]), as_utc(run_at))
        spec.update(startDate=isoformat(start), endDate=isoformat(end))
    return spec


def spec_for_adhoc(request: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    spec = _selection(request)
    spec["runAt"] = isoformat(now)
    for key in ("startDate", "endDate"):
        if request.get(key) is not None:
            spec[key] = isoformat(request[key])
    return spec


def kept_file(exports_dir: Path, job_id: str, name: str) -> Path:
    """Where a job without destinations keeps a file for download."""
    return exports_dir / "downloads" / job_id / name


def public_job(
    *,
    job_id: str,
    schedule_id: str | None,
    source_type: str,
    status: JobStatus,
    spec: Mapping[str, Any],
    dt_created: datetime,
    started_at: datetime | None,
    completed_at: datetime | None,
    files: list[dict[str, Any]] | None,
    row_count: int | None,
    error: str | None,
) -> dict[str, Any]:
    """m3ter's JobResponse (`id`, `version`, `scheduleId`, `dateCreated`, `startedAt`,
    `sourceType`, `status`), plus what happened: `completedAt`, the window exported, the
    files with their row counts, and the error of a failed job."""
    return {
        "id": job_id,
        "version": 1,
        "scheduleId": schedule_id,
        "sourceType": source_type,
        "status": status,
        "dateCreated": isoformat(dt_created),
        "startedAt": isoformat(started_at) if started_at else None,
        "completedAt": isoformat(completed_at) if completed_at else None,
        "startDate": spec.get("startDate"),
        "endDate": spec.get("endDate"),
        "exportFileFormat": spec.get("exportFileFormat", "CSV"),
        "destinationIds": list(spec.get("destinationIds") or []),
        "files": [
            {key: file[key] for key in ("name", "type", "rows", "bytes") if key in file}
            for file in files or []
        ],
        "rowCount": row_count,
        "error": error,
    }


def failure_event_data(
    *,
    job_id: str,
    schedule_id: str | None,
    source_type: str,
    destination_id: str | None,
    reason: str,
) -> dict[str, Any]:
    """`m3terEvent` of a `dataexport.job.failure` event; rules read it as `new.*`."""
    details = {
        "jobId": job_id,
        "scheduleId": schedule_id,
        "sourceType": source_type,
        "destinationId": destination_id,
        "reason": reason,
    }
    return {"eventData": {"newDto": details}}
