"""Webhook destinations and integration configurations in the shapes of m3ter's spec, which
the SDK checks in strict mode: a configuration has a `status`; absent strings are left out,
not null."""

from __future__ import annotations

from tests.conftest import OrgApi
from tests.integrating import wired_rule


async def test_absent_code_and_name_are_left_out(api: OrgApi) -> None:
    wired = await wired_rule(api)
    assert "code" not in wired.webhook
    assert "name" not in wired.config
    webhook = (await api.get(f"integrationdestinations/webhooks/{wired.webhook['id']}")).json()
    assert "code" not in webhook
    listed = await api.get("integrationdestinations/webhooks", params={"ids": webhook["id"]})
    assert "code" not in listed.json()["data"][0]
    named = await api.put(
        f"integrationdestinations/webhooks/{webhook['id']}", {**webhook, "code": "billing-hook"}
    )
    assert named.json()["code"] == "billing-hook"


async def test_integration_configurations_carry_a_status(api: OrgApi) -> None:
    wired = await wired_rule(api)
    config_id = wired.config["id"]
    assert wired.config["status"] == "WAITING"
    reads = [
        await api.get(f"integrationconfigs/{config_id}"),
        await api.get(
            "integrationconfigs/entity/Notification", params={"entityId": wired.rule["id"]}
        ),
        await api.post(f"integrationconfigs/{config_id}/enable"),
    ]
    for response in reads:
        assert response.status_code == 200, response.text
        assert (response.json()["id"], response.json()["status"]) == (config_id, "WAITING")
    listed = await api.get("integrationconfigs", params={"destinationId": wired.webhook["id"]})
    assert [c["status"] for c in listed.json()["data"]] == ["WAITING"]

    # A client that sends back what it read (status included) does not set the status.
    current = reads[-1].json()
    sent_back = await api.put(
        f"integrationconfigs/{config_id}", {**current, "status": "DISABLED", "name": "to billing"}
    )
    assert sent_back.status_code == 200, sent_back.text
    assert (sent_back.json()["status"], sent_back.json()["name"]) == ("WAITING", "to billing")
    deleted = await api.delete(f"integrationconfigs/{config_id}")
    assert deleted.json()["status"] == "WAITING"


async def test_inline_credentials_are_refused_not_stored_in_plain_text(api: OrgApi) -> None:
    wired = await wired_rule(api)
    secret = "do-not-echo-this-secret"
    body = {
        key: wired.config[key] for key in ("entityType", "entityId", "destination", "destinationId")
    } | {"credentials": {"type": "HTTP_BASIC", "username": "u", "password": secret}}
    refused = [
        await api.post("integrationconfigs", body),
        await api.put(f"integrationconfigs/{wired.config['id']}", body),
    ]
    for response in refused:
        assert response.status_code == 400, response.text
        assert "webhook destination" in response.json()["message"]
    listed = await api.get("integrationconfigs")
    assert secret not in listed.text
