"""An export schedule the exporter cannot queue (its document cannot be read), and a job whose
outcome cannot be recorded, hold back no other schedule or job, of their organization or
another's: each is set aside after MB_MAX_ITEM_FAILURES tries (the schedule stops, the job
ends FAILED), visible as a dead letter, and a replay puts it back."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from meterbell.config import Settings
from meterbell.domain.clock import utcnow
from meterbell.store import exports as export_store
from meterbell.store.db import Database
from meterbell.store.export_storage import ExportStorage
from meterbell.store.exports import JobRow
from meterbell.workers.exporter import Exporter
from tests.conftest import OrgApi
from tests.exporting import created, exporter, operational_schedule, run_jobs
from tests.faults import dead_letters, replayed, set_aside_alerts, steps_until_idle, tamper, without


async def schedule_jobs(api: OrgApi, schedule: dict[str, Any]) -> list[dict[str, Any]]:
    params = {"scheduleId": schedule["id"], "pageSize": "100"}
    return list((await api.get("dataexports/jobs", params=params)).json()["data"])


async def due_schedule(api: OrgApi, db: Database, at: datetime) -> dict[str, Any]:
    """A schedule whose first job has run, due again at `at`."""
    schedule = await created(api, "dataexports/schedules", operational_schedule())
    async with db.write() as conn:
        await export_store.set_next_run(conn, api.org_id, schedule["id"], at)
    return schedule


async def test_a_schedule_that_keeps_failing_is_set_aside_and_the_others_run(
    api: OrgApi, other_api: OrgApi, db: Database, settings: Settings
) -> None:
    now = utcnow()
    broken, good = await due_schedule(api, db, now), await due_schedule(api, db, now)
    other = await due_schedule(other_api, db, now)
    await run_jobs(exporter(db, settings))
    original = await tamper(
        db, api.org_id, "dataexportschedule", broken["id"], without("sourceType")
    )

    await steps_until_idle(exporter(db, settings, now=lambda: now).schedule_step)

    assert len(await schedule_jobs(api, good)) == 2
    assert len(await schedule_jobs(other_api, other)) == 2
    assert len(await schedule_jobs(api, broken)) == 1
    (letter,) = await dead_letters(api, "export-scheduler")
    assert (letter["itemId"], letter["attempts"]) == (broken["id"], 3)
    assert "KeyError: 'sourceType'" in letter["error"]
    assert [a["resourceId"] for a in await set_aside_alerts(api)] == [letter["id"]]

    await tamper(db, api.org_id, "dataexportschedule", broken["id"], lambda _: original)
    await replayed(api, letter)
    later = now + timedelta(seconds=1)
    await steps_until_idle(exporter(db, settings, now=lambda: later).schedule_step)
    assert len(await schedule_jobs(api, broken)) == 2


class FailingToRecord(Exporter):
    """An exporter that cannot record one job's success."""

    poisoned = ""

    async def _succeed(self, job: JobRow, files: list[dict[str, Any]]) -> None:
        if job.id == self.poisoned:
            raise RuntimeError(f"cannot record job {job.id}")
        await super()._succeed(job, files)


async def test_a_job_that_keeps_failing_is_set_aside_and_the_others_run(
    api: OrgApi, other_api: OrgApi, db: Database, settings: Settings
) -> None:
    poisoned = await created(api, "dataexports/schedules", operational_schedule())
    good = await created(api, "dataexports/schedules", operational_schedule())
    other = await created(other_api, "dataexports/schedules", operational_schedule())
    worker = FailingToRecord(db, ExportStorage(settings), settings.exports_dir)
    (poisoned_job,) = await schedule_jobs(api, poisoned)
    worker.poisoned = poisoned_job["id"]

    await steps_until_idle(worker.job_step)

    assert [j["status"] for j in await schedule_jobs(api, good)] == ["SUCCEEDED"]
    assert [j["status"] for j in await schedule_jobs(other_api, other)] == ["SUCCEEDED"]
    (failed,) = await schedule_jobs(api, poisoned)
    assert failed["status"] == "FAILED"
    assert "set it aside" in failed["error"]
    (letter,) = await dead_letters(api, "exporter")
    assert (letter["itemId"], letter["attempts"]) == (poisoned_job["id"], 3)
    assert "RuntimeError: cannot record job" in letter["error"]

    await replayed(api, letter)
    await run_jobs(exporter(db, settings))
    assert [j["status"] for j in await schedule_jobs(api, poisoned)] == ["SUCCEEDED"]
