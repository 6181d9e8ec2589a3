"""A measurement submission the validator fails on holds back no other submission, of its
organization or another's: it is set aside after MB_MAX_ITEM_FAILURES tries (its measurements
recorded as UnexpectedError failures), visible as a dead letter that keeps its body, and a
replay puts that body back in the inbox."""

from __future__ import annotations

import orjson

from meterbell.domain.clock import utcnow
from meterbell.store import ingest as ingest_store
from meterbell.store.db import Database
from tests.conftest import OrgApi
from tests.faults import dead_letters, replayed, set_aside_alerts, steps_until_idle
from tests.ingesting import (
    accepted,
    failures,
    inbox_size,
    measurement,
    new_account,
    new_meter,
    stored,
    validator,
)


async def test_a_submission_that_keeps_failing_is_set_aside_and_the_others_go_on(
    api: OrgApi, other_api: OrgApi, db: Database
) -> None:
    for org in (api, other_api):
        await new_meter(org)
        await new_account(org, "acme")
    await accepted(api, measurement(uid="before"))
    body = orjson.dumps({"measurements": [measurement(uid="bad-ts", ts="no time")]}).decode()
    async with db.write() as conn:  # as if the API had accepted it
        await ingest_store.add_submission(conn, api.org_id, utcnow(), 1, body)
    await accepted(api, measurement(uid="after"))
    await accepted(other_api, measurement(uid="elsewhere"))

    await steps_until_idle(validator(db).step)

    assert [row.uid for row in await stored(db, api.org_id)] == ["before", "after"]
    assert [row.uid for row in await stored(db, other_api.org_id)] == ["elsewhere"]
    assert [(f["uid"], f["type"]) for f in await failures(api)] == [("bad-ts", "UnexpectedError")]
    (letter,) = await dead_letters(api, "ingest")
    assert letter["attempts"] == 3
    assert "ValueError" in letter["error"]
    assert [a["resourceId"] for a in await set_aside_alerts(api)] == [letter["id"]]

    await replayed(api, letter)
    assert await inbox_size(db, api.org_id) == 1
    await steps_until_idle(validator(db).step)  # it fails again: set aside again
    assert await inbox_size(db, api.org_id) == 0
    assert len(await dead_letters(api, "ingest")) == 2
