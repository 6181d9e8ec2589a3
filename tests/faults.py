"""Fault injection for the isolation tests: one chosen item of a real worker fails, through its
own data (a stored document made unreadable behind the services' back) or by wrapping the
worker's per-item function, never by mocking the store, the queue or HTTP. And what to look at
afterwards: the organization's dead letters and alerts, through the API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import text, update

from meterbell.store import documents as document_store
from meterbell.store.db import Database
from meterbell.store.tables import entities
from tests.conftest import OrgApi

STEP_LIMIT = 30


async def steps_until_idle(step: Callable[[], Awaitable[bool]], limit: int = STEP_LIMIT) -> None:
    """Run a worker's step as its loop does (a step that raises is retried) until it is idle
    or `limit` steps have run."""
    for _ in range(limit):
        with contextlib.suppress(Exception):
            if not await step():
                return


async def tamper(
    db: Database,
    org_id: str,
    kind: str,
    entity_id: str,
    change: Callable[[dict[str, Any]], Mapping[str, Any]],
) -> dict[str, Any]:
    """Rewrite a stored document behind the services' back (no event, no revision); the
    document as it was."""
    async with db.write() as conn:
        stored = await document_store.get_entity(conn, org_id, kind, entity_id)
        assert stored is not None
        await conn.execute(
            update(entities)
            .where((entities.c.org_id == org_id) & (entities.c.id == entity_id))
            .values(data=dict(change(dict(stored))))
        )
    return stored


def without(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda document: {k: v for k, v in document.items() if k != name}


async def dead_letters(api: OrgApi, worker: str) -> list[dict[str, Any]]:
    response = await api.get("deadletters", params={"worker": worker, "pageSize": 200})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def set_aside_alerts(api: OrgApi) -> list[dict[str, Any]]:
    response = await api.get("alerts", params={"type": "WORK_SET_ASIDE", "pageSize": 200})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def replayed(api: OrgApi, letter: Mapping[str, Any]) -> dict[str, Any]:
    response = await api.post(f"deadletters/{letter['id']}/replay")
    assert response.status_code == 200, response.text
    return dict(response.json())


@contextlib.asynccontextmanager
async def installed(
    db: Database, create: Sequence[str], drop: Sequence[str]
) -> AsyncIterator[None]:
    """Run `create` (e.g. a trigger that makes the store refuse a write) for the block's length,
    then `drop`."""
    async with db.write() as conn:
        for statement in create:
            await conn.execute(text(statement))
    try:
        yield
    finally:
        async with db.write() as conn:
            for statement in drop:
                await conn.execute(text(statement))
