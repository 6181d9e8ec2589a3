"""Notification rules, webhook destinations and integration configurations: the APIs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from meterbell.app import create_app
from meterbell.config import Settings
from meterbell.store.db import Database
from tests.conftest import TEST_SECRET_KEY, OrgApi, new_org_api

RULE = {
    "name": "Commitment 90% spent",
    "code": "commitment-90",
    "description": "tell billing",
    "eventName": "configuration.commitment.updated",
    "calculation": "new.amountSpent >= new.amount * 0.9",
}
WEBHOOK = {
    "name": "Billing hook",
    "description": "ops",
    "url": "http://127.0.0.1:9/hooks/m3ter?tenant=1",
    "credentials": {"type": "M3TER_SIGNED_REQUEST", "apiKey": "key-1", "secret": "s3cret-value"},
}


async def create(api: OrgApi, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_rule_crud_and_filters(api: OrgApi) -> None:
    rule = await create(api, "notifications/configurations", RULE)
    assert rule["version"] == 1
    assert rule["active"] is True
    assert rule["alwaysFireEvent"] is False
    other = await create(
        api,
        "notifications/configurations",
        {
            **RULE,
            "code": "other",
            "eventName": "billing.bill.created",
            "active": False,
            "calculation": None,
            "alwaysFireEvent": True,
        },
    )

    async def listed(**params: str) -> list[str]:
        response = await api.get("notifications/configurations", params=params)
        return [r["id"] for r in response.json()["data"]]

    assert await listed(active="true") == [rule["id"]]
    assert await listed(active="false") == [other["id"]]
    assert await listed(eventName="billing.bill.created") == [other["id"]]
    assert set(await listed(ids=f"{rule['id']},{other['id']}")) == {rule["id"], other["id"]}
    updated = await api.put(f"notifications/configurations/{rule['id']}", {**rule, "active": False})
    assert updated.json()["version"] == 2
    assert (await api.delete(f"notifications/configurations/{rule['id']}")).status_code == 200
    assert (await api.get(f"notifications/configurations/{rule['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"calculation": "new.amountSpent >= "}, "line 1, column"),
        ({"calculation": "new.amountSpnt > 1"}, "did you mean"),
        (
            {"calculation": "old.amount > 1", "eventName": "configuration.commitment.created"},
            "old.",
        ),
        ({"eventName": "configuration.comitment.updated"}, "Did you mean"),
        ({"calculation": None}, "needs a 'calculation' unless 'alwaysFireEvent' is true"),
        ({"code": None}, "'code' must be a string"),
        ({"active": "yes"}, "'active' must be true or false"),
    ],
)
async def test_rule_refusals(api: OrgApi, change: dict[str, Any], expected: str) -> None:
    body = {k: v for k, v in {**RULE, **change}.items() if v is not None or k == "code"}
    response = await api.post("notifications/configurations", body)
    assert response.status_code == 400
    assert expected.lower() in response.json()["message"].lower()


async def test_calculation_error_shows_the_caret(api: OrgApi) -> None:
    response = await api.post(
        "notifications/configurations", {**RULE, "calculation": "new.amount >> 2"}
    )
    message = response.json()["message"]
    assert "^" in message
    assert "new.amount >> 2" in message


async def test_evaluate(api: OrgApi) -> None:
    ok = await api.post(
        "notifications/evaluate",
        {"calculation": RULE["calculation"], "eventName": RULE["eventName"]},
    )
    assert ok.json() == {"success": True, "errorMessage": None}
    bad = await api.post(
        "notifications/evaluate", {"calculation": "new.nope > 1", "eventName": RULE["eventName"]}
    )
    assert bad.json()["success"] is False
    assert "new.nope" in bad.json()["errorMessage"]
    commitment = await create(
        api,
        "commitments",
        {
            "accountId": "6a3d5b1e-2c4f-4e8a-9b7c-000000000001",
            "amount": 100,
            "currency": "USD",
            "startDate": "2026-01-01",
            "endDate": "2027-01-01",
        },
    )
    await api.put(f"commitments/{commitment['id']}", {**commitment, "amountSpent": 95})
    event = (await api.get("events", params={"eventName": RULE["eventName"]})).json()["data"][0]
    fires = await api.post(
        "notifications/evaluate", {"calculation": RULE["calculation"], "eventId": event["id"]}
    )
    assert fires.json()["result"]["fires"] is True
    fails = await api.post(
        "notifications/evaluate",
        {"calculation": "new.amountSpent / (new.amount - 100) > 1", "eventId": event["id"]},
    )
    assert fails.json()["success"] is True
    assert fails.json()["result"]["fires"] is False
    assert "zero" in fails.json()["result"]["error"].lower()
    missing = await api.post("notifications/evaluate", {"eventId": event["id"]})
    assert missing.status_code == 400


async def test_webhook_secret_is_never_returned_and_kept_on_update(
    api: OrgApi, db: Database
) -> None:
    webhook = await create(api, "integrationdestinations/webhooks", WEBHOOK)
    assert webhook["credentials"]["type"] == "M3TER_SIGNED_REQUEST"
    assert webhook["credentials"]["destination"] == "WEBHOOK"
    assert webhook["credentials"]["apiKey"] == "key-1"
    assert webhook["credentials"]["id"]
    assert "s3cret-value" not in str(await api.get("integrationdestinations/webhooks"))
    for response in (
        await api.get(f"integrationdestinations/webhooks/{webhook['id']}"),
        await api.get("integrationdestinations/webhooks"),
    ):
        assert "s3cret-value" not in response.text
        assert "sealedSecret" not in response.text
    async with db.read() as conn:
        stored = (await conn.exec_driver_sql("SELECT data FROM entities")).all()
    assert not any("s3cret-value" in str(row) for row in stored)
    body = {k: v for k, v in webhook.items() if k != "credentials"}
    renamed = await api.put(
        f"integrationdestinations/webhooks/{webhook['id']}", {**body, "name": "N"}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["credentials"]["id"] == webhook["credentials"]["id"]
    off = await api.put(
        f"integrationdestinations/webhooks/{webhook['id']}/active", params={"active": "false"}
    )
    assert off.json()["active"] is False
    assert off.json()["version"] == 3


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://example.com/x", "http:// or https://"),
        ("/relative", "http:// or https://"),
        ("http://user:pw@127.0.0.1/x", "user name or password"),
    ],
)
async def test_webhook_url_must_be_absolute_http(api: OrgApi, url: str, expected: str) -> None:
    response = await api.post("integrationdestinations/webhooks", {**WEBHOOK, "url": url})
    assert response.status_code == 400
    assert expected in response.json()["message"]


async def test_private_targets_are_refused_unless_allowed(
    db: Database, tmp_path_factory: pytest.TempPathFactory
) -> None:
    strict = Settings(data_dir=tmp_path_factory.mktemp("strict"), secret_key=TEST_SECRET_KEY)
    app = create_app(strict, db=db, run_workers=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://meterbell.test"
    ) as client:
        api = await new_org_api(client, db, "Strict")
        for url in (
            "http://127.0.0.1:8080/x",
            "http://10.1.2.3/x",
            "http://[::1]/x",
            "http://169.254.169.254/latest",
            "http://localhost/x",
            # IPv6 forms that embed 127.0.0.1: NAT64, 6to4, IPv4-compatible
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[::127.0.0.1]/",
        ):
            response = await api.post("integrationdestinations/webhooks", {**WEBHOOK, "url": url})
            assert response.status_code == 400, url
            assert "MB_WEBHOOK_ALLOW_PRIVATE" in response.json()["message"]


async def test_integration_config_checks_its_references(api: OrgApi, other_api: OrgApi) -> None:
    rule = await create(api, "notifications/configurations", RULE)
    webhook = await create(api, "integrationdestinations/webhooks", WEBHOOK)
    foreign = await create(other_api, "integrationdestinations/webhooks", WEBHOOK)
    base = {
        "entityType": "Notification",
        "entityId": rule["id"],
        "destination": "Webhook",
        "destinationId": webhook["id"],
        "configData": {},
    }
    config = await create(api, "integrationconfigs", base)
    assert config["enabled"] is True
    for change, expected in (
        ({"destinationId": foreign["id"]}, "'destinationId' must be the id of a webhook"),
        ({"entityId": "nope"}, "'entityId' must be the id of a notification rule"),
        ({"entityType": "Bill"}, "not supported"),
        ({"destination": "Stripe"}, "not supported"),
        ({"entityType": "No spaces allowed"}, "'entityType'"),
    ):
        response = await api.post("integrationconfigs", {**base, **change})
        assert response.status_code == 400, change
        assert expected in response.json()["message"]
    by_destination = await api.get("integrationconfigs", params={"destinationId": webhook["id"]})
    assert [c["id"] for c in by_destination.json()["data"]] == [config["id"]]
    by_entity = await api.get(
        "integrationconfigs/entity/Notification", params={"entityId": rule["id"]}
    )
    assert by_entity.json()["id"] == config["id"]
    in_use = await api.delete(f"integrationdestinations/webhooks/{webhook['id']}")
    assert in_use.status_code == 409
    assert config["id"] in in_use.json()["message"]
    assert (await api.delete(f"integrationconfigs/{config['id']}")).status_code == 200
    assert (
        await api.delete(f"integrationdestinations/webhooks/{webhook['id']}")
    ).status_code == 200


async def test_run_queries_validate_their_parameters(api: OrgApi) -> None:
    bad_status = await api.get("integrationruns/Notification/x", params={"status": "DONE"})
    assert bad_status.status_code == 400
    assert "status must be one of" in bad_status.json()["message"]
    bad_date = await api.get("integrationruns/Notification/x", params={"startDate": "yesterday"})
    assert bad_date.status_code == 400
    assert (await api.get("integrationruns/nope")).status_code == 404
    assert (await api.get("integrationruns/Notification/latest/x")).status_code == 404
