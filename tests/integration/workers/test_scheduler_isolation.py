"""A scheduled-event target the scheduler cannot fire (its configuration cannot be read) holds
back no other target, of its organization or another's: it is set aside after
MB_MAX_ITEM_FAILURES tries, visible as a dead letter, and a replay fires it."""

from __future__ import annotations

from meterbell.store.db import Database
from meterbell.workers.scheduler import Scheduler
from tests.conftest import OrgApi
from tests.faults import dead_letters, replayed, set_aside_alerts, steps_until_idle, tamper, without
from tests.scheduling import at, fired_for, new_bill, new_configuration

DUE = "scheduled.bill.dueSoon"


async def test_a_target_that_keeps_failing_is_set_aside_and_the_others_fire(
    api: OrgApi, other_api: OrgApi, db: Database
) -> None:
    await new_configuration(api, offset=1)
    broken = await new_configuration(api, name=DUE, offset=2)
    await new_configuration(other_api, offset=1)
    bill, other_bill = await new_bill(api), await new_bill(other_api)
    original = await tamper(db, api.org_id, "scheduledevent", broken["id"], without("name"))

    scheduler = Scheduler(db, now=lambda: at("2099-03-04"))
    await steps_until_idle(scheduler.step)

    assert await fired_for(api) == [bill["id"]]
    assert await fired_for(other_api) == [other_bill["id"]]
    assert await fired_for(api, DUE) == []
    (letter,) = await dead_letters(api, "scheduler")
    assert letter["attempts"] == 3
    assert "KeyError: 'name'" in letter["error"]
    assert [a["resourceId"] for a in await set_aside_alerts(api)] == [letter["id"]]

    await tamper(db, api.org_id, "scheduledevent", broken["id"], lambda _: original)
    await replayed(api, letter)
    await steps_until_idle(scheduler.step)
    assert await fired_for(api, DUE) == [bill["id"]]
    assert await fired_for(api) == [bill["id"]]  # fired once, not again
