"""The Prometheus exposition: this process's counters, and gauges read from the store."""

from __future__ import annotations

import hmac

from prometheus_client import generate_latest

from meterbell.domain.alerts import Severity
from meterbell.domain.clock import as_utc, utcnow
from meterbell.domain.errors import Unauthorized
from meterbell.domain.integrations import UNFINISHED_STATUSES
from meterbell.metrics import ALERTS_OPEN, DISPATCH_LAG, REGISTRY, RUNS
from meterbell.store import alerts as alert_store
from meterbell.store import events as event_store
from meterbell.store import runs as run_store
from meterbell.store.db import Database


def check_scraper(expected_token: str, authorization: str) -> None:
    """With MB_METRICS_TOKEN set, a scraper must send `Authorization: Bearer <token>`."""
    if not expected_token:
        return
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), expected_token):
        raise Unauthorized("Send 'Authorization: Bearer <MB_METRICS_TOKEN>' to read /metrics")


async def exposition(db: Database) -> bytes:
    """Every series, in the Prometheus text format, with the store's gauges read now."""
    async with db.read() as conn:
        runs = await run_store.unfinished_by_status(conn)
        oldest = await event_store.oldest_undispatched_time(conn)
        open_alerts = await alert_store.count_open(conn)
    for status in UNFINISHED_STATUSES:
        RUNS.labels(status=status).set(runs.get(status, 0))
    DISPATCH_LAG.set(max((utcnow() - as_utc(oldest)).total_seconds(), 0.0) if oldest else 0.0)
    for severity in Severity:
        count = sum(n for (of, _status), n in open_alerts.items() if of == severity)
        ALERTS_OPEN.labels(severity=severity).set(count)
    return generate_latest(REGISTRY)
