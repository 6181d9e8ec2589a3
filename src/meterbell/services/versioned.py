"""Versioned documents: the create / replace / delete / read / list cycle every entity and
configuration resource shares (ids, audit fields, optimistic concurrency, unique codes,
keyset pages). Each write is one transaction, together with the events the caller derives."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.clock import isoformat, utcnow
from meterbell.domain.errors import Conflict, InvalidRequest, NotFound, VersionConflict
from meterbell.domain.listing import FieldFilter
from meterbell.domain.pagination import Page, continue_before, page_from_rows
from meterbell.store import documents as document_store
from meterbell.store.db import Database
from meterbell.store.events import EventRow, insert_events

Document = dict[str, Any]
# Given (old, new) — old None on create, new None on delete — the events to write with it.
EventsFor = Callable[[Mapping[str, Any] | None, Mapping[str, Any] | None], list[EventRow]]
# Extra work inside the write transaction, given the document written (on delete: the deleted
# one), e.g. remembering fields seen.
AlsoInTransaction = Callable[[AsyncConnection, Mapping[str, Any]], Any]


def no_events(_old: Mapping[str, Any] | None, _new: Mapping[str, Any] | None) -> list[EventRow]:
    return []


@dataclass(frozen=True)
class Kind:
    """A type of document: its storage name and the title used in messages."""

    name: str
    title: str


def not_found(kind: Kind, document_id: str) -> NotFound:
    return NotFound(f"No {kind.title} with id {document_id} in this organization")


def stamped(
    fields: Mapping[str, Any],
    *,
    document_id: str,
    version: int,
    created: Mapping[str, Any] | None,
    actor: str,
) -> Document:
    """`fields` plus the server-owned id, version and audit fields."""
    now = isoformat(utcnow())
    return {
        **fields,
        "id": document_id,
        "version": version,
        "dtCreated": created["dtCreated"] if created else now,
        "createdBy": created["createdBy"] if created else actor,
        "dtLastModified": now,
        "lastModifiedBy": actor,
    }


def requested_version(body: object) -> int:
    version = body.get("version") if isinstance(body, Mapping) else None
    if version is None:
        raise InvalidRequest(
            "'version' is required on update: send the version you last read (GET it first)"
        )
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidRequest("'version' must be a whole number")
    return version


def _code_clash(kind: Kind, document: Mapping[str, Any]) -> Conflict:
    return Conflict(
        f"A {kind.title} with code '{document.get('code')}' already exists: codes are unique "
        "per organization and type"
    )


async def _raise_lost_race(
    conn: AsyncConnection, org_id: str, kind: Kind, old: Mapping[str, Any]
) -> None:
    """Another writer changed or deleted the document between our read and our write."""
    current = await document_store.get_entity(conn, org_id, kind.name, str(old["id"]))
    if current is None:
        raise not_found(kind, str(old["id"]))
    raise VersionConflict(kind.title, str(old["id"]), old["version"], int(current["version"]))


async def write_in(
    conn: AsyncConnection,
    org_id: str,
    kind: Kind,
    old: Mapping[str, Any] | None,
    new: Document,
    events_for: EventsFor,
) -> None:
    """Insert or replace `new` and write its events, inside the caller's transaction."""
    if old is None:
        await document_store.insert_entity(conn, org_id, kind.name, new)
    elif not await document_store.replace_entity(
        conn, org_id, kind.name, new, expected_version=int(old["version"])
    ):
        await _raise_lost_race(conn, org_id, kind, old)
    await insert_events(conn, events_for(old, new))


async def write(
    db: Database,
    org_id: str,
    kind: Kind,
    old: Mapping[str, Any] | None,
    new: Document,
    events_for: EventsFor = no_events,
    also: AlsoInTransaction | None = None,
) -> None:
    try:
        async with db.write() as conn:
            await write_in(conn, org_id, kind, old, new, events_for)
            if also is not None:
                await also(conn, new)
    except IntegrityError as exc:
        raise _code_clash(kind, new) from exc


async def create(
    db: Database,
    org_id: str,
    kind: Kind,
    fields: Mapping[str, Any],
    actor: str,
    events_for: EventsFor = no_events,
    also: AlsoInTransaction | None = None,
) -> Document:
    document = stamped(fields, document_id=str(uuid.uuid4()), version=1, created=None, actor=actor)
    await write(db, org_id, kind, None, document, events_for, also)
    return document


async def get(db: Database, org_id: str, kind: Kind, document_id: str) -> Document:
    async with db.read() as conn:
        document = await document_store.get_entity(conn, org_id, kind.name, document_id)
    if document is None:
        raise not_found(kind, document_id)
    return document


async def replace(
    db: Database,
    org_id: str,
    kind: Kind,
    document_id: str,
    fields: Mapping[str, Any],
    sent_version: int,
    actor: str,
    events_for: EventsFor = no_events,
    also: AlsoInTransaction | None = None,
) -> Document:
    """Replace the whole document if `sent_version` is the stored version: the read, the
    check and the write are one transaction."""
    try:
        async with db.write() as conn:
            old = await document_store.get_entity(conn, org_id, kind.name, document_id)
            if old is None:
                raise not_found(kind, document_id)
            if sent_version != old["version"]:
                raise VersionConflict(kind.title, document_id, sent_version, int(old["version"]))
            document = stamped(
                fields, document_id=document_id, version=sent_version + 1, created=old, actor=actor
            )
            await write_in(conn, org_id, kind, old, document, events_for)
            if also is not None:
                await also(conn, document)
    except IntegrityError as exc:
        raise _code_clash(kind, fields) from exc
    return document


async def delete(
    db: Database,
    org_id: str,
    kind: Kind,
    document_id: str,
    events_for: EventsFor = no_events,
    also: AlsoInTransaction | None = None,
) -> Document:
    async with db.write() as conn:
        old = await document_store.get_entity(conn, org_id, kind.name, document_id)
        if old is None:
            raise not_found(kind, document_id)
        await document_store.delete_entity(conn, org_id, kind.name, document_id)
        await insert_events(conn, events_for(old, None))
        if also is not None:
            await also(conn, old)
    return old


async def list_page(
    db: Database,
    org_id: str,
    kind: Kind,
    filters: Sequence[FieldFilter],
    query: Mapping[str, Sequence[str]],
    *,
    page_size: int,
) -> Page:
    before = continue_before(query)
    async with db.read() as conn:
        rows = await document_store.list_entities(
            conn, org_id, kind.name, filters=filters, before_seq=before, limit=page_size + 1
        )
    return page_from_rows(rows, page_size)
