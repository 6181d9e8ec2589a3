"""The deliverer: sends integration runs as signed webhook requests, Slack messages, or bills
to accounts-receivable systems (workers/bill_sender.py).

Runs reach it two ways: straight from the in-process dispatcher (already leased to this
worker), or by claiming due runs from the store (retries, runs of other processes, runs whose
worker died: their lease expired). Each destination has its own queue and a bounded number of
requests in flight, so a slow or dead receiver only delays itself. Results are written in
batches: the attempt log, the run's next state, failure counting, auto-disable and error
events, one transaction per batch, by one writer task.

While this worker holds a run (queued here, in flight, or its result not yet recorded) it
renews the run's lease, so a run held by a live worker is never claimed and sent again however
slow its receiver; only a dead worker's runs are taken over when their leases expire.

A run whose delivery raises inside meterbell (not a failed request) counts an attempt and ends
ERROR after MB_MAX_ITEM_FAILURES of them, and a run whose result the store refuses ends ERROR
at once: either is set aside with a dead letter (workers/isolation.py). Replaying it sends the
same run again.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell import cancelling
from meterbell.domain.alerts import (
    AlertType,
    Occurrence,
    authentication_error,
    integration_disabled,
    integration_failing,
    missing_account_mapping,
    perform_error,
    validation_error,
)
from meterbell.domain.bill_delivery import BillJob
from meterbell.domain.clock import as_utc, isoformat, utcnow
from meterbell.domain.deadletters import Worker, WorkItem, error_summary
from meterbell.domain.documents import SYSTEM_ACTOR, DocumentKind
from meterbell.domain.integrations import (
    AUTHENTICATION_ERROR,
    BILL_ENTITY,
    DISABLED_ERROR,
    INTEGRATION_CATEGORY,
    MISSING_MAPPING_ERROR,
    PERFORM_ERROR,
    SLACK_DESTINATION,
    VALIDATION_ERROR,
    AttemptOutcome,
    DeliveryTarget,
    NextStep,
    OpenedSecrets,
    RetryPolicy,
    RunStatus,
    config_target,
    integration_error_data,
    next_step,
    request_headers,
)
from meterbell.domain.secrets_box import SecretBox
from meterbell.metrics import (
    ATTEMPT_SECONDS,
    DELIVERY_FAILED,
    DELIVERY_SECONDS,
    DELIVERY_SUCCEEDED,
)
from meterbell.services import alerts
from meterbell.services.external_mappings import customer_id
from meterbell.store import documents as document_store
from meterbell.store import events as event_store
from meterbell.store import runs as run_store
from meterbell.store.db import Database, after_commit
from meterbell.store.events import EventRow
from meterbell.store.runs import RunRow
from meterbell.store.wakeups import Wakeup
from meterbell.workers.bill_sender import (
    bill_connectors,
    idempotency_key,
    missing_mapping,
    send_bill,
)
from meterbell.workers.http_json_sender import OAuthTokens
from meterbell.workers.isolation import MAX_ITEM_FAILURES, Isolation
from meterbell.workers.sender import Sent, SignedSender
from meterbell.workers.slack_sender import post_to_slack

log = structlog.get_logger(__name__)

CLAIM_BATCH = 200
QUEUE_PER_DESTINATION = 256
RESULT_BATCH = 500
# Renew leases this many times per lease period, so one or two late renewals (a busy store)
# do not let a lease lapse.
RENEWALS_PER_LEASE = 3
WRITE_RETRY_PAUSE_S = 0.5
# The event loop's clock and the wall clock differ a little: a claim woken for a due time
# comes this much after it, so the run is due by then.
WAKE_MARGIN_S = 0.005
# Shutdown waits for requests in flight (each bounded by the delivery timeout) and for their
# results to be written, this much longer than the timeout at most.
STOP_GRACE_S = 2.0
# Statuses a run fails with for good: each raises its error event and alert.
FAILED_STATUSES = frozenset({RunStatus.ERROR, RunStatus.AUTH_FAILED})
# Alerts the next delivered run of an integration resolves.
RESOLVED_BY_DELIVERY = (
    AlertType.INTEGRATION_PERFORM_ERROR,
    AlertType.INTEGRATION_FAILING,
    AlertType.INTEGRATION_AUTHENTICATION_ERROR,
    AlertType.INTEGRATION_VALIDATION_ERROR,
    AlertType.INTEGRATION_MISSING_ACCOUNT_MAPPING,
)
UNRECORDABLE = (
    "The attempt's result could not be recorded (the store refused it; see the server log). "
    "Resend the run to try again."
)


@dataclass(frozen=True)
class DeliveryLimits:
    policy: RetryPolicy
    timeout_s: float
    auto_disable_after: int
    concurrency: int
    destination_concurrency: int
    lease: timedelta
    allow_private: bool
    # A delivery that raises inside meterbell counts as an attempt; the run ends ERROR after
    # this many such attempts at most, however many the retry policy allows.
    max_item_failures: int = MAX_ITEM_FAILURES
    # Refuse plain http targets (MB_WEBHOOK_HTTPS_ONLY).
    https_only: bool = False
    # Consecutive failed runs before an INTEGRATION_FAILING alert (MB_AUTO_DISABLE_WARN_AFTER).
    warn_after: int | None = None
    # Where people reach this meterbell (MB_PUBLIC_URL): Slack messages link to its console.
    public_url: str = ""
    # Where Stripe integrations send bills (MB_STRIPE_API_BASE).
    stripe_api_base: str = "https://api.stripe.com"


@dataclass
class Result:
    run: RunRow
    target: DeliveryTarget | None
    step: NextStep
    outcome: AttemptOutcome | None = None
    attempt_log: dict[str, Any] | None = None
    crash: str | None = None  # what raised inside meterbell, with where


class Deliverer:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        limits: DeliveryLimits,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.box = box
        self.limits = limits
        self.now = now
        self.isolation = Isolation(db, max_failures=limits.max_item_failures, now=now)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = limits.lease
        self.claim_wake = db.wakeups[Wakeup.RUNS_DUE]
        self._queues: dict[str, deque[tuple[RunRow, DeliveryTarget | None]]] = defaultdict(deque)
        self._active: dict[str, int] = defaultdict(int)
        # Runs leased to this worker whose results are not recorded yet, by id.
        self._holding: dict[str, RunRow] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._results: list[Result] = []
        self._results_ready = asyncio.Event()
        self._secrets: dict[tuple[str, int], OpenedSecrets] = {}
        self._spacing = StartSpacing()
        self._sender = SignedSender(
            timeout_s=limits.timeout_s,
            allow_private=limits.allow_private,
            concurrency=limits.concurrency,
            https_only=limits.https_only,
        )
        self._bill_connectors = bill_connectors(
            self._sender,
            OAuthTokens(),
            stripe_api_base=limits.stripe_api_base,
            timeout_s=limits.timeout_s,
        )
        self._writer: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._stopping = False
        self._closing = False

    async def start(self) -> None:
        await self._sender.open()
        self._writer = asyncio.create_task(self._write_results())
        self._renewer = asyncio.create_task(self._renew_leases_forever())

    async def stop(self) -> None:
        """Start no more requests, let those in flight finish (each is bounded by the delivery
        timeout), record their results once (the writer does, then ends), and hand the runs
        still queued here back for the next worker."""
        self._stopping = True
        bound = self.limits.timeout_s + STOP_GRACE_S
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=bound)
        await cancelling.stop(*self._tasks)
        if self._writer is not None:
            self._closing = True
            self._results_ready.set()
            await asyncio.wait({self._writer}, timeout=bound)
            await cancelling.stop(self._writer)
        if self._renewer is not None:
            await cancelling.stop(self._renewer)
        async with self.db.write() as conn:
            await run_store.release_leases(conn, self.owner, list(self._holding), self.now())
        self._holding.clear()
        await self._sender.close()

    # ---- intake -------------------------------------------------------------------------

    def accepts(self, destination_id: str) -> bool:
        """Whether a run for this destination can be queued here without waiting too long."""
        queued = len(self._queues[destination_id]) + self._active[destination_id]
        return (
            len(self._holding) < self.limits.concurrency * 4
            and queued < self.limits.destination_concurrency + QUEUE_PER_DESTINATION
        )

    def take(self, runs: list[tuple[RunRow, DeliveryTarget]]) -> None:
        for run, target in runs:
            self._enqueue(run, target)

    def _saturated(self) -> list[str]:
        return [dest for dest in list(self._queues) if not self.accepts(dest)]

    async def claim_step(self) -> bool:
        """Claim due runs from the store; True when a full batch came back."""
        room = min(CLAIM_BATCH, self.limits.concurrency * 4 - len(self._holding))
        if room <= 0:
            return False
        now = self.now()
        async with self.db.write() as conn:
            claimed = await run_store.claim_due(
                conn,
                now=now,
                lease_until=now + self.lease,
                owner=self.owner,
                limit=room,
                skip_destinations=self._saturated(),
            )
            targets = await _targets_for(conn, claimed.runs) if claimed.runs else {}
        for run in claimed.runs:
            target = targets.get(run.config_id)
            if isinstance(target, Exception):
                self._hold_crashed(run, target)
            else:
                self._enqueue(run, target)
        self._wake_at(claimed.held_until, now)
        return len(claimed.runs) + len(claimed.held_until) == room

    def _wake_at(self, times: list[datetime], now: datetime) -> None:
        """Claim again at each of these times (runs fall due then)."""
        loop = asyncio.get_running_loop()
        for at in set(times):
            loop.call_later((at - now).total_seconds() + WAKE_MARGIN_S, self.claim_wake.set)

    def _hold_crashed(self, run: RunRow, error: Exception) -> None:
        """A run whose target could not even be read: its failed attempt goes to the writer."""
        log.error("reading a run's destination failed", exc_info=error, **run.log_ids())
        self._holding[run.id] = run
        self._results.append(self._crashed(run, None, error))
        self._results_ready.set()

    def _enqueue(self, run: RunRow, target: DeliveryTarget | None) -> None:
        self._holding[run.id] = run
        self._queues[run.destination_id].append((run, target))
        self._pump(run.destination_id)

    def _pump(self, destination_id: str) -> None:
        queue = self._queues[destination_id]
        while (
            queue
            and not self._stopping
            and self._active[destination_id] < self.limits.destination_concurrency
        ):
            run, target = queue.popleft()
            self._active[destination_id] += 1
            task = asyncio.create_task(self._deliver(run, target))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if not queue and not self._active[destination_id]:
            del self._queues[destination_id]
            del self._active[destination_id]

    # ---- one attempt --------------------------------------------------------------------

    async def _deliver(self, run: RunRow, target: DeliveryTarget | None) -> None:
        # Each delivery is a task of its own: what it logs carries the run's ids.
        structlog.contextvars.bind_contextvars(**run.log_ids())
        try:
            result = await self._attempt(run, target)
        except Exception as exc:
            log.exception("delivery failed inside meterbell")
            result = self._crashed(run, target, exc)
        finally:
            self._active[run.destination_id] -= 1
            self._pump(run.destination_id)
        self._results.append(result)
        self._results_ready.set()

    def _crashed(self, run: RunRow, target: DeliveryTarget | None, exc: Exception) -> Result:
        """A failed attempt for a delivery that raised: retried like a failed request, but
        for `max_item_failures` attempts at most, so a run that always raises (say, a
        secret sealed with another key) ends ERROR, set aside, instead of coming back for ever."""
        reason = f"meterbell could not deliver the run: {str(exc) or type(exc).__name__}"
        outcome = AttemptOutcome(False, None, reason)
        policy = self.limits.policy
        policy = RetryPolicy(min(policy.attempts, self.limits.max_item_failures), policy.backoff_s)
        step = next_step(outcome, run.attempts + 1, policy, self.now())
        attempt_log = {
            "attempt": run.attempts + 1,
            "at": isoformat(self.now()),
            "url": target.url if target else run.url,
            "requestHeaders": {},
            "statusCode": None,
            "responseBody": "",
            "durationMs": 0,
            "error": reason,
        }
        return Result(run, target, step, outcome, attempt_log, error_summary(exc))

    async def _attempt(self, run: RunRow, target: DeliveryTarget | None) -> Result:
        if target is None:
            reason = "Not sent: the integration configuration or its destination was deleted"
            return _not_sent(run, None, NextStep(RunStatus.ERROR, None, reason))
        if target.closed_reason is not None:
            step = NextStep(RunStatus.DISABLED, None, f"Not sent: {target.closed_reason}")
            return _not_sent(run, target, step)
        outcome, attempt_log = await self._post(run, target)
        answered = self.now()
        step = next_step(outcome, run.attempts + 1, self.limits.policy, answered)
        _count_attempt(run, outcome, answered)
        _log_attempt(outcome, step, attempt_log)
        return Result(run, target, step, outcome, attempt_log)

    def _opened(self, target: DeliveryTarget) -> OpenedSecrets:
        key = (target.destination_id, target.destination_version)
        if key not in self._secrets:
            previous = tuple((self.box.open(s), until) for s, until in target.previous_secrets)
            self._secrets[key] = OpenedSecrets(self.box.open(target.sealed_secret), previous)
        return self._secrets[key]

    async def _post(
        self, run: RunRow, target: DeliveryTarget
    ) -> tuple[AttemptOutcome, dict[str, Any]]:
        if target.max_per_second is not None:
            await self._spacing.turn(target.destination_id, target.max_per_second)
        started_at = self.now()
        sent = await self._send(run, target)
        ATTEMPT_SECONDS.observe(sent.seconds)
        attempt_log = {
            "attempt": run.attempts + 1,
            "at": isoformat(started_at),
            "url": target.url,
            "requestHeaders": sent.request_headers,
            "statusCode": sent.status_code,
            "responseBody": sent.response_body,
            "durationMs": round(sent.seconds * 1000, 2),
            "error": sent.outcome.error,
        }
        return sent.outcome, attempt_log

    async def _send(self, run: RunRow, target: DeliveryTarget) -> Sent:
        """One request: to Slack, the run's message; to an accounts-receivable system, its
        bill; to a webhook, its signed body."""
        if run.entity_type == BILL_ENTITY:
            return await self._send_bill(run, target)
        if target.destination == SLACK_DESTINATION:
            url = self._opened(target).current
            return await post_to_slack(self._sender, url, target.url, run, self.limits.public_url)
        body = run.body.encode()
        headers = request_headers(target, self._opened(target), body, run.id, utcnow())
        return await self._sender.post(target.url, body, headers)

    async def _send_bill(self, run: RunRow, target: DeliveryTarget) -> Sent:
        """The run's bill (its body), to the customer its account is mapped to in the system."""
        bill = orjson.loads(run.body)
        account_id = str(bill.get("accountId", ""))
        async with self.db.read() as conn:
            customer = await customer_id(
                conn, run.org_id, account_id, target.destination, run.config_id
            )
        if customer is None:
            return missing_mapping(account_id, target.destination)
        job = BillJob(
            bill=bill,
            customer_id=customer,
            credentials=orjson.loads(self._opened(target).current),
            config_data=target.config_data,
            idempotency_key=idempotency_key(run, bill),
        )
        return await send_bill(self._bill_connectors[target.destination], job)

    # ---- leases -------------------------------------------------------------------------

    async def _renew_leases_forever(self) -> None:
        period = self.lease.total_seconds() / RENEWALS_PER_LEASE
        while True:
            await asyncio.sleep(period)
            try:
                await self._renew_leases()
            except Exception:
                log.exception(
                    "renewing delivery leases failed; retrying",
                    **_batch_ids(list(self._holding.values())),
                )

    async def _renew_leases(self) -> None:
        if self._holding:
            now = self.now()
            async with self.db.write() as conn:
                await run_store.renew_leases(
                    conn, self.owner, list(self._holding), now + self.lease
                )

    # ---- recording results --------------------------------------------------------------

    async def _write_results(self) -> None:
        """The one writer of results; ends once stopping and every result is written."""
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            if not await self._flush_results():
                await asyncio.sleep(WRITE_RETRY_PAUSE_S)
                self._results_ready.set()
            elif self._closing and not self._results:
                return

    async def _flush_results(self) -> bool:
        """Write the pending results, a batch per transaction. A batch the store refuses is
        written one result at a time, and a result it refuses alone ends its run ERROR, so one
        bad result never holds back the others. False when even that failed (the store is
        likely down): the rest are kept for the next try."""
        while self._results:
            batch = self._results[:RESULT_BATCH]
            if await self._recorded(batch):
                del self._results[: len(batch)]
                continue
            for result in batch:
                if not (await self._recorded([result]) or await self._settled_unrecorded(result)):
                    return False
                del self._results[0]
        return True

    async def _recorded(self, batch: list[Result]) -> bool:
        now = self.now()
        try:
            async with self.db.write() as conn:
                await self._record(conn, batch, now)
        except Exception:
            log.exception(
                "recording delivery results failed",
                results=len(batch),
                **_batch_ids([r.run for r in batch]),
            )
            return False
        self._release(batch)
        self._schedule_retries(batch, now)
        return True

    async def _settled_unrecorded(self, result: Result) -> bool:
        try:
            async with self.db.write() as conn:
                now = self.now()
                await run_store.settle_without_attempt(
                    conn, result.run, status=RunStatus.ERROR, error=UNRECORDABLE, at=now
                )
                await self._set_aside(conn, result.run, UNRECORDABLE, now)
        except Exception:
            log.exception("settling an unrecordable delivery result failed", **result.run.log_ids())
            return False
        self._release([result])
        return True

    def _release(self, batch: list[Result]) -> None:
        for result in batch:
            self._holding.pop(result.run.id, None)

    def _schedule_retries(self, batch: list[Result], now: datetime) -> None:
        retries = [r.step.next_attempt_at for r in batch if r.step.next_attempt_at is not None]
        if retries:
            self._wake_at([min(retries)], now)

    async def _record(self, conn: AsyncConnection, batch: list[Result], now: datetime) -> None:
        """Write a batch of results, with the error events and alerts they raise."""
        raised: list[tuple[EventRow, Occurrence]] = []
        delivered: dict[str, str] = {}  # integration config id → a run of it delivered
        attempted = [r for r in batch if r.attempt_log is not None]
        for result in batch:
            if result.attempt_log is None:
                await run_store.settle_without_attempt(
                    conn,
                    result.run,
                    status=result.step.status,
                    error=result.step.error or "",
                    at=now,
                )
        await run_store.finish_attempts(
            conn,
            [
                run_store.FinishedAttempt(
                    r.run,
                    r.step.status,
                    r.step.next_attempt_at,
                    r.step.error,
                    r.attempt_log or {},
                    *_invoice(r.outcome),
                )
                for r in attempted
            ],
            now,
        )
        for result in attempted:
            if result.step.status == RunStatus.COMPLETE:
                delivered[result.run.config_id] = result.run.id
            elif result.step.status in FAILED_STATUSES:
                raised.extend(await self._failed_run(conn, result, now))
                if result.crash is not None:
                    await self._set_aside(conn, result.run, result.crash, now)
        recovered = await run_store.reset_failures(conn, delivered)
        # A warning (INTEGRATION_FAILING) shares its failed run's event.
        events = {event.id: event for event, _ in raised}
        await event_store.insert_events(conn, list(events.values()))
        await alerts.raise_alerts(conn, [alert for _, alert in raised], now)
        await _resolve_perform_errors(conn, recovered, delivered, now)

    async def _failed_run(
        self, conn: AsyncConnection, result: Result, now: datetime
    ) -> list[tuple[EventRow, Occurrence]]:
        """A run failed for good: its error event and alert; disable the integration when
        due (another event and alert)."""
        run, outcome = result.run, result.outcome
        reason = result.step.error or "delivery failed"
        name = outcome.final.event_name if outcome and outcome.final else PERFORM_ERROR
        failed = self._error_event(name, run, outcome, reason, now)
        raised = [(failed, _failure_alert(name, run, reason, failed.id))]
        failures = await run_store.count_failure(conn, run.org_id, run.config_id)
        if outcome is not None and outcome.gone:
            why = f"the receiver answered 410 Gone on run {run.id}"
        elif failures >= self.limits.auto_disable_after:
            why = f"{failures} consecutive runs failed (the last: {reason})"
        else:
            warn_after = self.limits.warn_after
            if warn_after is not None and failures >= warn_after:
                left = self.limits.auto_disable_after - failures
                warning = integration_failing(run.org_id, run.config_id, failures, left, failed.id)
                raised.append((failed, warning))
            return raised
        if await _disable_config(conn, run, why, now):
            ids = {**run.log_ids(), "configId": run.config_id}
            after_commit(conn, lambda: log.warning("integration disabled", why=why, **ids))
            disabled = self._error_event(DISABLED_ERROR, run, outcome, f"Disabled: {why}", now)
            raised.append(
                (disabled, integration_disabled(run.org_id, run.config_id, why, disabled.id))
            )
        return raised

    async def _set_aside(
        self, conn: AsyncConnection, run: RunRow, error: str, now: datetime
    ) -> None:
        """A run that ended ERROR through failures inside meterbell: its dead letter."""
        item = WorkItem(Worker.DELIVERER, run.org_id, run.id)
        await self.isolation.set_aside_now(
            conn, item, error, run.attempts + 1, now, log_ids=run.log_ids()
        )

    def _error_event(
        self,
        name: str,
        run: RunRow,
        outcome: AttemptOutcome | None,
        reason: str,
        now: datetime,
    ) -> EventRow:
        return EventRow(
            id=str(uuid.uuid4()),
            org_id=run.org_id,
            event_name=name,
            category=INTEGRATION_CATEGORY,
            event_time=now,
            m3ter_event=integration_error_data(
                config_id=run.config_id,
                entity_type=run.entity_type,
                entity_id=run.entity_id,
                destination=run.destination,
                destination_id=run.destination_id,
                run_id=run.id,
                url=run.url,
                attempts=run.attempts + 1,
                status_code=outcome.status_code if outcome else None,
                reason=reason,
            ),
            resource_id=run.config_id,
        )


def _invoice(outcome: AttemptOutcome | None) -> tuple[str | None, str | None]:
    """The id and URL of the invoice an attempt made, if it made one."""
    invoice = outcome.invoice if outcome else None
    return (invoice.external_id, invoice.url) if invoice else (None, None)


def _failure_alert(name: str, run: RunRow, reason: str, event_id: str) -> Occurrence:
    """The alert of a run failed for good with the error event `name`."""
    org_id, config_id = run.org_id, run.config_id
    if name == MISSING_MAPPING_ERROR:
        account_id = str(orjson.loads(run.body).get("accountId", ""))
        return missing_account_mapping(
            org_id, config_id, run.id, account_id, run.destination, event_id
        )
    if name == AUTHENTICATION_ERROR:
        return authentication_error(org_id, config_id, run.id, run.destination, reason, event_id)
    if name == VALIDATION_ERROR:
        return validation_error(org_id, config_id, run.id, run.destination, reason, event_id)
    return perform_error(org_id, config_id, run.id, run.url, reason, event_id)


def _not_sent(run: RunRow, target: DeliveryTarget | None, step: NextStep) -> Result:
    log.warning("webhook run not sent", status=step.status, error=step.error)
    return Result(run, target, step)


class StartSpacing:
    """Starts to a rate-limited destination, kept 1/rate apart in this process. The store's
    slots space them when they are handed out; after a stall (a long garbage collection, a
    busy loop), runs whose slots have passed are claimed together, and this spaces them again."""

    def __init__(self) -> None:
        self._next_start: dict[str, float] = {}

    async def turn(self, destination_id: str, per_second: float) -> None:
        """Wait for this start's turn (taken at once, so starts waiting together go in order)."""
        now = time.monotonic()
        start = max(now, self._next_start.get(destination_id, now))
        self._next_start[destination_id] = start + 1 / per_second
        if start > now:
            await asyncio.sleep(start - now)


def _batch_ids(runs: list[RunRow]) -> dict[str, list[str]]:
    """The ids a log line about several runs carries."""
    return {"orgIds": sorted({run.org_id for run in runs}), "runIds": [run.id for run in runs]}


def _count_attempt(run: RunRow, outcome: AttemptOutcome, answered: datetime) -> None:
    if not outcome.ok:
        DELIVERY_FAILED.inc()
        return
    DELIVERY_SUCCEEDED.inc()
    # A resent run (parent_run_id) is a person's doing, not the engine's delay; so is a
    # backfill's (its event may be days old).
    if run.event_time is not None and run.parent_run_id is None and not run.backfill:
        DELIVERY_SECONDS.observe((answered - as_utc(run.event_time)).total_seconds())


def _log_attempt(outcome: AttemptOutcome, step: NextStep, attempt_log: dict[str, Any]) -> None:
    facts = {"statusCode": outcome.status_code, "durationMs": attempt_log["durationMs"]}
    if outcome.ok:
        log.info("webhook delivered", **facts)
    elif step.next_attempt_at is not None:
        retry_at = isoformat(step.next_attempt_at)
        log.warning("webhook attempt failed", error=outcome.error, retryAt=retry_at, **facts)
    else:
        log.warning("webhook run failed", status=step.status, error=step.error, **facts)


async def _targets_for(
    conn: AsyncConnection, runs: list[RunRow]
) -> dict[str, DeliveryTarget | Exception]:
    """Current delivery targets of claimed runs, by integration configuration id; for a
    configuration whose target cannot be read, the error."""
    configs = await document_store.documents_by_id(
        conn, DocumentKind.INTEGRATION, {(run.org_id, run.config_id) for run in runs}
    )
    webhooks = await document_store.documents_by_id(
        conn,
        DocumentKind.WEBHOOK,
        {
            (run.org_id, str(configs[run.config_id].get("destinationId")))
            for run in runs
            if configs.get(run.config_id, {}).get("destinationId")
        },
    )
    targets: dict[str, DeliveryTarget | Exception] = {}
    for config_id, config in configs.items():
        try:
            if target := config_target(config, webhooks.get(str(config.get("destinationId")))):
                targets[config_id] = target
        except Exception as exc:
            targets[config_id] = exc
    return targets


async def _resolve_perform_errors(
    conn: AsyncConnection,
    recovered: list[tuple[str, str]],
    delivered: dict[str, str],
    now: datetime,
) -> None:
    """A run delivered by an integration that had failed runs ends its perform-error alert.
    Only integrations that had failures are looked at: a delivery costs no extra query."""
    for org_id, config_id in recovered:
        why = f"run {delivered[config_id]} of this integration was delivered."
        for alert_type in RESOLVED_BY_DELIVERY:
            await alerts.resolve_alerts(conn, org_id, alert_type, [config_id], why, now)


async def _disable_config(conn: AsyncConnection, run: RunRow, why: str, now: datetime) -> bool:
    """Turn the integration off (a new version), unless it already is."""
    config = await document_store.get_entity(
        conn, run.org_id, DocumentKind.INTEGRATION, run.config_id
    )
    if config is None or not config.get("enabled", True):
        return False
    version = int(config["version"])
    disabled = {
        **config,
        "enabled": False,
        "disabledReason": why,
        "version": version + 1,
        "dtLastModified": isoformat(now),
        "lastModifiedBy": SYSTEM_ACTOR,
    }
    return await document_store.replace_entity(
        conn, run.org_id, DocumentKind.INTEGRATION, disabled, expected_version=version
    )
