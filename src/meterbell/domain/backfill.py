"""Backfill: a rule's current calculation over the stored events of a window (an extension:
not in m3ter). What a backfill job says about itself."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from meterbell.domain.clock import isoformat

FIRST_EVENT_IDS = 100  # a job lists the ids of its first matches, up to this many


class BackfillStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


def public_backfill(job: Any) -> dict[str, Any]:
    """A backfill job (store/backfill.py BackfillJob) as the API returns it."""
    return {
        "id": job.id,
        "ruleId": job.rule_id,
        "ruleVersion": job.rule_version,
        "since": isoformat(job.since),
        "until": isoformat(job.until),
        "dryRun": job.dry_run,
        "status": job.status,
        "evaluated": job.evaluated,
        "matched": job.matched,
        "created": job.created,
        "alreadyBackfilled": job.already_backfilled,
        "failedEvaluations": job.failed,
        "eventIds": list(job.event_ids),
        "error": job.error,
        "dtCreated": isoformat(job.dt_created),
        "dtCompleted": isoformat(job.dt_completed) if job.dt_completed else None,
    }
