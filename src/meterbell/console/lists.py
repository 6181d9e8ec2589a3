"""Read-only lists for the pages whose forms and actions are still to come: each one calls the
service its API list calls, with the same keyset pagination, and shows a few columns."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from meterbell.domain.pagination import Page
from meterbell.services import events, exports, scheduled
from meterbell.store.db import Database


class Lister(Protocol):
    """A service's list function, as the API's list routes call it."""

    def __call__(
        self, db: Database, org_id: str, query: Mapping[str, Sequence[str]], *, page_size: int
    ) -> Awaitable[Page]: ...


INGEST_FAILURE = "ingest.validation.failure"
# What a list page passes on to its service from its own query: one record (`ids`, where an
# alert links to its resource), and where the page continues.
FILTERS = ("ids", "nextToken")


@dataclass(frozen=True)
class Column:
    heading: str
    key: str
    kind: Literal["text", "time", "flag"] = "text"


@dataclass(frozen=True)
class Listing:
    lister: Lister
    caption: str
    columns: tuple[Column, ...]
    empty: str
    query: Mapping[str, Sequence[str]] = field(default_factory=dict)

    async def page(self, db: Database, org_id: str, filters: Mapping[str, str], size: int) -> Page:
        """A page, filtered by what `FILTERS` names of `filters` (and continuing at its
        `nextToken`)."""
        query = {**self.query, **{name: [value] for name, value in filters.items()}}
        return await self.lister(db, org_id, query, page_size=size)


CREATED = Column("Created", "dtCreated", "time")
LISTINGS = {
    "ingest": Listing(
        events.list_events,
        "Measurements that failed validation, newest first",
        (
            Column("Event", "id"),
            Column("Time", "eventTime", "time"),
            Column("Actioned", "dtActioned", "time"),
        ),
        "No measurement has failed validation.",
        {"eventName": [INGEST_FAILURE]},
    ),
    "exports": Listing(
        exports.list_jobs,
        "Export jobs, newest first",
        (
            Column("Source", "sourceType"),
            Column("Status", "status"),
            Column("Format", "exportFileFormat"),
            Column("Rows", "rowCount"),
            Column("Created", "dateCreated", "time"),
            Column("Error", "error"),
        ),
        "No export jobs yet: start one with POST /dataexports/adhoc, or set up a schedule.",
    ),
    "scheduled-events": Listing(
        scheduled.list_configurations,
        "Scheduled event configurations, newest first",
        (
            Column("Name", "name"),
            Column("Entity", "entity"),
            Column("Field", "field"),
            Column("Offset (days)", "offset"),
            CREATED,
        ),
        "No scheduled events yet: create one with POST /scheduledevents/configurations.",
    ),
}
