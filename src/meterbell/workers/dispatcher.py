"""The dispatcher: event → matching rules → firings → integration runs.

It takes undispatched events oldest first, evaluates every active rule of each event's type
exactly once, and in the same transaction records a Notification event per firing, one
integration run per integration configuration of the rule, any evaluation errors, and marks
the events dispatched. Runs it can deliver at once are handed straight to the in-process
deliverer (already leased to it), so a firing reaches the receiver without another claim.

A rule that fails on an event (its calculation raises, or its firing cannot be recorded) is
recorded as that rule's evaluation error; the event's other rules still run. A batch that
raises anyway is dispatched again one event at a time (workers/isolation.py): an event that
keeps failing is set aside (marked dispatched, with a dead letter), never holding back others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.alerts import Occurrence, evaluation_error, is_evaluation_alert_change
from meterbell.domain.clock import utcnow
from meterbell.domain.deadletters import Worker, WorkItem
from meterbell.domain.integrations import DeliveryTarget, RunStatus
from meterbell.domain.notifications import rule_context
from meterbell.metrics import RULES_FAILED, RULES_FIRED, RULES_NOT_FIRED
from meterbell.services import alerts
from meterbell.services.firing import NO_RULES, Calculations, OrgRules, firing, load_rules
from meterbell.store import documents as document_store
from meterbell.store import events as event_store
from meterbell.store import runs as run_store
from meterbell.store.db import Database
from meterbell.store.events import EventRow
from meterbell.store.runs import RunRow
from meterbell.workers.isolation import Isolation

log = structlog.get_logger(__name__)

BATCH_SIZE = 200
RULES_CACHE_ORGS = 10_000


class RunReceiver(Protocol):
    """The in-process deliverer, as the dispatcher sees it."""

    owner: str
    lease: timedelta

    def accepts(self, destination_id: str) -> bool: ...

    def take(self, runs: list[tuple[RunRow, DeliveryTarget]]) -> None: ...


@dataclass
class Firings:
    """What one batch of events produced."""

    notifications: list[EventRow] = field(default_factory=list)
    runs: list[tuple[RunRow, DeliveryTarget | None]] = field(default_factory=list)
    rule_errors: list[dict[str, Any]] = field(default_factory=list)
    evaluations: int = 0

    def count(self) -> None:
        """Add this batch's rule evaluations to the metrics (once it has committed)."""
        fired, failed = len(self.notifications), len(self.rule_errors)
        RULES_FIRED.inc(fired)
        RULES_FAILED.inc(failed)
        RULES_NOT_FIRED.inc(self.evaluations - fired - failed)


class RulesCache:
    """Each organization's rules as last loaded, kept while its delivery configuration
    revision (bumped by every write to its rules, integrations and webhooks, by any process)
    stays the same: a batch costs one small query instead of three that read every rule."""

    def __init__(self, limit: int = RULES_CACHE_ORGS) -> None:
        self.limit = limit
        self._cached: dict[str, tuple[int | None, OrgRules]] = {}

    async def rules_of(self, conn: AsyncConnection, org_ids: set[str]) -> dict[str, OrgRules]:
        # The revision is read before the rules: what is cached is never older than its tag.
        revisions = await document_store.delivery_config_revision(conn, org_ids)
        current: dict[str, OrgRules] = {}
        for org_id in org_ids:
            cached = self._cached.get(org_id)
            if cached is not None and cached[0] == revisions.get(org_id):
                current[org_id] = cached[1]
        stale = org_ids - current.keys()
        if stale:
            loaded = await load_rules(conn, stale)
            if len(self._cached) + len(stale) > self.limit:
                self._cached.clear()
            for org_id in stale:
                current[org_id] = loaded.get(org_id, NO_RULES)
                self._cached[org_id] = (revisions.get(org_id), current[org_id])
        return current


class Dispatcher:
    def __init__(
        self,
        db: Database,
        *,
        batch_size: int = BATCH_SIZE,
        now: Callable[[], datetime] = utcnow,
        receiver: RunReceiver | None = None,
        isolation: Isolation | None = None,
    ) -> None:
        self.db = db
        self.batch_size = batch_size
        self.now = now
        self.receiver = receiver
        self.isolation = isolation or Isolation(db, now=now)
        self._calculations = Calculations()
        self._rules = RulesCache()

    async def step(self) -> bool:
        """Dispatch one batch; True when the batch was full (more may be waiting)."""
        return await self.isolation.step(self._dispatch_batch, self._dispatch_alone, _set_aside)

    async def _dispatch_batch(self, taken: list[WorkItem]) -> bool:
        return await self._dispatch(taken, limit=self.batch_size) == self.batch_size

    async def _dispatch_alone(self, item: WorkItem) -> None:
        await self._dispatch([], limit=1, event_id=item.item_id)

    async def _dispatch(
        self, taken: list[WorkItem], *, limit: int, event_id: str | None = None
    ) -> int:
        """Dispatch the oldest undispatched events (or the one with `event_id`); how many there
        were."""
        now = self.now()
        async with self.db.write() as conn:
            batch = await event_store.undispatched_events(conn, limit, event_id=event_id)
            taken.extend(WorkItem(Worker.DISPATCHER, e.org_id, e.id) for e in batch)
            if not batch:
                return 0
            rules = await self._rules.rules_of(conn, {event.org_id for event in batch})
            firings = self._fire(batch, rules, now)
            await event_store.insert_events(conn, firings.notifications)
            await run_store.insert_runs(conn, [run for run, _ in firings.runs])
            await event_store.insert_rule_errors(conn, firings.rule_errors)
            await alerts.raise_alerts(conn, _rule_error_alerts(batch, firings.rule_errors), now)
            await event_store.mark_dispatched(conn, [event.seq for event in batch], now)
        firings.count()
        _log_not_sent(firings.runs)
        self._hand_over(firings)
        return len(batch)

    def _hand_over(self, firings: Firings) -> None:
        leased = [
            (run, target)
            for run, target in firings.runs
            if run.lease_owner is not None and target is not None
        ]
        if leased and self.receiver is not None:
            self.receiver.take(leased)

    def _fire(self, batch: list[EventRow], rules: Mapping[str, OrgRules], now: datetime) -> Firings:
        firings = Firings()
        for event in batch:
            org_rules = rules[event.org_id]
            matching = org_rules.by_event.get(event.event_name, ())
            context = rule_context(event.m3ter_event) if matching else {}
            firings.evaluations += len(matching)
            for rule in matching:
                try:  # one rule's failure never stops the event's other rules
                    if self._calculations.fires(rule, context):
                        self._record_firing(firings, event, rule, org_rules, now)
                except Exception as exc:
                    firings.rule_errors.append(_rule_error(event, rule, exc, now))
        return firings

    def _record_firing(
        self,
        firings: Firings,
        event: EventRow,
        rule: Mapping[str, Any],
        rules: OrgRules,
        now: datetime,
    ) -> None:
        fired = firing(event, rule, rules.targets.get(rule["id"], ()), now)
        for run, target in fired.runs:
            if target is not None and not target.in_lane:
                self._lease_to_receiver(run, now)
        firings.notifications.append(fired.notification)
        firings.runs.extend(fired.runs)

    def _lease_to_receiver(self, run: RunRow, now: datetime) -> None:
        """A waiting run the in-process deliverer can take goes to it already leased."""
        if (
            run.status == RunStatus.WAITING
            and self.receiver is not None
            and self.receiver.accepts(run.destination_id)
        ):
            run.status, run.lease_owner = RunStatus.STARTED, self.receiver.owner
            run.next_attempt_at, run.dt_started = now + self.receiver.lease, now


def _log_not_sent(runs: list[tuple[RunRow, DeliveryTarget | None]]) -> None:
    """Runs made DISABLED (their destination closed or gone) are never sent: say so."""
    for run, _ in runs:
        if run.status == RunStatus.DISABLED:
            log.warning("webhook run not sent", **run.log_ids(), status=run.status, error=run.error)


def _rule_error(
    event: EventRow, rule: Mapping[str, Any], error: Exception, now: datetime
) -> dict[str, Any]:
    log.warning(
        "rule evaluation failed",
        orgId=event.org_id,
        eventId=event.id,
        ruleId=str(rule["id"]),
        error=str(error),
    )
    return {
        "org_id": event.org_id,
        "rule_id": str(rule["id"]),
        "rule_version": int(rule["version"]),
        "event_id": event.id,
        "error": str(error),
        "dt_created": now,
    }


def _rule_error_alerts(
    batch: list[EventRow], rule_errors: list[dict[str, Any]]
) -> list[Occurrence]:
    """An alert occurrence per rule error, except on changes of evaluation-error alerts."""
    if not rule_errors:
        return []
    events = {event.id: event for event in batch}
    occurrences = []
    for error in rule_errors:
        event = events[error["event_id"]]
        if not is_evaluation_alert_change(event.event_name, event.m3ter_event):
            occurrences.append(
                evaluation_error(
                    event.org_id, error["rule_id"], event.event_name, error["error"], event.id
                )
            )
    return occurrences


async def _set_aside(
    conn: AsyncConnection, item: WorkItem, reason: str, now: datetime
) -> str | None:
    """An event that keeps failing is marked dispatched: no rule fires on it until replayed."""
    assert item.org_id is not None
    await event_store.set_dispatched(conn, item.org_id, item.item_id, now)
    return None
