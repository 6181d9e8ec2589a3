"""Recovery after an outage, through a live engine to a real receiver: the runs that ended
ERROR or DISABLED within a window are sent again as new runs pointing back at them, once
however often the call is repeated; bad windows and other organizations' destinations are
refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from meterbell.store.db import Database
from tests.conftest import OrgApi, new_org_api
from tests.integration.webhooks.conftest import FAST_DELIVERY, Wiring, new_commitment, wire
from tests.integration.webhooks.test_delivery import poll, runs_of
from tests.integration.webhooks.test_delivery_alerts import runs_settled_one_by_one
from tests.receiver import Receiver

FAILED_RUNS = FAST_DELIVERY["auto_disable_after"]  # each ends ERROR, then it is disabled


def recover_path(wiring: Wiring) -> str:
    return f"integrationdestinations/webhooks/{wiring.webhook['id']}/recover"


def window(since: datetime, until: datetime) -> dict[str, str]:
    return {"since": since.isoformat(), "until": until.isoformat()}


async def completed_copies(api: OrgApi, wiring: Wiring, count: int) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        copies = [r for r in await runs_of(api, wiring) if r["parentIntegrationRunId"]]
        done = [r for r in copies if r["status"] == "COMPLETE"]
        return copies if len(done) >= count else None

    return list(await poll(check))


async def test_failed_runs_are_sent_again_once_after_the_outage(
    live: OrgApi, receiver: Receiver
) -> None:
    before = datetime.now(UTC)
    receiver.answer("/outage", then=500)
    wiring = await wire(live, receiver, "/outage", calculation=None, always=True)
    commitment = await runs_settled_one_by_one(live, wiring, await new_commitment(live), 1)
    await runs_settled_one_by_one(live, wiring, commitment, FAILED_RUNS, done=1)
    failed = await runs_of(live, wiring)
    statuses = sorted(r["status"] for r in failed)
    assert statuses == ["DISABLED"] + ["ERROR"] * FAILED_RUNS

    receiver.answer("/outage", then=200)
    enabled = await live.post(f"integrationconfigs/{wiring.config['id']}/enable")
    assert enabled.status_code == 200, enabled.text
    after = datetime.now(UTC) + timedelta(seconds=1)
    too_early = await live.post(recover_path(wiring), window(before - timedelta(hours=1), before))
    assert too_early.json() == {"runs": 0, "more": False}

    recovered = await live.post(recover_path(wiring), window(before, after))
    assert recovered.status_code == 200, recovered.text
    assert recovered.json() == {"runs": len(failed), "more": False}
    copies = await completed_copies(live, wiring, len(failed))
    assert sorted(r["parentIntegrationRunId"] for r in copies) == sorted(r["id"] for r in failed)
    bodies = {r.body for r in receiver.at("/outage")}
    assert len(bodies) == len(failed)  # every event's payload arrived

    again = await live.post(recover_path(wiring), window(before, after))
    assert again.json() == {"runs": 0, "more": False}
    assert len(await runs_of(live, wiring)) == 2 * len(failed)


async def test_bad_windows_and_unknown_destinations_are_refused(
    live: OrgApi, live_client: httpx.AsyncClient, db: Database, receiver: Receiver
) -> None:
    other = await new_org_api(live_client, db, "Other organization")
    wiring = await wire(live, receiver, "/refused", calculation=None, always=True)
    now = datetime.now(UTC)
    cases = [
        (window(now, now), 400, "'until' must be after 'since'"),
        ({"since": now.isoformat()}, 400, "until"),
        ({"since": "2026-01-01T00:00:00", "until": now.isoformat()}, 400, "needs a time zone"),
        ({**window(now, now + timedelta(1)), "extra": 1}, 400, "extra"),
        ({"since": "0001-01-01T00:00:00+01:00", "until": now.isoformat()}, 400, "calendar"),
    ]
    for body, status, message in cases:
        answer = await live.post(recover_path(wiring), body)
        assert answer.status_code == status, (body, answer.text)
        assert message in answer.json()["message"], (body, answer.text)
    theirs = await other.post(recover_path(wiring), window(now - timedelta(1), now))
    assert theirs.status_code == 404
    missing = await live.post(
        "integrationdestinations/webhooks/no-such-webhook/recover", window(now - timedelta(1), now)
    )
    assert missing.status_code == 404
