"""Dead letters: items of work that kept failing inside meterbell and were set aside.

Each worker takes items (events, runs, scheduled-event targets, export schedules and jobs,
measurement submissions, retention purges). An item whose processing raises is counted; after
MB_MAX_ITEM_FAILURES failures it is set aside so it no longer holds anything back, and its dead
letter says which item, why, and how often it failed, until someone replays it.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from meterbell.domain.clock import isoformat

# Frames of the traceback kept with the error: the innermost, where it was raised.
KEPT_FRAMES = 5
MAX_ERROR_CHARS = 4000


class Worker(StrEnum):
    DISPATCHER = "dispatcher"
    DELIVERER = "deliverer"
    SCHEDULER = "scheduler"
    EXPORT_SCHEDULER = "export-scheduler"
    EXPORTER = "exporter"
    INGEST = "ingest"
    RETENTION = "retention"
    BACKFILL = "backfill"

    @property
    def item_key(self) -> str:
        """The key naming this worker's items in log lines: `eventId` for the dispatcher's
        events, `runId` for the deliverer's runs, and so on."""
        return ITEM_KEYS[self]


ITEM_KEYS: dict[Worker, str] = {
    Worker.DISPATCHER: "eventId",
    Worker.DELIVERER: "runId",
    Worker.SCHEDULER: "scheduledTargetSeq",
    Worker.EXPORT_SCHEDULER: "exportScheduleId",
    Worker.EXPORTER: "exportJobId",
    Worker.INGEST: "submissionSeq",
    Worker.RETENTION: "purge",
    Worker.BACKFILL: "backfillJobId",
}


@dataclass(frozen=True)
class WorkItem:
    """One item a worker processes: whose, and its id in the worker's own table."""

    worker: Worker
    org_id: str | None
    item_id: str


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    id: str
    org_id: str | None
    worker: Worker
    item_id: str
    error: str
    payload: str | None
    attempts: int
    dt_created: datetime
    dt_last_failed: datetime
    dt_set_aside: datetime | None
    dt_replayed: datetime | None
    replayed_by: str | None

    @property
    def item(self) -> WorkItem:
        return WorkItem(self.worker, self.org_id, self.item_id)


def error_summary(error: BaseException) -> str:
    """The error and where it was raised: its message, then the innermost frames."""
    message = f"{type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__)[-KEPT_FRAMES:]
    where = "".join(traceback.format_list(frames))
    text = f"{message}\n{where}" if where else message
    return text[:MAX_ERROR_CHARS]


def public_dead_letter(letter: DeadLetter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "worker": letter.worker,
        "itemId": letter.item_id,
        "error": letter.error,
        "attempts": letter.attempts,
        "dtCreated": isoformat(letter.dt_created),
        "dtLastFailed": isoformat(letter.dt_last_failed),
        "dtSetAside": isoformat(letter.dt_set_aside) if letter.dt_set_aside else None,
        "dtReplayed": isoformat(letter.dt_replayed) if letter.dt_replayed else None,
        "replayedBy": letter.replayed_by,
    }
