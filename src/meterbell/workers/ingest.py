"""The ingest validator: m3ter's asynchronous enrichment stage.

It takes accepted submissions from the inbox, oldest first, up to a batch of measurements, and
in one transaction per batch checks each measurement against its meter (`UndefinedMeter`,
`DuplicateField`, `MissingField`), its account (unknown codes get a skeleton account unless
`InvalidAccountCode`) and its uid (`DuplicateUid` within 35 days), computes the derived fields
(`CalculationError`: stored without the failed field), stores the valid measurements, and
raises an `ingest.validation.failure` event per failure. Meter plans (derived calculations
compiled) are cached per meter version.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.alerts import Occurrence, ingest_failure
from meterbell.domain.catalog import EntitySpec, entity_by_name
from meterbell.domain.clock import utcnow
from meterbell.domain.documents import SYSTEM_ACTOR, DocumentKind
from meterbell.domain.measurements import (
    CALCULATION_ERROR,
    DUPLICATE_UID,
    INGEST_FAILURE,
    INGEST_FAILURE_CATEGORY,
    INVALID_ACCOUNT_CODE,
    UID_WINDOW,
    UNDEFINED_METER,
    UNEXPECTED_ERROR,
    Failure,
    Measurement,
    autocreated_account,
    data_values,
    derived_values,
    failure_event_data,
    readable_measurements,
    submitted_measurements,
    uncreatable_accounts,
    unexpected_error_reason,
    utc_timestamp,
)
from meterbell.domain.meters import MeterPlan, meter_plan
from meterbell.services import alerts
from meterbell.store import documents as document_store
from meterbell.store import events as event_store
from meterbell.store import ingest as ingest_store
from meterbell.store.db import Database
from meterbell.store.events import EventRow

log = structlog.get_logger(__name__)

BATCH_SIZE = 2000
PLAN_CACHE_ORGS = 10_000

# Creates an entity inside the caller's transaction, with its event, as an API create does
# (services.entities.create_in, handed down by whoever starts the workers).
CreateEntity = Callable[
    [AsyncConnection, str, EntitySpec, Mapping[str, Any], str], Awaitable[Mapping[str, Any]]
]


@dataclass(slots=True)
class Candidate:
    """A measurement that has passed the checks so far."""

    item: Measurement
    received_at: datetime
    plan: MeterPlan
    values: dict[str, Any]


@dataclass
class Outcome:
    """What one batch produced."""

    measurements: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    alerts: list[Occurrence] = field(default_factory=list)


def _by_org(
    submissions: Sequence[ingest_store.Submission],
) -> dict[str, list[tuple[Measurement, datetime]]]:
    """Each organization's measurements with their acceptance time, in submission order."""
    grouped: dict[str, list[tuple[Measurement, datetime]]] = {}
    for submission in submissions:
        items = grouped.setdefault(submission.org_id, [])
        items.extend(
            (item, submission.received_at) for item in submitted_measurements(submission.body)
        )
    return grouped


class IngestValidator:
    def __init__(
        self,
        db: Database,
        create_entity: CreateEntity,
        *,
        batch_size: int = BATCH_SIZE,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.create_entity = create_entity
        self.batch_size = batch_size
        self.now = now
        self._plans: dict[str, dict[str, MeterPlan]] = {}
        self._account_spec = entity_by_name("account")
        self._last_taken = 0  # submissions the last batch took
        self._one_at_a_time = 0  # submissions still to take alone, after a failed batch

    async def step(self) -> bool:
        """Validate one batch; True when there was one (more may be waiting).

        A batch that fails for a reason other than the database's rolls back whole, so one
        submission the validator cannot handle would stop the inbox for good. After such a
        failure, the submissions of that batch are taken one at a time, and one that fails
        alone is set aside (`_set_aside`): its measurements become failures, not lost.
        """
        alone = self._one_at_a_time > 0
        try:
            taken = await self._validate_batch(1 if alone else self.batch_size)
        except DBAPIError:
            raise  # the store's trouble, not the submissions': retried as they are
        except Exception as exc:
            if not alone:
                self._one_at_a_time = self._last_taken
                raise
            await self._set_aside(exc)
            taken = 1
        if alone:
            self._one_at_a_time -= 1
        await asyncio.sleep(0)  # let the dispatcher, the deliverer and requests have a turn
        return taken > 0

    async def _validate_batch(self, max_items: int) -> int:
        """Validate the oldest submissions, up to `max_items` measurements (at least one
        submission), in one transaction; how many submissions there were."""
        now = self.now()
        outcome = Outcome()
        async with self.db.write() as conn:
            submissions = await ingest_store.take_submissions(conn, max_items)
            self._last_taken = len(submissions)
            for org_id, entries in _by_org(submissions).items():
                await self._validate(conn, org_id, entries, now, outcome)
            await ingest_store.insert_measurements(conn, outcome.measurements)
            await ingest_store.insert_failures(conn, outcome.failures)
            await event_store.insert_events(conn, outcome.events)
            await alerts.raise_alerts(conn, outcome.alerts, now)
        return len(submissions)

    async def _set_aside(self, error: Exception) -> None:
        """Take the oldest submission, which failed alone with `error`, out of the inbox and
        record each of its measurements as an `UnexpectedError` failure (with its event)."""
        log.error("ingest submission set aside", exc_info=error)
        now = self.now()
        outcome = Outcome()
        reason = unexpected_error_reason(error)
        async with self.db.write() as conn:
            for submission in await ingest_store.take_submissions(conn, 1):
                for item in readable_measurements(submission.body):
                    self._fail(
                        submission.org_id, item, Failure(UNEXPECTED_ERROR, reason), now, outcome
                    )
            await ingest_store.insert_failures(conn, outcome.failures)
            await event_store.insert_events(conn, outcome.events)
            await alerts.raise_alerts(conn, outcome.alerts, now)

    async def _validate(
        self,
        conn: AsyncConnection,
        org_id: str,
        entries: list[tuple[Measurement, datetime]],
        now: datetime,
        outcome: Outcome,
    ) -> None:
        plans = await self._meter_plans(conn, org_id)
        candidates = [
            candidate
            for item, received_at in entries
            if (candidate := self._against_meter(org_id, item, received_at, plans, now, outcome))
        ]
        account_ids = await self._account_ids(conn, org_id, candidates, now, outcome)
        candidates = [c for c in candidates if c.item["account"] in account_ids]
        candidates = await self._first_uses(conn, org_id, candidates, now, outcome)
        await self._create_accounts(conn, org_id, candidates, account_ids)
        for candidate in candidates:
            self._ingest(org_id, candidate, account_ids[candidate.item["account"]], now, outcome)

    # -- meters ---------------------------------------------------------------------------------

    async def _meter_plans(self, conn: AsyncConnection, org_id: str) -> dict[str, MeterPlan]:
        """The organization's meters by code, compiled once per meter version."""
        versions = await ingest_store.meter_versions(conn, org_id)
        cached = self._plans.get(org_id, {})
        stale = [
            meter_id
            for code, (meter_id, version) in versions.items()
            if (plan := cached.get(code)) is None or (plan.id, plan.version) != (meter_id, version)
        ]
        fresh = await document_store.documents_by_id(
            conn, DocumentKind.METER, [(org_id, meter_id) for meter_id in stale]
        )
        plans = {
            code: meter_plan(fresh[meter_id]) if meter_id in fresh else cached[code]
            for code, (meter_id, _) in versions.items()
        }
        if len(self._plans) >= PLAN_CACHE_ORGS:
            self._plans.clear()
        self._plans[org_id] = plans
        return plans

    def _against_meter(
        self,
        org_id: str,
        item: Measurement,
        received_at: datetime,
        plans: Mapping[str, MeterPlan],
        now: datetime,
        outcome: Outcome,
    ) -> Candidate | None:
        plan = plans.get(item["meter"])
        if plan is None:
            reason = f"no meter has code '{item['meter']}' in this organization"
            self._fail(org_id, item, Failure(UNDEFINED_METER, reason), now, outcome)
            return None
        values = data_values(item, plan)
        if isinstance(values, Failure):
            self._fail(org_id, item, values, now, outcome, meter_id=plan.id)
            return None
        return Candidate(item, received_at, plan, values)

    # -- accounts -------------------------------------------------------------------------------

    async def _account_ids(
        self,
        conn: AsyncConnection,
        org_id: str,
        candidates: Sequence[Candidate],
        now: datetime,
        outcome: Outcome,
    ) -> dict[str, str]:
        """`{code: id}` of existing accounts, and `{code: ""}` for accounts to create; the
        measurements of codes that can have neither fail with InvalidAccountCode."""
        codes = list(dict.fromkeys(c.item["account"] for c in candidates))
        ids = await ingest_store.account_ids(conn, org_id, codes) if codes else {}
        unknown = [code for code in codes if code not in ids]
        if not unknown:
            return ids
        existing = await ingest_store.account_codes_folded(
            conn, org_id, {c.lower() for c in unknown}
        )
        problems = uncreatable_accounts(unknown, existing)
        for candidate in candidates:
            if reason := problems.get(candidate.item["account"]):
                failure = Failure(INVALID_ACCOUNT_CODE, reason)
                self._fail(
                    org_id, candidate.item, failure, now, outcome, meter_id=candidate.plan.id
                )
        return {**ids, **{code: "" for code in unknown if code not in problems}}

    async def _create_accounts(
        self,
        conn: AsyncConnection,
        org_id: str,
        candidates: Sequence[Candidate],
        account_ids: dict[str, str],
    ) -> None:
        """Skeleton accounts for the unknown codes of measurements that will be ingested."""
        for code in dict.fromkeys(c.item["account"] for c in candidates):
            if not account_ids[code]:
                account = await self.create_entity(
                    conn, org_id, self._account_spec, autocreated_account(code), SYSTEM_ACTOR
                )
                account_ids[code] = str(account["id"])

    # -- uids -----------------------------------------------------------------------------------

    async def _first_uses(
        self,
        conn: AsyncConnection,
        org_id: str,
        candidates: list[Candidate],
        now: datetime,
        outcome: Outcome,
    ) -> list[Candidate]:
        """The candidates whose uid (if any) is not a repeat within the uid window."""
        first: dict[str, Candidate] = {}
        repeats: list[Candidate] = []
        for candidate in candidates:
            uid = candidate.item.get("uid")
            if not uid:
                continue
            if uid in first:
                repeats.append(candidate)
            else:
                first[uid] = candidate
        fresh = await ingest_store.claim_uids(conn, org_id, list(first), now, now - UID_WINDOW)
        repeats += [candidate for uid, candidate in first.items() if uid not in fresh]
        for candidate in repeats:
            reason = (
                f"a measurement with uid '{candidate.item['uid']}' was already ingested in the "
                f"last {UID_WINDOW.days} days"
            )
            failure = Failure(DUPLICATE_UID, reason)
            self._fail(org_id, candidate.item, failure, now, outcome, meter_id=candidate.plan.id)
        dropped = {id(candidate) for candidate in repeats}
        return [candidate for candidate in candidates if id(candidate) not in dropped]

    # -- results --------------------------------------------------------------------------------

    def _ingest(
        self, org_id: str, candidate: Candidate, account_id: str, now: datetime, outcome: Outcome
    ) -> None:
        item, plan = candidate.item, candidate.plan
        derived, problems = derived_values(candidate.values, plan)
        if problems:
            failure = Failure(CALCULATION_ERROR, "; ".join(problems))
            self._fail(org_id, item, failure, now, outcome, meter_id=plan.id, account_id=account_id)
        ets = item.get("ets")
        outcome.measurements.append(
            {
                "org_id": org_id,
                "meter_id": plan.id,
                "account_id": account_id,
                "ts": utc_timestamp(item["ts"]),
                "ets": utc_timestamp(ets) if ets is not None else None,
                "uid": item.get("uid"),
                "received_at": candidate.received_at,
                "fields": {**candidate.values, **derived} if derived else candidate.values,
            }
        )

    def _fail(
        self,
        org_id: str,
        item: Measurement,
        failure: Failure,
        now: datetime,
        outcome: Outcome,
        *,
        meter_id: str | None = None,
        account_id: str | None = None,
    ) -> None:
        failure_id = str(uuid.uuid4())
        outcome.failures.append(
            {
                "id": failure_id,
                "org_id": org_id,
                "type": failure.type,
                "reason": failure.reason,
                "measurement": item,
                "dt_created": now,
            }
        )
        event = EventRow(
            id=str(uuid.uuid4()),
            org_id=org_id,
            event_name=INGEST_FAILURE,
            category=INGEST_FAILURE_CATEGORY,
            event_time=now,
            m3ter_event=failure_event_data(failure, item, failure_id),
            resource_id=meter_id,
            account_id=account_id,
        )
        outcome.events.append(event)
        meter_code = str(item.get("meter") or "")
        outcome.alerts.append(ingest_failure(org_id, meter_id, meter_code, failure, event.id))
