"""The backfill worker: works a background job a chunk at a time to the end; two workers
never work the same chunk; a chunk that keeps failing sets its job aside (FAILED, a dead
letter), and replaying the dead letter lets the job go on from where it stopped."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Select, Table, func, select

from meterbell.domain.clock import utcnow
from meterbell.services import backfill
from meterbell.store.db import Database
from meterbell.store.tables import backfilled, integration_runs
from meterbell.workers.backfill import BackfillWorker
from meterbell.workers.dispatcher import Dispatcher
from tests.conftest import OrgApi
from tests.faults import dead_letters, replayed, set_aside_alerts, steps_until_idle
from tests.integration.workers.test_dispatcher_isolation import (
    PRODUCT_CREATED,
    fired_on,
    product_event,
    set_payload,
)

EVENTS = 12


async def backfill_job(api: OrgApi, rule_id: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A background backfill of the last hour (the window is larger than the request works)."""
    monkeypatch.setattr(backfill, "INLINE_LIMIT", 2)
    now = utcnow()
    body = {"since": (now - timedelta(hours=1)).isoformat(), "until": now.isoformat()}
    answer = await api.post(f"notifications/configurations/{rule_id}/backfill", body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "RUNNING"
    return str(answer.json()["id"])


async def progress(api: OrgApi, rule_id: str, job_id: str) -> dict[str, Any]:
    answer = await api.get(f"notifications/configurations/{rule_id}/backfills/{job_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def events_then_rule(api: OrgApi, db: Database) -> tuple[list[str], str]:
    """EVENTS product events, dispatched while no rule listened, then an always-firing rule
    on them: (the event ids, the rule id)."""
    ids = [await product_event(api) for _ in range(EVENTS)]
    await steps_until_idle(Dispatcher(db).step)
    body = {"name": "r", "code": "r", "eventName": PRODUCT_CREATED, "alwaysFireEvent": True}
    rule = await api.post("notifications/configurations", body)
    assert rule.status_code == 200, rule.text
    return ids, str(rule.json()["id"])


def count_of(table: Table, org_id: str) -> Select[tuple[int]]:
    return select(func.count()).select_from(table).where(table.c.org_id == org_id)


async def test_two_workers_work_each_chunk_once(
    api: OrgApi, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, rule_id = await events_then_rule(api, db)
    job_id = await backfill_job(api, rule_id, monkeypatch)
    workers = [BackfillWorker(db, chunk=3, pause_s=0) for _ in range(2)]
    steps = [0, 0]

    async def work(index: int) -> None:
        while (await progress(api, rule_id, job_id))["status"] == "RUNNING":
            await workers[index].step()
            steps[index] += 1
            assert steps[index] < 100, "the job did not end"

    await asyncio.gather(work(0), work(1))
    done = await progress(api, rule_id, job_id)
    assert (done["status"], done["evaluated"], done["matched"]) == ("COMPLETE", EVENTS, EVENTS)
    assert (done["created"], done["alreadyBackfilled"]) == (EVENTS, 0)
    assert done["eventIds"] == ids  # oldest first
    assert await fired_on(api, {"id": rule_id}) == set(ids)
    async with db.read() as conn:
        marks = await conn.scalar(count_of(backfilled, api.org_id))
        runs = await conn.scalar(count_of(integration_runs, api.org_id))
    assert (marks, runs) == (EVENTS, 0)  # no integration: Notification events only


async def test_a_chunk_that_keeps_failing_sets_its_job_aside_until_replayed(
    api: OrgApi, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, rule_id = await events_then_rule(api, db)
    poisoned = ids[7]
    original = (await api.get(f"events/{poisoned}")).json()["m3terEvent"]
    await set_payload(db, poisoned, [1, 2, 3])  # not an object: the chunk holding it raises
    job_id = await backfill_job(api, rule_id, monkeypatch)
    worker = BackfillWorker(db, chunk=3, pause_s=0)

    await steps_until_idle(worker.step)
    failed = await progress(api, rule_id, job_id)
    assert failed["status"] == "FAILED"
    assert "Set aside after repeated failures" in failed["error"]
    assert failed["evaluated"] == 6  # the two chunks before the poisoned one went through
    (letter,) = await dead_letters(api, "backfill")
    assert letter["itemId"] == job_id
    assert len(await set_aside_alerts(api)) == 1

    await set_payload(db, poisoned, original)
    await replayed(api, letter)
    await steps_until_idle(worker.step)
    done = await progress(api, rule_id, job_id)
    assert (done["status"], done["evaluated"], done["created"]) == ("COMPLETE", EVENTS, EVENTS)
    assert done["error"] is None
    assert await fired_on(api, {"id": rule_id}) == set(ids)
