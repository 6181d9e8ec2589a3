"""System alerts: raised and deduplicated by the engine, resolved when their cause ends, read
and moved along by people, each change an event."""

from __future__ import annotations

import uuid
from typing import Any

from meterbell.domain.alerts import AlertType, Occurrence, ResourceType, Severity
from meterbell.domain.clock import utcnow
from meterbell.services import alerts
from meterbell.store.db import Database
from tests.conftest import OrgApi


def occurrence(api: OrgApi, resource_id: str, **overrides: Any) -> Occurrence:
    fields: dict[str, Any] = {
        "org_id": api.org_id,
        "type": AlertType.INTEGRATION_PERFORM_ERROR,
        "severity": Severity.WARN,
        "resource_type": ResourceType.INTEGRATION_CONFIGURATION,
        "resource_id": resource_id,
        "description": "Run failed: the receiver answered 500.",
        "event_id": str(uuid.uuid4()),
    }
    return Occurrence(**{**fields, **overrides})


async def raise_now(db: Database, *occurrences: Occurrence) -> None:
    for item in occurrences:
        async with db.write() as conn:
            await alerts.raise_alert(conn, item, utcnow())


async def listed(api: OrgApi, **params: str) -> list[dict[str, Any]]:
    response = await api.get("alerts", params={"pageSize": 200, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def alert_events(api: OrgApi, action: str) -> list[dict[str, Any]]:
    response = await api.get("events", params={"eventName": f"configuration.alert.{action}"})
    return list(response.json()["data"])


async def test_occurrences_of_one_cause_make_one_alert_with_a_count(
    api: OrgApi, db: Database
) -> None:
    config_id = str(uuid.uuid4())
    firsts = [occurrence(api, config_id) for _ in range(3)]
    await raise_now(db, *firsts)
    [alert] = await listed(api)
    assert alert["type"] == "INTEGRATION_PERFORM_ERROR"
    assert alert["severity"] == "WARN"
    assert alert["status"] == "NEW"
    assert alert["resourceType"] == "IntegrationConfiguration"
    assert alert["resourceId"] == config_id
    assert alert["count"] == 3
    assert alert["version"] == 3
    assert alert["eventIds"] == [item.event_id for item in firsts]
    assert alert["dtFirstSeen"] < alert["dtLastSeen"]
    created, updated = await alert_events(api, "created"), await alert_events(api, "updated")
    assert [e["m3terEvent"]["eventData"]["newDto"]["count"] for e in created] == [1]
    assert [e["m3terEvent"]["eventData"]["newDto"]["count"] for e in updated] == [3, 2]
    assert updated[0]["m3terEvent"]["eventData"]["oldDto"]["count"] == 2


async def test_alerts_keep_only_their_latest_events(api: OrgApi, db: Database) -> None:
    config_id = str(uuid.uuid4())
    items = [occurrence(api, config_id) for _ in range(12)]
    await raise_now(db, *items)
    [alert] = await listed(api)
    assert alert["count"] == 12
    assert alert["eventIds"] == [item.event_id for item in items[-10:]]


async def test_a_batch_of_occurrences_changes_each_alert_once(api: OrgApi, db: Database) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    await raise_now(db, occurrence(api, first))
    batch = [occurrence(api, first, description=f"failure {n}") for n in range(12)]
    batch.insert(3, occurrence(api, second))
    async with db.write() as conn:
        await alerts.raise_alerts(conn, batch, utcnow())
    by_cause = {alert["resourceId"]: alert for alert in await listed(api)}
    assert (by_cause[first]["count"], by_cause[first]["version"]) == (13, 2)
    assert by_cause[first]["description"] == "failure 11"
    assert (
        by_cause[first]["eventIds"]
        == [item.event_id for item in batch if item.resource_id == first][-10:]
    )
    assert (by_cause[second]["count"], by_cause[second]["version"]) == (1, 1)
    assert len(await alert_events(api, "created")) == 2
    assert len(await alert_events(api, "updated")) == 1


async def test_another_cause_or_a_resolved_alert_makes_a_new_alert(
    api: OrgApi, db: Database
) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    await raise_now(db, occurrence(api, first), occurrence(api, second))
    assert len(await listed(api)) == 2
    async with db.write() as conn:
        await alerts.resolve_alerts(
            conn, api.org_id, AlertType.INTEGRATION_PERFORM_ERROR, [first], "it works.", utcnow()
        )
    [resolved] = await listed(api, status="RESOLVED")
    assert resolved["resourceId"] == first
    assert resolved["description"].endswith("Resolved: it works.")
    await raise_now(db, occurrence(api, first))
    opened = await listed(api, status="NEW")
    assert sorted(a["resourceId"] for a in opened) == sorted([first, second])
    assert all(a["count"] == 1 for a in opened)


async def test_people_move_an_alert_along_with_its_version(api: OrgApi, db: Database) -> None:
    await raise_now(db, occurrence(api, str(uuid.uuid4())))
    [alert] = await listed(api)
    moved = await api.put(f"alerts/{alert['id']}", {"status": "IN_PROGRESS", "version": 1})
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "IN_PROGRESS"
    assert moved.json()["version"] == 2
    assert moved.json()["lastModifiedBy"] == api.client_id
    stale = await api.put(f"alerts/{alert['id']}", {"status": "RESOLVED", "version": 1})
    assert stale.status_code == 409
    assert stale.headers["x-should-retry"] == "false"
    fetched = await api.get(f"alerts/{alert['id']}")
    assert fetched.json()["status"] == "IN_PROGRESS"
    [update] = await alert_events(api, "updated")
    assert update["m3terEvent"]["eventData"]["newDto"]["status"] == "IN_PROGRESS"
    assert update["m3terEvent"]["eventData"]["oldDto"]["status"] == "NEW"


async def test_reopening_beside_another_open_alert_of_the_cause_is_a_conflict(
    api: OrgApi, db: Database
) -> None:
    config_id = str(uuid.uuid4())
    await raise_now(db, occurrence(api, config_id))
    [old] = await listed(api)
    closed = await api.put(f"alerts/{old['id']}", {"status": "RESOLVED", "version": 1})
    assert closed.status_code == 200
    await raise_now(db, occurrence(api, config_id))
    reopened = await api.put(f"alerts/{old['id']}", {"status": "NEW", "version": 2})
    assert reopened.status_code == 409
    assert "is open" in reopened.json()["message"]


async def test_bad_requests_say_what_to_fix(api: OrgApi, db: Database) -> None:
    await raise_now(db, occurrence(api, str(uuid.uuid4())))
    [alert] = await listed(api)
    cases = [
        ({"status": "DONE", "version": 1}, "'status'"),
        ({"status": "RESOLVED"}, "'version' is required"),
        ({"status": "RESOLVED", "version": "1"}, "'version'"),
    ]
    for body, message in cases:
        response = await api.put(f"alerts/{alert['id']}", body)
        assert response.status_code == 400, body
        assert message in response.json()["message"], response.json()
    missing = await api.get(f"alerts/{uuid.uuid4()}")
    assert missing.status_code == 404
    bad_filter = await api.get("alerts", params={"severity": "LOUD"})
    assert bad_filter.status_code == 400
    assert "INFO, WARN, ERROR" in bad_filter.json()["message"]


async def test_filters(api: OrgApi, db: Database) -> None:
    target = str(uuid.uuid4())
    await raise_now(
        db,
        occurrence(api, target),
        occurrence(
            api,
            str(uuid.uuid4()),
            type=AlertType.INTEGRATION_DISABLED,
            severity=Severity.ERROR,
        ),
    )
    assert [a["resourceId"] for a in await listed(api, resourceId=target)] == [target]
    assert [a["type"] for a in await listed(api, severity="ERROR")] == ["INTEGRATION_DISABLED"]
    assert len(await listed(api, type="INTEGRATION_PERFORM_ERROR")) == 1
    page = await api.get("alerts", params={"pageSize": 1})
    assert len(page.json()["data"]) == 1
    rest = await api.get("alerts", params={"pageSize": 1, "nextToken": page.json()["nextToken"]})
    assert len(rest.json()["data"]) == 1
    assert rest.json()["data"][0]["id"] != page.json()["data"][0]["id"]


async def test_another_organization_sees_none_of_them(
    api: OrgApi, other_api: OrgApi, db: Database
) -> None:
    await raise_now(db, occurrence(api, str(uuid.uuid4())))
    [alert] = await listed(api)
    assert await listed(other_api) == []
    assert (await other_api.get(f"alerts/{alert['id']}")).status_code == 404
    moved = await other_api.put(f"alerts/{alert['id']}", {"status": "RESOLVED", "version": 1})
    assert moved.status_code == 404


async def test_rules_can_read_alert_fields(api: OrgApi) -> None:
    fields = await api.get("events/fields", params={"eventName": "configuration.alert.updated"})
    known = fields.json()["events"]["configuration.alert.updated"]
    assert known["new.severity"] == "string"
    assert known["old.count"] == "long"
    rule = await api.post(
        "notifications/configurations",
        {
            "name": "page me",
            "code": "page_me",
            "description": "errors page the team",
            "eventName": "configuration.alert.created",
            "calculation": 'new.severity == "ERROR"',
            "alwaysFireEvent": False,
            "active": True,
        },
    )
    assert rule.status_code == 200, rule.text


async def test_the_alert_entity_crud_gave_way(api: OrgApi) -> None:
    response = await api.post("extension/entities/alert", {})
    assert response.status_code in (404, 405)
