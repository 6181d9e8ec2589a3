"""Slack integration configurations: the incoming-webhook URL given inline as SLACK_WEBHOOK
credentials, sealed at rest and only ever shown masked; every bad input a 400 naming what to
fix; one organization's configuration invisible to another."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from meterbell.app import create_app
from meterbell.config import Settings
from meterbell.domain.documents import DocumentKind
from meterbell.domain.secrets_box import SecretBox
from meterbell.store import documents as document_store
from meterbell.store.db import Database
from tests.conftest import TEST_SECRET_KEY, OrgApi, new_org_api

CONFIGS = "integrationconfigs"
HOOK_URL = "http://127.0.0.1:9/services/T0001/B0001/Xx9secretTokenAbcd"
MASKED = "http://127.0.0.1:9/…Abcd"


async def new_rule(api: OrgApi) -> dict[str, Any]:
    response = await api.post(
        "notifications/configurations",
        {
            "name": "Spend alert",
            "code": "spend_alert",
            "eventName": "configuration.commitment.updated",
            "alwaysFireEvent": True,
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def slack_body(rule_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "entityType": "Notification",
        "entityId": rule_id,
        "destination": "Slack",
        "credentials": {"type": "SLACK_WEBHOOK", "url": HOOK_URL},
        **changes,
    }


async def created(api: OrgApi, **changes: Any) -> dict[str, Any]:
    rule = await new_rule(api)
    response = await api.post(CONFIGS, slack_body(rule["id"], **changes))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def stored(db: Database, api: OrgApi, config_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        document = await document_store.get_entity(
            conn, api.org_id, DocumentKind.INTEGRATION, config_id
        )
    assert document is not None
    return document


async def test_the_url_is_sealed_at_rest_and_shown_masked(api: OrgApi, db: Database) -> None:
    config = await created(api, name="ops channel")
    assert config["destination"] == "Slack"
    assert config["credentials"] == {"type": "SLACK_WEBHOOK", "url": MASKED}
    assert "destinationId" not in config
    assert config["enabled"] is True
    read = await api.get(f"{CONFIGS}/{config['id']}")
    listed = await api.get(CONFIGS, params={"destination": "Slack"})
    for text in (read.text, listed.text):
        assert "Xx9secretToken" not in text
    assert read.json()["credentials"] == config["credentials"]
    assert [c["id"] for c in listed.json()["data"]] == [config["id"]]
    document = await stored(db, api, config["id"])
    sealed = document["credentials"]["sealedUrl"]
    assert "Xx9secretToken" not in str(document)
    assert SecretBox(TEST_SECRET_KEY).open(sealed) == HOOK_URL


async def test_update_keeps_the_url_unless_a_new_one_is_sent(api: OrgApi, db: Database) -> None:
    config = await created(api)
    path = f"{CONFIGS}/{config['id']}"
    box = SecretBox(TEST_SECRET_KEY)
    echoed = await api.put(path, {**config, "name": "renamed"})
    assert echoed.status_code == 200, echoed.text
    assert echoed.json()["name"] == "renamed"
    without = {k: v for k, v in config.items() if k != "credentials"}
    kept = await api.put(path, {**without, "version": 2})
    assert kept.status_code == 200, kept.text
    assert box.open((await stored(db, api, config["id"]))["credentials"]["sealedUrl"]) == HOOK_URL
    new_url = "http://127.0.0.1:9/services/T0001/B0002/AnotherSecretWxyz"
    replaced = await api.put(
        path, {**config, "credentials": {"type": "SLACK_WEBHOOK", "url": new_url}, "version": 3}
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["credentials"]["url"] == "http://127.0.0.1:9/…Wxyz"
    assert box.open((await stored(db, api, config["id"]))["credentials"]["sealedUrl"]) == new_url


async def test_a_webhook_configuration_can_become_a_slack_one(api: OrgApi) -> None:
    """Switching destination needs the Slack credentials; a webhook destination id is then
    refused."""
    config = await created(api)
    path = f"{CONFIGS}/{config['id']}"
    bare = {k: v for k, v in config.items() if k != "credentials"}
    to_webhook = await api.put(path, {**bare, "destination": "Webhook"})
    assert to_webhook.status_code == 400
    assert to_webhook.json()["message"].startswith(
        "'destinationId' must be the id of a webhook destination"
    )
    webhook = await api.post(
        "integrationdestinations/webhooks",
        {
            "name": "hook",
            "url": "http://127.0.0.1:9/hook",
            "credentials": {"type": "M3TER_SIGNED_REQUEST", "apiKey": "k", "secret": "s"},
        },
    )
    as_webhook = await api.put(
        path, {**bare, "destination": "Webhook", "destinationId": webhook.json()["id"]}
    )
    assert as_webhook.status_code == 200, as_webhook.text
    assert "credentials" not in as_webhook.json()
    back = await api.put(path, {**bare, "version": 2})
    assert back.status_code == 400
    assert back.json()["message"].startswith("'credentials' is required for destination Slack")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"credentials": None},
            "'credentials' is required for destination Slack: "
            '{"type": "SLACK_WEBHOOK", "url": "<the incoming-webhook URL>"}',
        ),
        ({"credentials": "https://hooks.slack.com/x"}, "'credentials' must be an object"),
        ({"credentials": {"url": HOOK_URL}}, "'credentials.type' is required"),
        (
            {"credentials": {"type": "M3TER_SIGNED_REQUEST", "url": HOOK_URL}},
            "'credentials.type' must be 'SLACK_WEBHOOK' for destination Slack "
            "(got 'M3TER_SIGNED_REQUEST')",
        ),
        (
            {"credentials": {"type": "HTTP_BASIC", "username": "u", "password": "p"}},
            "'credentials.type' must be 'SLACK_WEBHOOK' for destination Slack (got 'HTTP_BASIC')",
        ),
        (
            {"credentials": {"type": "SLACK_WEBHOOK"}},
            "'credentials.url' is required: the Slack incoming-webhook URL",
        ),
        ({"credentials": {"type": "SLACK_WEBHOOK", "url": 5}}, "'credentials.url'"),
        ({"credentials": {"type": "SLACK_WEBHOOK", "url": ""}}, "'credentials.url'"),
        (
            {"credentials": {"type": "SLACK_WEBHOOK", "url": "hooks.slack.com/services/x"}},
            "'credentials.url' must be an absolute http:// or https:// URL",
        ),
        (
            {"credentials": {"type": "SLACK_WEBHOOK", "url": "ftp://hooks.slack.com/x"}},
            "'credentials.url' must be an absolute http:// or https:// URL",
        ),
        (
            {"credentials": {"type": "SLACK_WEBHOOK", "url": MASKED}},
            "'credentials.url' is masked (as meterbell shows it): send the full incoming-webhook "
            "URL",
        ),
        (
            {"credentials": {"type": "SLACK_WEBHOOK", "url": HOOK_URL, "token": "t"}},
            "'credentials.token'",
        ),
        (
            {"destinationId": "6a3d5b1e-2c4f-4e8a-9b7c-000000000001"},
            "'destinationId' is not used with destination Slack: the incoming-webhook URL goes "
            "in 'credentials.url'",
        ),
        ({"entityId": "not-a-rule"}, "'entityId' must be the id of a notification rule"),
        ({"entityType": "Bill"}, "'destination' Slack is not supported for Bill integrations"),
    ],
)
async def test_bad_input_is_refused_saying_what_to_fix(
    api: OrgApi, changes: dict[str, Any], message: str
) -> None:
    rule = await new_rule(api)
    response = await api.post(CONFIGS, slack_body(rule["id"], **changes))
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(message)


async def test_an_unknown_destination_names_both_supported_ones(api: OrgApi) -> None:
    rule = await new_rule(api)
    response = await api.post(CONFIGS, slack_body(rule["id"], destination="Teams"))
    assert response.status_code == 400
    assert response.json()["message"] == (
        "'destination' Teams is not supported: use 'Webhook' or 'Slack'"
    )


async def test_another_organization_sees_none_of_it(api: OrgApi, other_api: OrgApi) -> None:
    config = await created(api)
    assert (await other_api.get(f"{CONFIGS}/{config['id']}")).status_code == 404
    assert (await other_api.put(f"{CONFIGS}/{config['id']}", config)).status_code == 404
    assert (await other_api.delete(f"{CONFIGS}/{config['id']}")).status_code == 404
    listed = await other_api.get(CONFIGS)
    assert config["id"] not in [c["id"] for c in listed.json()["data"]]
    borrowed = await other_api.post(CONFIGS, slack_body(config["entityId"]))
    assert borrowed.status_code == 400
    assert "'entityId' must be the id of a notification rule" in borrowed.json()["message"]
    assert (await api.get(f"{CONFIGS}/{config['id']}")).status_code == 200


@pytest.fixture
async def strict_api(
    db: Database, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[OrgApi]:
    """An app with the webhook defaults: private targets refused, and only https."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("strict"),
        secret_key=TEST_SECRET_KEY,
        webhook_https_only=True,
    )
    app = create_app(settings, db=db, run_workers=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://meterbell.test") as client:
        yield await new_org_api(client, db, "strict")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://hooks.slack.com/services/T/B/x",
            "'credentials.url' must be an https:// URL: this server refuses plain http webhook "
            "targets (MB_WEBHOOK_HTTPS_ONLY=true)",
        ),
        (
            "https://127.0.0.1/services/T/B/x",
            "'credentials.url': 127.0.0.1 resolves to a private, loopback or link-local address "
            "(127.0.0.1); set MB_WEBHOOK_ALLOW_PRIVATE=true to allow such targets",
        ),
        (
            "https://10.1.2.3/services/T/B/x",
            "'credentials.url': 10.1.2.3 resolves to a private",
        ),
    ],
)
async def test_the_webhook_url_rules_apply(strict_api: OrgApi, url: str, message: str) -> None:
    rule = await new_rule(strict_api)
    credentials = {"type": "SLACK_WEBHOOK", "url": url}
    response = await strict_api.post(CONFIGS, slack_body(rule["id"], credentials=credentials))
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(message)
