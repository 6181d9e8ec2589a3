"""A run the deliverer cannot send (its webhook's secret cannot be opened) holds back no other
run, of its organization or another's: it ends ERROR after MB_MAX_ITEM_FAILURES tries, set aside
as a dead letter with an alert, and a replay, once the secret is fixed, sends the same run."""

from __future__ import annotations

import httpx

from meterbell.store import documents as document_store
from meterbell.store.db import Database
from meterbell.workers.isolation import MAX_ITEM_FAILURES
from tests.conftest import OrgApi, new_org_api
from tests.faults import dead_letters, replayed, set_aside_alerts, tamper
from tests.integration.webhooks.conftest import new_commitment, spend, wire
from tests.integration.webhooks.test_delivery import poll, settled_runs
from tests.integration.webhooks.test_delivery_faults import _seal_with_another_key
from tests.receiver import Receiver


async def test_a_run_that_keeps_failing_is_set_aside_and_the_others_are_sent(
    live: OrgApi, live_client: httpx.AsyncClient, db: Database, receiver: Receiver
) -> None:
    neighbour = await new_org_api(live_client, db, "Neighbour organization")
    poisoned = await wire(live, receiver, "/poisoned", calculation=None, always=True)
    beside = await wire(live, receiver, "/beside", calculation=None, always=True)
    elsewhere = await wire(neighbour, receiver, "/elsewhere", calculation=None, always=True)
    webhook_id = poisoned.webhook["id"]
    async with db.read() as conn:
        sound = await document_store.get_entity(conn, live.org_id, "webhook", webhook_id)
    assert sound is not None
    await _seal_with_another_key(db, live.org_id, webhook_id)

    await spend(live, await new_commitment(live), 1)
    await spend(neighbour, await new_commitment(neighbour), 1)

    for api, wiring in ((live, beside), (neighbour, elsewhere)):
        (run,) = await settled_runs(api, wiring, 1)
        assert run["status"] == "COMPLETE"
    (run,) = await settled_runs(live, poisoned, 1)
    assert (run["status"], run["attempts"]) == ("ERROR", MAX_ITEM_FAILURES)
    (letter,) = await poll(lambda: dead_letters(live, "deliverer"))
    assert (letter["itemId"], letter["attempts"]) == (run["id"], MAX_ITEM_FAILURES)
    assert "cannot be decrypted" in letter["error"]
    assert [a["resourceId"] for a in await set_aside_alerts(live)] == [letter["id"]]
    assert await dead_letters(neighbour, "deliverer") == []

    await tamper(db, live.org_id, "webhook", webhook_id, lambda _: {**sound, "version": 99})
    await replayed(live, letter)
    (delivered,) = await receiver.wait_for("/poisoned", 1)
    assert delivered.json["m3terEvent"]["notification"]["id"] == poisoned.rule["id"]
    (run,) = await settled_runs(live, poisoned, 1)
    assert (run["status"], run["attempts"]) == ("COMPLETE", 1)
