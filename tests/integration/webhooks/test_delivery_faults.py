"""A run that cannot be delivered, or whose result cannot be recorded, ends ERROR with its
reason and holds back no other run: of another destination, or of another organization."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from meterbell.domain.integrations import SEALED_SECRET
from meterbell.domain.secrets_box import SecretBox
from meterbell.store import documents as document_store
from meterbell.store.db import Database
from meterbell.workers.deliverer import UNRECORDABLE
from meterbell.workers.isolation import MAX_ITEM_FAILURES
from tests.conftest import OrgApi, new_org_api
from tests.faults import installed
from tests.integration.webhooks.conftest import new_commitment, spend, wire
from tests.integration.webhooks.test_delivery import events_named, poll, settled_runs
from tests.receiver import Receiver


async def _seal_with_another_key(db: Database, org_id: str, webhook_id: str) -> None:
    """What a webhook stored under another MB_SECRET_KEY looks like to this engine."""
    async with db.write() as conn:
        stored = await document_store.get_entity(conn, org_id, "webhook", webhook_id)
        assert stored is not None
        foreign = SecretBox("some other secret key").seal("test-signing-secret")
        version = int(stored["version"])
        resealed = {
            **stored,
            "credentials": {**stored["credentials"], SEALED_SECRET: foreign},
            "version": version + 1,
        }
        assert await document_store.replace_entity(
            conn, org_id, "webhook", resealed, expected_version=version
        )


async def test_a_run_whose_delivery_raises_ends_error_and_holds_back_no_other(
    live: OrgApi, live_client: httpx.AsyncClient, db: Database, receiver: Receiver
) -> None:
    neighbour = await new_org_api(live_client, db, "Neighbour organization")
    poisoned = await wire(live, receiver, "/sealed-elsewhere", calculation=None, always=True)
    beside = await wire(live, receiver, "/beside", calculation=None, always=True)
    elsewhere = await wire(neighbour, receiver, "/elsewhere", calculation=None, always=True)
    await _seal_with_another_key(db, live.org_id, poisoned.webhook["id"])

    await spend(live, await new_commitment(live), 1)
    await spend(neighbour, await new_commitment(neighbour), 1)

    for api, wiring in ((live, beside), (neighbour, elsewhere)):
        (run,) = await settled_runs(api, wiring, 1)
        assert run["status"] == "COMPLETE"
    (run,) = await settled_runs(live, poisoned, 1)
    assert run["status"] == "ERROR"
    assert run["attempts"] == MAX_ITEM_FAILURES
    assert "cannot be decrypted" in run["error"]
    assert receiver.at("/sealed-elsewhere") == []
    errors = await poll(lambda: events_named(live, "integration.perform.error"))
    detail = errors[0]["m3terEvent"]["eventData"]["newDto"]
    assert detail["integrationRunId"] == run["id"]
    assert "cannot be decrypted" in detail["reason"]
    resent = await live.post(f"integrationruns/{run['id']}/resend")
    assert resent.status_code == 200
    assert resent.json()["parentIntegrationRunId"] == run["id"]


@asynccontextmanager
async def refusing_attempt_logs(db: Database, url_part: str) -> AsyncIterator[None]:
    """A trigger that makes the store refuse the attempt logs of requests to `url_part`."""
    if db.dialect == "postgresql":
        create = [
            "CREATE FUNCTION refuse_attempt_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.log->>'url' LIKE '%{url_part}%' THEN "
            "RAISE EXCEPTION 'attempt log refused'; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER refuse_attempt_log BEFORE INSERT ON integration_run_attempts "
            "FOR EACH ROW EXECUTE FUNCTION refuse_attempt_log()",
        ]
        drop = [
            "DROP TRIGGER refuse_attempt_log ON integration_run_attempts",
            "DROP FUNCTION refuse_attempt_log()",
        ]
    else:
        create = [
            "CREATE TRIGGER refuse_attempt_log BEFORE INSERT ON integration_run_attempts "
            f"WHEN json_extract(NEW.log, '$.url') LIKE '%{url_part}%' "
            "BEGIN SELECT RAISE(ABORT, 'attempt log refused'); END"
        ]
        drop = ["DROP TRIGGER refuse_attempt_log"]
    async with installed(db, create, drop):
        yield


async def test_a_result_the_store_refuses_is_settled_alone(
    live: OrgApi, live_client: httpx.AsyncClient, db: Database, receiver: Receiver
) -> None:
    neighbour = await new_org_api(live_client, db, "Neighbour organization")
    refused = await wire(live, receiver, "/unrecordable", calculation=None, always=True)
    recordable = await wire(neighbour, receiver, "/recordable", calculation=None, always=True)

    async with refusing_attempt_logs(db, "/unrecordable"):
        await spend(live, await new_commitment(live), 1)
        await receiver.wait_for("/unrecordable", 1)
        await spend(neighbour, await new_commitment(neighbour), 1)

        (run,) = await settled_runs(neighbour, recordable, 1)
        assert run["status"] == "COMPLETE"
        (run,) = await settled_runs(live, refused, 1)
        assert run["status"] == "ERROR"
        assert run["error"] == UNRECORDABLE
    assert len(receiver.at("/unrecordable")) == 1
