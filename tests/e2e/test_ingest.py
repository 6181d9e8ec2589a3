"""Usage ingest through the official m3ter SDK against a real `meterbell serve` process (its
embedded ingest validator), on each store: submit, failure events, skeleton accounts, and the
failed-ingest download link."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import m3ter
import pytest

from tests.e2e.server import eventually

pytestmark = pytest.mark.slow


def events_named(client: m3ter.M3ter, name: str) -> list[dict[str, Any]]:
    """`newDto` of the events, or none while one is not dispatched yet: its `dtActioned` is
    null, which the SDK (strict) refuses (docs/api.md)."""
    try:
        events = list(client.events.list(event_name=name, page_size=100))
    except m3ter.APIResponseValidationError:
        return []
    return [event.m3ter_event["eventData"]["newDto"] for event in events]


def test_measurements_are_validated_by_the_running_server(client: m3ter.M3ter) -> None:
    suffix = uuid.uuid4().hex[:8]
    meter_code, account_code = f"calls_{suffix}", f"customer-{suffix}"
    client.meters.create(
        code=meter_code,
        name="Calls",
        data_fields=[{"category": "MEASURE", "code": "calls", "name": "Calls"}],
        derived_fields=[],
    )
    good = {"uid": f"good-{suffix}", "meter": meter_code, "account": account_code}
    bad = {"uid": f"bad-{suffix}", "meter": f"nope_{suffix}", "account": account_code}
    answer = client.usage.submit(
        measurements=[
            {**good, "ts": "2026-11-23T10:00:00Z", "measure": {"calls": 3}},
            {**bad, "ts": "2026-11-23T10:00:00Z", "measure": {"calls": 1}},
        ]
    )
    assert answer.result == "accepted"

    created = eventually(
        lambda: [
            account
            for account in events_named(client, "configuration.account.created")
            if account["code"] == account_code
        ]
    )
    assert created[0]["name"] == f"{account_code}-autocreated"
    failure = eventually(
        lambda: [
            f for f in events_named(client, "ingest.validation.failure") if f["uid"] == bad["uid"]
        ]
    )[0]
    assert (failure["type"], failure["meter"]) == ("UndefinedMeter", bad["meter"])

    link = client.usage.get_failed_ingest_download_url(file=failure["getDownloadUrl"])
    assert link.url is not None
    download = httpx.get(link.url, timeout=10.0)
    assert download.status_code == 200, download.text
    assert download.json()["measurement"]["uid"] == bad["uid"]
