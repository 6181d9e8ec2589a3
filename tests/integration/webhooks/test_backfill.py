"""Backfill through a live engine to a real receiver: a rule's current calculation over the
stored events of a window. A dry run counts and writes nothing; a real run fires on the
matches like live dispatch (Notification events and runs marked `backfill`, delivered by the
deliverer), at most once per (rule, version, event); a large window is a background job whose
progress the API reads; bad requests are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from meterbell.services import backfill
from meterbell.store.db import Database
from tests.conftest import OrgApi, new_org_api
from tests.integration.webhooks.conftest import Wiring, new_commitment, spend, wire
from tests.integration.webhooks.test_delivery import poll, runs_of
from tests.receiver import Receiver

UPDATED = "configuration.commitment.updated"


def backfill_path(wiring: Wiring) -> str:
    return f"notifications/configurations/{wiring.rule['id']}/backfill"


def window(since: datetime, until: datetime, **more: Any) -> dict[str, Any]:
    return {"since": since.isoformat(), "until": until.isoformat(), **more}


async def spent_commitments(api: OrgApi, count: int) -> list[str]:
    """`count` commitments, each spent to 50% then 95% of its amount (two updates, the second
    crossing 90%); the ids of the crossing updates' events."""
    crossing = []
    for _ in range(count):
        commitment = await spend(api, await new_commitment(api), 500)
        await spend(api, commitment, 950)
        params = {"eventName": UPDATED, "resourceId": commitment["id"]}
        newest = (await api.get("events", params=params)).json()["data"][0]
        crossing.append(newest["id"])
    return crossing


async def dry_run_seeing(
    api: OrgApi, wiring: Wiring, body: dict[str, Any], evaluated: int
) -> dict[str, Any]:
    """A dry run, once the dispatcher has handled the window's `evaluated` events (a backfill
    leaves events not yet dispatched to live dispatch)."""

    async def check() -> dict[str, Any] | None:
        answer = await api.post(backfill_path(wiring), {**body, "dryRun": True})
        assert answer.status_code == 200, answer.text
        result = dict(answer.json())
        return result if result["evaluated"] == evaluated else None

    return dict(await poll(check))


async def activated(api: OrgApi, wiring: Wiring) -> None:
    """Activate the wiring's rule (created inactive so that live dispatch passed its events)."""
    rule = {**wiring.rule, "active": True}
    answer = await api.put(f"notifications/configurations/{wiring.rule['id']}", rule)
    assert answer.status_code == 200, answer.text
    wiring.rule = dict(answer.json())


async def notifications_of(api: OrgApi, wiring: Wiring) -> list[dict[str, Any]]:
    params = {"notificationId": wiring.rule["id"], "pageSize": 100}
    return list((await api.get("events", params=params)).json()["data"])


async def test_dry_run_writes_nothing_and_a_real_run_fires_once_per_rule_version(
    live: OrgApi, receiver: Receiver
) -> None:
    since = datetime.now(UTC)
    crossing = await spent_commitments(live, 3)
    until = datetime.now(UTC) + timedelta(seconds=1)
    wiring = await wire(live, receiver, "/backfill", active=False)  # live never fires it
    body = window(since, until)

    dry = await dry_run_seeing(live, wiring, body, evaluated=6)  # an inactive rule's dry run
    assert dry["id"] is None
    assert (dry["status"], dry["dryRun"]) == ("COMPLETE", True)
    assert (dry["matched"], dry["eventIds"]) == (3, crossing)  # oldest first
    await activated(live, wiring)
    assert await notifications_of(live, wiring) == []
    assert await runs_of(live, wiring) == []
    listed = await live.get(f"notifications/configurations/{wiring.rule['id']}/backfills")
    assert listed.json()["data"] == []

    real = await live.post(backfill_path(wiring), {**body, "dryRun": False})
    assert real.status_code == 200, real.text
    job = real.json()
    assert (job["status"], job["ruleVersion"]) == ("COMPLETE", 2)
    assert (job["evaluated"], job["matched"], job["created"], job["alreadyBackfilled"]) == (
        6,
        3,
        3,
        0,
    )
    received = await receiver.wait_for("/backfill", 3)
    assert sorted(r.json["m3terEvent"]["triggeringEvent"]["id"] for r in received) == sorted(
        crossing
    )
    assert all(r.json["backfill"] is True for r in received)
    notifications = await notifications_of(live, wiring)
    assert [n.get("backfill") for n in notifications] == [True] * 3
    runs = await runs_of(live, wiring)
    assert [r.get("backfill") for r in runs] == [True] * 3
    got = await live.get(f"notifications/configurations/{wiring.rule['id']}/backfills/{job['id']}")
    assert got.json() == job

    again = (await live.post(backfill_path(wiring), body)).json()
    assert (again["matched"], again["created"], again["alreadyBackfilled"]) == (3, 0, 3)
    assert len(await runs_of(live, wiring)) == 3

    # A changed rule is a new version: its backfill fires again (on what it matches now).
    changed = {**wiring.rule, "calculation": "new.amountSpent >= 900"}
    updated = await live.put(f"notifications/configurations/{wiring.rule['id']}", changed)
    assert updated.status_code == 200, updated.text
    second = (await live.post(backfill_path(wiring), body)).json()
    assert (second["ruleVersion"], second["matched"], second["created"]) == (3, 3, 3)
    await receiver.wait_for("/backfill", 6)
    listed = await live.get(f"notifications/configurations/{wiring.rule['id']}/backfills")
    assert [b["id"] for b in listed.json()["data"]] == [second["id"], again["id"], job["id"]]


async def test_live_firings_are_not_marked_backfill(live: OrgApi, receiver: Receiver) -> None:
    wiring = await wire(live, receiver, "/live")
    await spent_commitments(live, 1)
    (received,) = await receiver.wait_for("/live", 1)
    assert "backfill" not in received.json
    (run,) = await runs_of(live, wiring)
    assert "backfill" not in run


async def test_a_large_window_is_a_background_job_with_progress(
    live: OrgApi, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    since = datetime.now(UTC)
    crossing = await spent_commitments(live, 4)
    until = datetime.now(UTC) + timedelta(seconds=1)
    wiring = await wire(live, receiver, "/large", active=False)
    await dry_run_seeing(live, wiring, window(since, until), evaluated=8)
    await activated(live, wiring)
    monkeypatch.setattr(backfill, "INLINE_LIMIT", 5)  # 8 events: more than the request works

    started = await live.post(backfill_path(wiring), window(since, until))
    assert started.status_code == 200, started.text
    job = started.json()
    assert job["status"] == "RUNNING"
    assert job["id"] is not None
    path = f"notifications/configurations/{wiring.rule['id']}/backfills/{job['id']}"

    async def complete() -> dict[str, Any] | None:
        progress = dict((await live.get(path)).json())
        return progress if progress["status"] == "COMPLETE" else None

    done = await poll(complete)
    assert (done["evaluated"], done["matched"], done["created"]) == (8, 4, 4)
    assert done["eventIds"] == crossing
    received = await receiver.wait_for("/large", 4)
    assert all(r.json["backfill"] is True for r in received)

    dry = await live.post(backfill_path(wiring), window(since, until, dryRun=True))
    assert (dry.json()["status"], dry.json()["dryRun"]) == ("RUNNING", True)
    dry_path = f"notifications/configurations/{wiring.rule['id']}/backfills/{dry.json()['id']}"

    async def dry_complete() -> dict[str, Any] | None:
        progress = dict((await live.get(dry_path)).json())
        return progress if progress["status"] == "COMPLETE" else None

    dry_done = await poll(dry_complete)
    assert (dry_done["matched"], dry_done["created"], dry_done["alreadyBackfilled"]) == (4, 0, 0)
    assert len(await runs_of(live, wiring)) == 4  # the dry run fired nothing


async def test_bad_requests_are_refused(
    live: OrgApi, live_client: httpx.AsyncClient, db: Database, receiver: Receiver
) -> None:
    other = await new_org_api(live_client, db, "Backfill's other organization")
    wiring = await wire(live, receiver, "/refused-backfill")
    now = datetime.now(UTC)
    cases = [
        (window(now, now), "'until' must be after 'since'"),
        ({"since": now.isoformat()}, "until"),
        ({"since": "2026-01-01T00:00:00", "until": now.isoformat()}, "needs a time zone"),
        (window(now - timedelta(1), now, dryRun="maybe"), "dryRun"),
        (window(now - timedelta(1), now, extra=1), "extra"),
        ([1, 2], "object"),
    ]
    for body, message in cases:
        answer = await live.post(backfill_path(wiring), body)
        assert answer.status_code == 400, (body, answer.text)
        assert message in answer.json()["message"], (body, answer.text)
    week = window(now - timedelta(7), now)
    theirs = await other.post(backfill_path(wiring), week)
    assert theirs.status_code == 404
    missing = await live.post("notifications/configurations/no-such-rule/backfill", week)
    assert missing.status_code == 404
    unknown = await live.get(f"notifications/configurations/{wiring.rule['id']}/backfills/nope")
    assert unknown.status_code == 404

    inactive = await wire(live, receiver, "/inactive-backfill", active=False)
    refused = await live.post(backfill_path(inactive), week)
    assert refused.status_code == 409, refused.text
    assert "not active" in refused.json()["message"]
    tried = await live.post(backfill_path(inactive), {**week, "dryRun": True})
    assert tried.status_code == 200, tried.text
