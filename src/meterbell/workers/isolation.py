"""Fault isolation, shared by every worker: an item whose processing raises never holds back
the others.

A worker processes a batch of items in one transaction. When that raises, the transaction rolls
back whole, and the worker processes the batch's items again one at a time, each in its own
transaction, so the good ones go through. An item that raises alone has its failure counted in
the store (its `dead_letters` row), so a crash loop is bounded across restarts too; after
`max_failures` failures the item is set aside: the worker's own hook marks it so the worker no
longer takes it (an event dispatched, a run ended ERROR, a job FAILED...), its row becomes a
dead letter, and an alert is raised, in one transaction. `POST …/deadletters/{id}/replay`
(services/deadletters.py) puts it back.

If even counting a failure fails, the store itself is in trouble: the error goes up to the
worker's loop (workers/loop.py), which pauses before the next step.

Its log lines name an item by its organization (`orgId`) and its worker's key for it
(`Worker.item_key`: `eventId` for the dispatcher's events, `runId` for the deliverer's runs...).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.alerts import AlertType, Occurrence, ResourceType, Severity
from meterbell.domain.clock import utcnow
from meterbell.domain.deadletters import DeadLetter, WorkItem, error_summary
from meterbell.services import alerts
from meterbell.store import deadletters as dead_letter_store
from meterbell.store.db import Database

log = structlog.get_logger(__name__)

MAX_ITEM_FAILURES = 3  # MB_MAX_ITEM_FAILURES

# Marks an item so its worker no longer takes it, in the caller's transaction; returns what
# replaying it will need, if the worker's own tables no longer keep it (else None).
SetAside = Callable[[AsyncConnection, WorkItem, str, datetime], Awaitable[str | None]]
# Processes a batch, adding each item it took to the list as it takes it; True when more work
# may be waiting.
Batch = Callable[[list[WorkItem]], Awaitable[bool]]
Alone = Callable[[WorkItem], Awaitable[None]]


class Isolation:
    def __init__(
        self,
        db: Database,
        *,
        max_failures: int = MAX_ITEM_FAILURES,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.max_failures = max_failures
        self.now = now

    async def step(self, batch: Batch, alone: Alone, set_aside: SetAside) -> bool:
        """Run `batch`; if it raises, each item it had taken through `alone`."""
        taken: list[WorkItem] = []
        try:
            return await batch(taken)
        except Exception:
            if not taken:
                raise  # nothing was taken: the trouble is not an item's
            log.warning(
                "a batch failed: its items are retried one at a time",
                worker=taken[0].worker,
                items=len(taken),
                exc_info=True,
                **_batch_ids(taken),
            )
        await self.each_alone(taken, alone, set_aside)
        return True

    async def each_alone(
        self, items: Sequence[WorkItem], alone: Alone, set_aside: SetAside
    ) -> None:
        for item in items:
            await self.attempt(item, alone, set_aside)

    async def attempt(self, item: WorkItem, alone: Alone, set_aside: SetAside) -> bool:
        """Process one item; a failure is counted (and may set it aside). True if it went."""
        try:
            await alone(item)
        except Exception as exc:
            await self.failed(item, exc, set_aside)
            return False
        return True

    async def failed(
        self, item: WorkItem, error: BaseException, set_aside: SetAside
    ) -> DeadLetter | None:
        """Count a failure of `item`; set it aside once it has failed `max_failures` times.
        The dead letter when it was set aside."""
        now = self.now()
        text = error_summary(error)
        async with self.db.write() as conn:
            letter = await dead_letter_store.count_failure(conn, item, text, now)
            log.warning(
                "work item failed",
                worker=item.worker,
                attempts=letter.attempts,
                error=str(error) or type(error).__name__,
                exc_info=error,
                **_item_ids(item),
            )
            if letter.attempts < self.max_failures:
                return None
            payload = await set_aside(conn, item, text, now)
            await self.record_set_aside(conn, letter, payload, now)
        return letter

    async def set_aside_now(
        self,
        conn: AsyncConnection,
        item: WorkItem,
        error: str,
        attempts: int,
        now: datetime,
        *,
        log_ids: Mapping[str, Any] | None = None,
    ) -> None:
        """Set aside an item whose worker counts its failures itself (a run's attempts); its
        log line carries `log_ids` too (a run's eventId, ruleId and attempt)."""
        letter = await dead_letter_store.count_failure(conn, item, error, now, attempts=attempts)
        await self.record_set_aside(conn, letter, None, now, log_ids=log_ids)

    async def record_set_aside(
        self,
        conn: AsyncConnection,
        letter: DeadLetter,
        payload: str | None,
        now: datetime,
        *,
        log_ids: Mapping[str, Any] | None = None,
    ) -> None:
        """Make `letter` a dead letter, and raise an alert for it, in the caller's transaction."""
        await dead_letter_store.set_aside(conn, letter.id, payload, now)
        log.error(
            "work item set aside",
            worker=letter.worker,
            deadLetterId=letter.id,
            attempts=letter.attempts,
            **(_item_ids(letter.item) | dict(log_ids or {})),
        )
        if letter.org_id is not None:
            occurrence = Occurrence(
                letter.org_id,
                AlertType.WORK_SET_ASIDE,
                Severity.ERROR,
                ResourceType.DEAD_LETTER,
                letter.id,
                f"The {letter.worker} set {letter.item_id} aside after {letter.attempts} "
                f"failures: {letter.error.splitlines()[0]}",
            )
            await alerts.raise_alert(conn, occurrence, now)


def _item_ids(item: WorkItem) -> dict[str, Any]:
    """An item's ids in a log line: its organization's, and its own under its worker's key."""
    return {"orgId": item.org_id, item.worker.item_key: item.item_id}


def _batch_ids(items: Sequence[WorkItem]) -> dict[str, Any]:
    """A batch's ids in a log line (its items are one worker's): `orgIds`, and the items' own
    under the plural of their worker's key (`eventIds`, `runIds`...)."""
    return {
        "orgIds": sorted({i.org_id for i in items if i.org_id is not None}),
        f"{items[0].worker.item_key}s": [i.item_id for i in items],
    }
