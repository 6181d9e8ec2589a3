"""Dead letters (workers/isolation.py): listed, read and replayed by people. Replaying puts the
item back for its worker, its failures counted from zero again, in one transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.clock import utcnow
from meterbell.domain.deadletters import DeadLetter, Worker, public_dead_letter
from meterbell.domain.errors import Conflict, InvalidRequest, NotFound
from meterbell.domain.listing import choice_param
from meterbell.domain.measurements import readable_measurements
from meterbell.domain.pagination import Page, continue_before, page_from_rows
from meterbell.store import backfill as backfill_store
from meterbell.store import deadletters as dead_letter_store
from meterbell.store import events as event_store
from meterbell.store import exports as export_store
from meterbell.store import ingest as ingest_store
from meterbell.store import runs as run_store
from meterbell.store import scheduled as target_store
from meterbell.store.db import Database

MAX_PAGE_SIZE = 200

PutBack = Callable[[AsyncConnection, DeadLetter, datetime], Awaitable[None]]


async def _dispatch_again(conn: AsyncConnection, letter: DeadLetter, now: datetime) -> None:
    await event_store.set_dispatched(conn, _org(letter), letter.item_id, None)


async def _send_again(conn: AsyncConnection, letter: DeadLetter, now: datetime) -> None:
    await run_store.send_again(conn, _org(letter), letter.item_id, now)


async def _fire_again(conn: AsyncConnection, letter: DeadLetter, now: datetime) -> None:
    await target_store.fire_again(conn, _org(letter), int(letter.item_id))


async def _schedule_again(conn: AsyncConnection, letter: DeadLetter, now: datetime) -> None:
    await export_store.set_next_run(conn, _org(letter), letter.item_id, now)


async def _run_job_again(conn: AsyncConnection, letter: DeadLetter, now: datetime) -> None:
    await export_store.requeue_job(conn, _org(letter), letter.item_id, now)


async def _validate_again(conn: AsyncConnection, letter: DeadLetter, now: datetime) -> None:
    if letter.payload is None:
        raise Conflict(f"Dead letter {letter.id} kept no submission to validate again")
    count = len(readable_measurements(letter.payload))
    await ingest_store.add_submission(conn, _org(letter), now, count, letter.payload)


async def _purge_again(conn: AsyncConnection, letter: DeadLetter, now: datetime) -> None:
    """Retention skips a purge only while its dead letter is not replayed."""


async def _backfill_again(conn: AsyncConnection, letter: DeadLetter, now: datetime) -> None:
    await backfill_store.requeue(conn, _org(letter), letter.item_id, now)


PUT_BACK: Mapping[Worker, PutBack] = {
    Worker.DISPATCHER: _dispatch_again,
    Worker.DELIVERER: _send_again,
    Worker.SCHEDULER: _fire_again,
    Worker.EXPORT_SCHEDULER: _schedule_again,
    Worker.EXPORTER: _run_job_again,
    Worker.INGEST: _validate_again,
    Worker.RETENTION: _purge_again,
    Worker.BACKFILL: _backfill_again,
}


def _org(letter: DeadLetter) -> str:
    assert letter.org_id is not None, "only retention's purges belong to no organization"
    return letter.org_id


def _bool_param(query: Mapping[str, Sequence[str]], name: str) -> bool | None:
    raw = query.get(name, [""])[-1].lower()
    if raw not in ("", "true", "false"):
        raise InvalidRequest(f"{name} must be true or false (got '{raw}')")
    return None if raw == "" else raw == "true"


async def list_dead_letters(
    db: Database, org_id: str, query: Mapping[str, Sequence[str]], *, page_size: int
) -> Page:
    filters = dead_letter_store.DeadLetterQuery(
        worker=choice_param(query, "worker", Worker), replayed=_bool_param(query, "replayed")
    )
    async with db.read() as conn:
        rows = await dead_letter_store.list_dead_letters(
            conn, org_id, filters, before_seq=continue_before(query), limit=page_size + 1
        )
    return page_from_rows([(row.seq, public_dead_letter(row)) for row in rows], page_size)


async def unreplayed(db: Database) -> list[DeadLetter]:
    async with db.read() as conn:
        return await dead_letter_store.unreplayed_dead_letters(conn)


def _not_found(letter_id: str) -> NotFound:
    return NotFound(f"No dead letter with id {letter_id} in this organization")


async def get_dead_letter(db: Database, org_id: str, letter_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        letter = await dead_letter_store.get_dead_letter(conn, org_id, letter_id)
    if letter is None:
        raise _not_found(letter_id)
    return public_dead_letter(letter)


async def replay(db: Database, org_id: str | None, letter_id: str, actor: str) -> dict[str, Any]:
    """Put a set-aside item back for its worker; a dead letter is replayed once. `org_id`
    None: an operator's replay, of any organization's dead letter or of one of none."""
    now = utcnow()
    async with db.write() as conn:
        letter = await dead_letter_store.get_dead_letter(conn, org_id, letter_id)
        if letter is None:
            raise _not_found(letter_id)
        if not await dead_letter_store.mark_replayed(conn, letter.id, actor, now):
            raise Conflict(f"Dead letter {letter_id} was already replayed")
        await PUT_BACK[letter.worker](conn, letter, now)
        replayed = await dead_letter_store.get_dead_letter(conn, org_id, letter_id)
    assert replayed is not None
    return public_dead_letter(replayed)
