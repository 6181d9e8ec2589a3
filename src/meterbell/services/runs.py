"""Integration runs: reading them, their attempt logs, re-sending a finished one, and
recovering a destination's failed runs after an outage."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from meterbell.domain.clock import as_utc, isoformat, utcnow
from meterbell.domain.errors import Conflict, InvalidRequest, NotFound
from meterbell.domain.integrations import FINAL_STATUSES, RunStatus
from meterbell.domain.listing import choice_param
from meterbell.domain.pagination import Page, continue_before, page_from_rows
from meterbell.domain.windows import window_of
from meterbell.services import webhooks
from meterbell.store import lanes as lane_store
from meterbell.store import runs as run_store
from meterbell.store.db import Database

MAX_PAGE_SIZE = 200
# What recovery sends again, and how many runs one call sends at most.
RECOVERABLE = (RunStatus.ERROR, RunStatus.DISABLED)
RECOVER_BATCH = 10_000


def _time(value: datetime | None) -> str | None:
    return isoformat(value) if value else None


def public_run(run: run_store.RunRow) -> dict[str, Any]:
    """A run as the API returns it; `externalId` only on a Bill run that made an invoice (its
    `url` is then the invoice's); `backfill` only on a backfill's runs (an extension)."""
    public = {
        "id": run.id,
        "entityType": run.entity_type,
        "entityId": run.entity_id,
        "destination": run.destination,
        "destinationId": run.destination_id,
        "integrationConfigId": run.config_id,
        "eventId": run.event_id,
        "status": run.status,
        "attempts": run.attempts,
        "nextAttemptAt": _time(run.next_attempt_at) if run.status not in FINAL_STATUSES else None,
        "url": run.url,
        "error": run.error,
        "parentIntegrationRunId": run.parent_run_id,
        "dtCreated": _time(run.dt_created),
        "dtStarted": _time(run.dt_started),
        "dtCompleted": _time(run.dt_completed),
    }
    if run.external_id is not None:
        public["externalId"] = run.external_id
    if run.backfill:
        public["backfill"] = True
    return public


def _date_param(query: Mapping[str, Sequence[str]], name: str) -> datetime | None:
    raw = query.get(name, [""])[-1]
    if not raw:
        return None
    try:
        return as_utc(datetime.fromisoformat(raw))
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be an ISO-8601 date or date-time (got '{raw}')") from exc


def _order_param(query: Mapping[str, Sequence[str]]) -> bool:
    """True for `order=ASC` (oldest first); the default, `DESC`, is newest first."""
    order = query.get("order", [""])[-1].upper()
    if order not in ("", "ASC", "DESC"):
        raise InvalidRequest(f"order must be ASC or DESC (got '{order}')")
    return order == "ASC"


def run_query(
    query: Mapping[str, Sequence[str]],
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    destination_id: str | None = None,
) -> run_store.RunQuery:
    return run_store.RunQuery(
        entity_type=entity_type,
        entity_ids=None if entity_id is None else (entity_id,),
        destination_id=destination_id,
        status=choice_param(query, "status", RunStatus),
        start=_date_param(query, "startDate"),
        end=_date_param(query, "endDate"),
        oldest_first=_order_param(query),
    )


async def list_runs(
    db: Database,
    org_id: str,
    filters: run_store.RunQuery,
    query: Mapping[str, Sequence[str]],
    *,
    page_size: int,
) -> Page:
    after = continue_before(query)
    async with db.read() as conn:
        rows = await run_store.list_runs(
            conn, org_id, filters, after_seq=after, limit=page_size + 1
        )
    return page_from_rows([(row.seq, public_run(row)) for row in rows], page_size)


async def _run(db: Database, org_id: str, run_id: str) -> run_store.RunRow:
    async with db.read() as conn:
        run = await run_store.get_run(conn, org_id, run_id)
    if run is None:
        raise NotFound(f"No integration run with id {run_id} in this organization")
    return run


async def get_run(db: Database, org_id: str, run_id: str) -> dict[str, Any]:
    return public_run(await _run(db, org_id, run_id))


async def latest_run(
    db: Database, org_id: str, entity_type: str, entity_ids: Sequence[str]
) -> dict[str, Any]:
    """The newest run for any of `entity_ids` (m3ter answers one run, even for many ids)."""
    if not entity_ids:
        raise InvalidRequest("ids is required: pass the ids of the entities, e.g. ids=a,b")
    filters = run_store.RunQuery(entity_type=entity_type, entity_ids=tuple(entity_ids))
    async with db.read() as conn:
        rows = await run_store.list_runs(conn, org_id, filters, after_seq=None, limit=1)
    if not rows:
        raise NotFound(f"No integration runs for {entity_type} {', '.join(entity_ids)}")
    return public_run(rows[0])


async def run_with_attempts(
    db: Database, org_id: str, run_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run and every attempt made for it, oldest first."""
    run = await _run(db, org_id, run_id)
    async with db.read() as conn:
        attempts = await run_store.attempt_logs(conn, run.id)
    return public_run(run), attempts


async def run_log(db: Database, org_id: str, run_id: str) -> dict[str, str]:
    """`{"Payload": base64(JSON)}`: the run and every attempt made for it."""
    run, attempts = await run_with_attempts(db, org_id, run_id)
    log = {"run": run, "attempts": attempts}
    return {"Payload": base64.b64encode(orjson.dumps(log)).decode()}


def _again(old: run_store.RunRow, now: datetime, ordered: set[str]) -> run_store.RunRow:
    """A new run that sends `old`'s payload again and points back at it (in its
    destination's lane when that is one of the `ordered`)."""
    return run_store.RunRow(
        id=str(uuid.uuid4()),
        org_id=old.org_id,
        config_id=old.config_id,
        entity_type=old.entity_type,
        entity_id=old.entity_id,
        destination=old.destination,
        destination_id=old.destination_id,
        event_id=old.event_id,
        status=RunStatus.WAITING,
        body=old.body,
        dt_created=now,
        next_attempt_at=now,
        parent_run_id=old.id,
        lane=old.destination_id if old.destination_id in ordered else None,
        event_seq=old.event_seq,
    )


async def resend(db: Database, org_id: str, run_id: str) -> dict[str, Any]:
    """Queue a finished run's payload again, as a new run pointing back at the old one."""
    old = await _run(db, org_id, run_id)
    if old.status not in FINAL_STATUSES:
        raise Conflict(f"Run {run_id} is still {old.status}: only finished runs can be resent")
    async with db.write() as conn:
        ordered = await lane_store.ordered_destinations(conn, {old.destination_id})
        new = _again(old, utcnow(), ordered)
        await run_store.insert_runs(conn, [new])
    return public_run(new)


async def recover(db: Database, org_id: str, destination_id: str, body: object) -> dict[str, Any]:
    """Send again every run to the webhook destination that ended ERROR or DISABLED within
    the body's window and was not sent again already, up to RECOVER_BATCH per call:
    `{"runs": N, "more": …}`, `more` true when the same call should be made again for the
    rest."""
    window = window_of(body)
    await webhooks.get_webhook(db, org_id, destination_id)  # NotFound unless the org's own
    async with db.write() as conn:
        failed = await run_store.unrecovered_runs(
            conn, org_id, destination_id, RECOVERABLE, window, RECOVER_BATCH + 1
        )
        now = utcnow()
        ordered = await lane_store.ordered_destinations(conn, {destination_id})
        again = [_again(run, now, ordered) for run in failed[:RECOVER_BATCH]]
        await run_store.insert_runs(conn, again)
    return {"runs": min(len(failed), RECOVER_BATCH), "more": len(failed) > RECOVER_BATCH}
