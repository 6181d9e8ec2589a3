"""Backfill (an extension: not in m3ter): a rule's current calculation over the stored events
of its type in a window, oldest first, firing like live dispatch (services/firing.py), each
(rule, rule version, event) at most once.

A window of at most INLINE_LIMIT events is worked in the request, a chunk of CHUNK events per
transaction, and answered finished. A larger one becomes a job that workers/backfill.py works
a chunk at a time, between the live workers' transactions; its progress is read back through
the API. A dry run evaluates only: over a small window it writes nothing at all, over a large
one only its job's progress.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.backfill import FIRST_EVENT_IDS, BackfillStatus, public_backfill
from meterbell.domain.clock import utcnow
from meterbell.domain.documents import DocumentKind
from meterbell.domain.errors import Conflict, NotFound
from meterbell.domain.notifications import rule_context
from meterbell.domain.pagination import Page, continue_before, page_from_rows
from meterbell.domain.validation import validate_model
from meterbell.domain.windows import BackfillFields, checked_window
from meterbell.services import notifications
from meterbell.services.firing import Calculations, firing, rule_targets
from meterbell.store import backfill as backfill_store
from meterbell.store import documents as document_store
from meterbell.store import events as event_store
from meterbell.store import runs as run_store
from meterbell.store.backfill import BackfillJob
from meterbell.store.db import Database
from meterbell.store.events import EventRow

log = structlog.get_logger(__name__)

INLINE_LIMIT = 1_000  # windows of at most this many events are worked in the request
CHUNK = 200  # events per transaction
LEASE = timedelta(minutes=2)  # how long the request (or a worker) holds a job between chunks
MAX_PAGE_SIZE = 100


def _rule_problem(job: BackfillJob, rule: Mapping[str, Any] | None) -> str | None:
    """Why the job cannot go on with its rule as it is now, if it cannot."""
    if rule is None:
        return "The rule was deleted"
    if int(rule["version"]) != job.rule_version:
        return (
            f"The rule changed (version {job.rule_version} is now {rule['version']}): "
            "start a new backfill to run its current calculation"
        )
    if not job.dry_run and not rule.get("active", True):
        return "The rule was deactivated: activate it and start a new backfill"
    return None


def _end(job: BackfillJob, status: BackfillStatus, now: datetime, error: str | None = None) -> None:
    job.status, job.error, job.dt_completed = status, error, now
    job.next_attempt_at, job.lease_owner = None, None


class Backfiller:
    """Works backfill jobs a chunk at a time, in the API (small windows) or a worker."""

    def __init__(
        self, db: Database, *, chunk: int = CHUNK, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.db = db
        self.chunk = chunk
        self.now = now
        self.calculations = Calculations()

    async def work_chunk(
        self, org_id: str, job_id: str, owner: str, *, hold: bool
    ) -> BackfillJob | None:
        """Work the job's next chunk in one transaction, if `owner` may (see `take_job`); the
        job after it. `hold`: keep the job leased to `owner` for its next chunk (the API
        working it inline); otherwise it is due again at once, behind other due jobs."""
        now = self.now()
        async with self.db.write() as conn:
            job = await backfill_store.take_job(conn, org_id, job_id, owner, now)
            if job is None:
                return None
            rule = await document_store.get_entity(conn, org_id, DocumentKind.RULE, job.rule_id)
            problem = _rule_problem(job, rule)
            if problem is not None or rule is None:
                _end(job, BackfillStatus.FAILED, now, problem)
            else:
                batch = await backfill_store.next_events(conn, job, rule["eventName"], self.chunk)
                await self._evaluate(conn, job, rule, batch, now)
                if len(batch) < self.chunk:
                    _end(job, BackfillStatus.COMPLETE, now)
                elif hold:
                    job.next_attempt_at, job.lease_owner = now + LEASE, owner
                else:
                    job.next_attempt_at, job.lease_owner = now, None
            await backfill_store.save_progress(conn, job)
        return job

    async def _evaluate(
        self,
        conn: AsyncConnection,
        job: BackfillJob,
        rule: Mapping[str, Any],
        batch: Sequence[EventRow],
        now: datetime,
    ) -> None:
        """Evaluate the rule on a chunk of events; unless a dry run, fire on those it matches
        and that this rule version has not been backfilled on, in the caller's transaction."""
        matched = []
        for event in batch:
            context = rule_context(event.m3ter_event)  # an unreadable event fails the chunk
            try:
                if self.calculations.fires(rule, context):
                    matched.append(event)
            except Exception:  # the rule fails on this event: counted, it does not fire
                job.failed += 1
        job.evaluated += len(batch)
        job.matched += len(matched)
        room = FIRST_EVENT_IDS - len(job.event_ids)
        job.event_ids = [*job.event_ids, *(event.id for event in matched[:room])]
        if batch:
            job.cursor_time, job.cursor_seq = batch[-1].event_time, batch[-1].seq
        if job.dry_run or not matched:
            return
        new = await backfill_store.mark_backfilled(conn, job, [e.id for e in matched], now)
        job.created += len(new)
        job.already_backfilled += len(matched) - len(new)
        if not new:
            return
        targets = (await rule_targets(conn, {job.org_id}))[job.org_id].get(job.rule_id, [])
        fired = [firing(e, rule, targets, now, backfill=True) for e in matched if e.id in new]
        await event_store.insert_events(conn, [f.notification for f in fired])
        await run_store.insert_runs(conn, [run for f in fired for run, _ in f.runs])

    async def dry_run(self, job: BackfillJob, event_name: str, rule: Mapping[str, Any]) -> None:
        """Evaluate the whole (small) window in read transactions, writing nothing."""
        while True:
            async with self.db.read() as conn:
                batch = await backfill_store.next_events(conn, job, event_name, self.chunk)
                await self._evaluate(conn, job, rule, batch, self.now())
            if len(batch) < self.chunk:
                _end(job, BackfillStatus.COMPLETE, self.now())
                return


async def start(db: Database, org_id: str, rule_id: str, body: object) -> dict[str, Any]:
    """Backfill a rule over a window: `{"since", "until", "dryRun"}`. The job, finished when
    the window held at most INLINE_LIMIT events, else RUNNING in the background.

    A real backfill of an inactive rule is a Conflict (its dry run is allowed: try a rule
    before activating it)."""
    fields = validate_model(BackfillFields, body)
    since, until = checked_window(fields)
    rule = await notifications.get_rule(db, org_id, rule_id)
    if not fields.dryRun and not rule.get("active", True):
        raise Conflict(
            f"Notification rule {rule_id} is not active: activate it to backfill it, "
            "or ask for a dry run"
        )
    now = utcnow()
    job = BackfillJob(
        id=str(uuid.uuid4()),
        org_id=org_id,
        rule_id=rule_id,
        rule_version=int(rule["version"]),
        since=since,
        until=until,
        dry_run=fields.dryRun,
        status=BackfillStatus.RUNNING,
        dt_created=now,
    )
    backfiller = Backfiller(db)
    async with db.read() as conn:
        count = await backfill_store.count_events(conn, job, rule["eventName"], INLINE_LIMIT + 1)
    if count > INLINE_LIMIT:
        job.next_attempt_at = now  # for the backfill worker
        async with db.write() as conn:
            await backfill_store.insert_job(conn, job)
        return public_backfill(job)
    if fields.dryRun:
        await backfiller.dry_run(job, rule["eventName"], rule)
        return {**public_backfill(job), "id": None}
    return public_backfill(await _work_inline(db, backfiller, job))


async def _work_inline(db: Database, backfiller: Backfiller, job: BackfillJob) -> BackfillJob:
    """Work a small job's chunks in the request, leased to it; if one raises, the job goes to
    the backfill worker (whose failures are counted and set aside) and is answered RUNNING."""
    owner = f"api-{uuid.uuid4()}"
    job.lease_owner, job.next_attempt_at = owner, job.dt_created + LEASE
    async with db.write() as conn:
        await backfill_store.insert_job(conn, job)
    current = job
    try:
        while current.status == BackfillStatus.RUNNING:
            worked = await backfiller.work_chunk(job.org_id, job.id, owner, hold=True)
            if worked is None:  # the lease ran out and a worker took it over
                break
            current = worked
    except Exception:
        log.warning(
            "backfill chunk failed in the request: left to the worker",
            orgId=job.org_id,
            ruleId=job.rule_id,
            backfillJobId=job.id,
            exc_info=True,
        )
        async with db.write() as conn:
            await backfill_store.hand_over(conn, job.org_id, job.id, owner, utcnow())
    return current


async def get_backfill(db: Database, org_id: str, rule_id: str, job_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        job = await backfill_store.get_job(conn, org_id, job_id)
    if job is None or job.rule_id != rule_id:
        raise NotFound(f"Backfill {job_id} of notification rule {rule_id} not found")
    return public_backfill(job)


async def list_backfills(
    db: Database, org_id: str, rule_id: str, query: Mapping[str, Sequence[str]], *, page_size: int
) -> Page:
    """A rule's backfills, newest first (the rule must exist)."""
    await notifications.get_rule(db, org_id, rule_id)
    async with db.read() as conn:
        jobs = await backfill_store.list_jobs(
            conn, org_id, rule_id, before_seq=continue_before(query), limit=page_size + 1
        )
    return page_from_rows([(job.seq, public_backfill(job)) for job in jobs], page_size)
