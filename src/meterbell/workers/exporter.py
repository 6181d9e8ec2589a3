"""The exporter: turns due export schedules into jobs, and runs jobs.

`schedule_step` claims schedules whose next run is due, queues one job for each and moves it
to its next run after now, in one transaction: a schedule that came due several times while
no worker ran gets one catch-up job, not a burst. `job_step` claims one job (a lease, renewed
while the job runs), writes its files in a worker thread (workers/export_writer.py), sends
them to every destination of the job (or keeps them 24 hours for download when it has
none), and records the outcome. A failed job raises a `dataexport.job.failure` event.
A job whose worker died is taken up again when its lease expires, at most MAX_JOB_ATTEMPTS
times. Claims are exclusive (SKIP LOCKED on PostgreSQL), so with several workers each due
run becomes one job and each job runs once at a time.

A schedule or a job whose handling raises inside meterbell never holds back the others
(workers/isolation.py): a batch of schedules that raises is taken again one at a time, a job
that raises is handed back at once; either is set aside after repeated failures (a schedule
stops running, a job ends FAILED), with a dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.alerts import AlertType, export_failure
from meterbell.domain.clock import as_utc, utcnow
from meterbell.domain.deadletters import Worker, WorkItem
from meterbell.domain.documents import DocumentKind
from meterbell.domain.exports.jobs import (
    JOB_FAILURE,
    JOB_FAILURE_CATEGORY,
    KEPT_FILES_LIFETIME,
    MAX_JOB_ATTEMPTS,
    JobStatus,
    failure_event_data,
    kept_file,
    spec_for_schedule,
)
from meterbell.domain.exports.layout import export_file_key
from meterbell.domain.exports.timing import next_run
from meterbell.services import alerts
from meterbell.store import documents as document_store
from meterbell.store import events as event_store
from meterbell.store import exports as export_store
from meterbell.store.db import Database
from meterbell.store.events import EventRow
from meterbell.store.export_storage import ExportStorage, ExportStorageError
from meterbell.store.exports import JobRow
from meterbell.store.wakeups import Wakeup
from meterbell.workers.export_writer import WrittenFile, write_job_files
from meterbell.workers.isolation import Isolation

log = structlog.get_logger(__name__)
SCHEDULE_BATCH = 50
LEASE = timedelta(minutes=2)


class JobFailed(Exception):
    """Why a job failed, in words for its user, and the destination at fault if any."""

    def __init__(self, reason: str, destination_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.destination_id = destination_id


class Exporter:
    def __init__(
        self,
        db: Database,
        storage: ExportStorage,
        exports_dir: Path,
        *,
        lease: timedelta = LEASE,
        now: Callable[[], datetime] = utcnow,
        isolation: Isolation | None = None,
    ) -> None:
        self.db = db
        self.storage = storage
        self.exports_dir = exports_dir
        self.lease = lease
        self.now = now
        self.isolation = isolation or Isolation(db, now=now)
        self.owner = f"exporter-{uuid.uuid4()}"
        self.jobs_queued = db.wakeups[Wakeup.EXPORTS_QUEUED]

    # Schedules → jobs

    async def schedule_step(self) -> bool:
        """Queue a job for each due schedule; True when the batch was full."""
        full = await self.isolation.step(
            self._schedule_batch, self._schedule_alone, _set_schedule_aside
        )
        self._remove_stale_files(self.now())
        return full

    async def _schedule_batch(self, taken: list[WorkItem]) -> bool:
        return await self._queue_due_jobs(taken, limit=SCHEDULE_BATCH) == SCHEDULE_BATCH

    async def _schedule_alone(self, item: WorkItem) -> None:
        await self._queue_due_jobs([], limit=1, schedule_id=item.item_id)

    async def _queue_due_jobs(
        self, taken: list[WorkItem], *, limit: int, schedule_id: str | None = None
    ) -> int:
        """A job for each due schedule (or for the one with `schedule_id`, if due); how many
        schedules were due."""
        now = self.now()
        async with self.db.write() as conn:
            due = await export_store.claim_due_schedules(conn, now, limit, schedule_id)
            taken.extend(WorkItem(Worker.EXPORT_SCHEDULER, d.org_id, d.schedule_id) for d in due)
            for item in due:
                schedule = await document_store.get_entity(
                    conn, item.org_id, DocumentKind.EXPORT_SCHEDULE, item.schedule_id
                )
                if schedule is None:
                    await export_store.forget_schedule(conn, item.schedule_id)
                    continue
                run_at = as_utc(item.due_at)
                await export_store.queue_job(
                    conn,
                    org_id=item.org_id,
                    schedule_id=item.schedule_id,
                    source_type=str(schedule["sourceType"]),
                    spec=spec_for_schedule(schedule, run_at),
                    at=run_at,
                )
                following = next_run(str(schedule["cronExpression"]), now)
                await export_store.set_next_run(conn, item.org_id, item.schedule_id, following)
        return len(due)

    def _remove_stale_files(self, now: datetime) -> None:
        """Files kept for download, and work folders of jobs that died, after 24 hours."""
        cutoff = (now - KEPT_FILES_LIFETIME).timestamp()
        for folder in ("downloads", "work"):
            root = self.exports_dir / folder
            for path in root.iterdir() if root.is_dir() else ():
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True)

    # Jobs

    async def job_step(self) -> bool:
        """Run one due job; True if there was one (more may be waiting)."""
        now = self.now()
        async with self.db.write() as conn:
            job = await export_store.claim_job(
                conn, now=now, lease_until=now + self.lease, owner=self.owner
            )
        if job is None:
            return False
        item = WorkItem(Worker.EXPORTER, job.org_id, job.id)
        if not await self.isolation.attempt(item, lambda _: self._run_job(job), _set_job_aside):
            await self._hand_back(job)
        return True

    async def _hand_back(self, job: JobRow) -> None:
        """A job whose handling raised, not set aside: due again at once."""
        async with self.db.write() as conn:
            await export_store.requeue_job(conn, job.org_id, job.id, self.now(), job.lease_owner)

    async def _run_job(self, job: JobRow) -> None:
        if job.attempts > MAX_JOB_ATTEMPTS:
            await self._fail(
                job,
                JobFailed(
                    f"The export was started {MAX_JOB_ATTEMPTS} times and its worker stopped "
                    "each time before it finished"
                ),
            )
            return
        heartbeat = asyncio.create_task(self._keep_lease(job))
        try:
            destinations = await self._destinations(job)
            files = await asyncio.to_thread(self._run, job, destinations)
        except JobFailed as failure:
            await self._fail(job, failure)
        except Exception as exc:
            log.exception("export job failed", orgId=job.org_id, exportJobId=job.id)
            await self._fail(job, JobFailed(f"The export failed unexpectedly: {exc}"))
        else:
            await self._succeed(job, files)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _keep_lease(self, job: JobRow) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            async with self.db.write() as conn:
                now = self.now()
                await export_store.renew_lease(conn, job.id, self.owner, now + self.lease)

    async def _destinations(self, job: JobRow) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            found = []
            for destination_id in job.spec.get("destinationIds") or []:
                destination = await document_store.get_entity(
                    conn, job.org_id, DocumentKind.EXPORT_DESTINATION, destination_id
                )
                if destination is None:
                    raise JobFailed(
                        f"Export destination {destination_id} no longer exists", destination_id
                    )
                found.append(destination)
        return found

    def _run(self, job: JobRow, destinations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write, send and place the job's files (in a worker thread); their records."""
        work_dir = self.exports_dir / "work" / job.id
        shutil.rmtree(work_dir, ignore_errors=True)
        work_dir.mkdir(parents=True)
        try:
            started = time.perf_counter()
            written = write_job_files(self.db.url, job, work_dir)
            log.info(
                "export files written",
                orgId=job.org_id,
                exportJobId=job.id,
                rows=sum(f.rows for f in written),
                seconds=round(time.perf_counter() - started, 3),
            )
            records = [self._place(job, file, destinations) for file in written]
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        return records

    def _place(
        self, job: JobRow, file: WrittenFile, destinations: list[dict[str, Any]]
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "name": file.name,
            "type": file.type,
            "rows": file.rows,
            "bytes": file.bytes,
            "locations": [self._send(job, file, d) for d in destinations],
        }
        if not destinations:
            kept = kept_file(self.exports_dir, job.id, file.name)
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(file.path, kept)
        return record

    def _send(
        self, job: JobRow, file: WrittenFile, destination: Mapping[str, Any]
    ) -> dict[str, Any]:
        key = export_file_key(
            prefix=destination.get("prefix"),
            org_id=job.org_id,
            when=as_utc(datetime.fromisoformat(str(job.spec["runAt"]))),
            data_type=file.type,
            job_id=job.id,
            file_format=str(job.spec.get("exportFileFormat", "CSV")),
            partition_order=destination.get("partitionOrder"),
        )
        try:
            location = self.storage.upload(destination, file.path, key)
        except ExportStorageError as exc:
            raise JobFailed(str(exc), str(destination["id"])) from exc
        placed = {
            "destinationId": destination["id"],
            "destinationType": destination["destinationType"],
            "key": key,
            "location": location,
        }
        if destination["destinationType"] == "LOCAL":
            placed["path"] = str(self.storage.local_file(destination, key))
        return placed

    async def _succeed(self, job: JobRow, files: list[dict[str, Any]]) -> None:
        now = self.now()
        async with self.db.write() as conn:
            finished = await export_store.finish_job(
                conn,
                job,
                status=JobStatus.SUCCEEDED,
                at=now,
                files=files,
                row_count=sum(int(f["rows"]) for f in files),
            )
            if finished and job.schedule_id:
                why = f"job {job.id} of the schedule succeeded."
                await alerts.resolve_alerts(
                    conn, job.org_id, AlertType.DATA_EXPORT, [job.schedule_id], why, now
                )

    async def _fail(self, job: JobRow, failure: JobFailed) -> None:
        now = self.now()
        event = EventRow(
            id=str(uuid.uuid4()),
            org_id=job.org_id,
            event_name=JOB_FAILURE,
            category=JOB_FAILURE_CATEGORY,
            event_time=now,
            m3ter_event=failure_event_data(
                job_id=job.id,
                schedule_id=job.schedule_id,
                source_type=job.source_type,
                destination_id=failure.destination_id,
                reason=failure.reason,
            ),
            resource_id=job.id,
        )
        async with self.db.write() as conn:
            if await export_store.finish_job(
                conn, job, status=JobStatus.FAILED, at=now, error=failure.reason
            ):
                await event_store.insert_events(conn, [event])
                alert = export_failure(
                    job.org_id, job.id, job.schedule_id, failure.reason, event.id
                )
                await alerts.raise_alert(conn, alert, now)

    async def stop(self) -> None:
        """Hand running jobs back (due at once) so another worker need not wait for leases."""
        async with self.db.write() as conn:
            await export_store.release_jobs(conn, self.owner, self.now())


async def _set_schedule_aside(
    conn: AsyncConnection, item: WorkItem, reason: str, now: datetime
) -> str | None:
    """A schedule that keeps failing stops running (no next run) until replayed."""
    await export_store.forget_schedule(conn, item.item_id)
    return None


async def _set_job_aside(
    conn: AsyncConnection, item: WorkItem, reason: str, now: datetime
) -> str | None:
    assert item.org_id is not None
    error = f"meterbell could not run the export and set it aside: {reason.splitlines()[0]}"
    await export_store.set_job_aside(conn, item.org_id, item.item_id, error, now)
    return None
