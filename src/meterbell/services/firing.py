"""A rule firing on an event: whether it fires, the Notification event it records, and one
integration run per integration configuration of the rule.

Shared by live dispatch (workers/dispatcher.py) and backfill (services/backfill.py), so a
backfilled firing is built exactly like a live one, only marked `backfill`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.calc import Calculation, compile_calculation
from meterbell.domain.clock import isoformat
from meterbell.domain.documents import DocumentKind
from meterbell.domain.integrations import (
    NOTIFICATION_ENTITY,
    WEBHOOK_DESTINATION,
    DeliveryTarget,
    RunStatus,
    config_target,
)
from meterbell.domain.notifications import NOTIFICATION_CATEGORY, notification_payload
from meterbell.store import documents as document_store
from meterbell.store.events import EventRow
from meterbell.store.runs import RunRow

COMPILED_CACHE_LIMIT = 10_000

Target = tuple[dict[str, Any], dict[str, Any] | None]  # (integration config, its webhook)


@dataclass(frozen=True)
class OrgRules:
    """One organization's active rules by event name, and the targets of each rule by id."""

    by_event: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    targets: Mapping[str, list[Target]] = field(default_factory=dict)


NO_RULES = OrgRules()


async def rule_targets(
    conn: AsyncConnection, org_ids: Collection[str]
) -> dict[str, dict[str, list[Target]]]:
    """The integration configurations (with their webhooks) of each rule, by organization
    and rule id."""
    targets: dict[str, dict[str, list[Target]]] = defaultdict(lambda: defaultdict(list))
    if not org_ids:
        return targets
    configs = await document_store.documents_of_orgs(conn, DocumentKind.INTEGRATION, org_ids)
    webhook_keys = {(o, str(c["destinationId"])) for o, c in configs if c.get("destinationId")}
    webhooks = await document_store.documents_by_id(conn, DocumentKind.WEBHOOK, webhook_keys)
    for org_id, config in configs:
        if config.get("entityType") == NOTIFICATION_ENTITY:
            webhook = webhooks.get(config.get("destinationId", ""))
            targets[org_id][config["entityId"]].append((config, webhook))
    return targets


async def load_rules(conn: AsyncConnection, org_ids: Iterable[str]) -> dict[str, OrgRules]:
    """The rules of each organization that has any."""
    orgs = set(org_ids)
    by_event: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for org_id, rule in await document_store.documents_of_orgs(conn, DocumentKind.RULE, orgs):
        if rule.get("active", True):
            by_event[org_id][rule["eventName"]].append(rule)
    targets = await rule_targets(conn, set(by_event))
    return {org_id: OrgRules(rules, targets[org_id]) for org_id, rules in by_event.items()}


class Calculations:
    """Compiled rule calculations, cached by (rule id, rule version)."""

    def __init__(self, limit: int = COMPILED_CACHE_LIMIT) -> None:
        self.limit = limit
        self._compiled: dict[tuple[str, int], Calculation] = {}

    def calculation(self, rule: Mapping[str, Any]) -> Calculation:
        key = (str(rule["id"]), int(rule["version"]))
        compiled = self._compiled.get(key)
        if compiled is None:
            if len(self._compiled) >= self.limit:
                self._compiled.clear()
            compiled = compile_calculation(rule["calculation"], mode="boolean")
            self._compiled[key] = compiled
        return compiled

    def fires(self, rule: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        """Whether the rule fires on an event (its `rule_context`); raises if it fails."""
        if rule.get("alwaysFireEvent"):
            return True
        return self.calculation(rule).evaluate(context) is True


def notification_event(
    event: EventRow, rule: Mapping[str, Any], now: datetime, *, backfill: bool = False
) -> EventRow:
    """The Notification event of `rule` firing on `event`."""
    return EventRow(
        id=str(uuid.uuid4()),
        org_id=event.org_id,
        event_name=event.event_name,
        category=NOTIFICATION_CATEGORY,
        event_time=now,
        m3ter_event=notification_payload(
            rule=rule,
            source_event_id=event.id,
            source_event_name=event.event_name,
            source_event_time=isoformat(event.event_time),
            source_m3ter_event=event.m3ter_event,
        ),
        resource_id=event.resource_id,
        account_id=event.account_id,
        notification_id=str(rule["id"]),
        notification_code=str(rule["code"]),
        dispatched_at=now,
        backfill=backfill,
    )


def new_run(
    event: EventRow,
    rule: Mapping[str, Any],
    config: Mapping[str, Any],
    target: DeliveryTarget | None,
    body: str,
    now: datetime,
    *,
    backfill: bool = False,
) -> RunRow:
    """A run sending a firing's body to one integration configuration: WAITING, or DISABLED
    when its destination is gone or closed."""
    run = RunRow(
        id=str(uuid.uuid4()),
        org_id=event.org_id,
        config_id=config["id"],
        entity_type=NOTIFICATION_ENTITY,
        entity_id=rule["id"],
        destination=target.destination if target else WEBHOOK_DESTINATION,
        destination_id=target.destination_id if target else str(config.get("destinationId")),
        event_id=event.id,
        status=RunStatus.WAITING,
        body=body,
        dt_created=now,
        next_attempt_at=now,
        event_time=event.event_time,
        backfill=backfill,
        lane=target.destination_id if target and target.ordered else None,
        event_seq=event.seq,
    )
    closed = "the webhook destination was deleted" if target is None else target.closed_reason
    if closed is not None:
        run.status, run.next_attempt_at, run.error, run.dt_completed = (
            RunStatus.DISABLED,
            None,
            f"Not sent: {closed}",
            now,
        )
    return run


@dataclass(frozen=True)
class Firing:
    notification: EventRow
    runs: list[tuple[RunRow, DeliveryTarget | None]]


def firing(
    event: EventRow,
    rule: Mapping[str, Any],
    targets: Iterable[Target],
    now: datetime,
    *,
    backfill: bool = False,
) -> Firing:
    """The Notification event of `rule` firing on `event`, and a run per target carrying it."""
    notification = notification_event(event, rule, now, backfill=backfill)
    body = orjson.dumps(notification.to_public()).decode()
    runs = []
    for config, webhook in targets:
        target = config_target(config, webhook)
        run = new_run(event, rule, config, target, body, now, backfill=backfill)
        runs.append((run, target))
    return Firing(notification, runs)
