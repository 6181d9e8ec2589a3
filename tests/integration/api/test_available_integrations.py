"""`integrationconfigs/available…`: what this server can deliver, in m3ter's shapes."""

from __future__ import annotations

import pytest

from tests.conftest import OrgApi

SIGNED_REQUEST_SETTINGS = [
    {
        "name": "apiKey",
        "type": "string",
        "required": True,
        "description": "Sent in the X-m3ter-apikey header",
    },
    {
        "name": "secret",
        "type": "string",
        "required": True,
        "description": "Signs each request (HMAC-SHA256)",
    },
]
WEBHOOK_DESTINATION = {
    "apiName": "WEBHOOK",
    "destination": "Webhook",
    "displayName": "Webhook",
    "destinationConfigOptions": [],
    "authConfigOptions": SIGNED_REQUEST_SETTINGS,
    "released": True,
    "authType": "M3TER_SIGNED_REQUEST",
    "categories": ["Notifications"],
}
SLACK_SETTINGS = [
    {
        "name": "url",
        "type": "string",
        "required": True,
        "description": "The Slack incoming-webhook URL (kept secret)",
    }
]
SLACK_DESTINATION = {
    "apiName": "SLACK",
    "destination": "Slack",
    "displayName": "Slack",
    "destinationConfigOptions": [],
    "authConfigOptions": SLACK_SETTINGS,
    "released": True,
    "authType": "SLACK_WEBHOOK",
    "categories": ["Notifications"],
}


async def test_available_configuration_lists_notifications_to_webhooks_and_slack(
    api: OrgApi,
) -> None:
    response = await api.get("integrationconfigs/available", params={"entityType": "notification"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "supportedEntities": {
            "Notification": {
                "readableName": "Notification",
                "destinations": [WEBHOOK_DESTINATION, SLACK_DESTINATION],
                "entityConfigurationOptions": [],
                "released": True,
            }
        },
        "selectedConfigurations": {},
        "globalConfigurationOptions": [],
    }
    everything = await api.get("integrationconfigs/available")
    assert sorted(everything.json()["supportedEntities"]) == ["Bill", "Notification"]
    slack = await api.get("integrationconfigs/available", params={"systemName": "slack"})
    assert slack.json()["supportedEntities"]["Notification"]["destinations"] == [SLACK_DESTINATION]
    none = await api.get("integrationconfigs/available", params={"systemName": "Xero"})
    assert none.status_code == 200
    assert none.json()["supportedEntities"] == {}


async def test_available_configuration_lists_bills_to_http_json_and_stripe(api: OrgApi) -> None:
    response = await api.get("integrationconfigs/available", params={"entityType": "Bill"})
    assert response.status_code == 200, response.text
    (entity,) = response.json()["supportedEntities"].values()
    assert entity["readableName"] == "Bill"
    pairs = [(d["destination"], d["authType"]) for d in entity["destinations"]]
    assert pairs == [
        ("HttpJson", "STATIC_API_KEY"),
        ("HttpJson", "HTTP_BASIC"),
        ("HttpJson", "OAUTH_CLIENT_CREDENTIALS"),
        ("Stripe", "STATIC_API_KEY"),
    ]
    oauth = await api.get("integrationconfigs/available/HttpJson/auth/Bill")
    names = [setting["name"] for setting in oauth.json()]
    assert names == ["apiKey", "username", "password", "clientId", "clientSecret", "tokenUrl"]
    stripe = await api.get("integrationconfigs/available/stripe/entities")
    assert stripe.json() == [{"entityType": "Bill", "readableName": "Bill"}]


async def test_available_systems(api: OrgApi) -> None:
    webhook_system = {
        "identifier": "Webhook",
        "displayName": "Webhook",
        "validationSupported": False,
        "supportedAuthTypes": ["M3TER_SIGNED_REQUEST"],
    }
    slack_system = {
        "identifier": "Slack",
        "displayName": "Slack",
        "validationSupported": False,
        "supportedAuthTypes": ["SLACK_WEBHOOK"],
    }
    systems = await api.get("integrationconfigs/available/systems")
    assert systems.status_code == 200, systems.text
    assert systems.json()[:2] == [webhook_system, slack_system]
    for_notifications = await api.get(
        "integrationconfigs/available/systems", params={"entityType": "Notification"}
    )
    assert for_notifications.json() == [webhook_system, slack_system]
    for_bills = await api.get("integrationconfigs/available/systems", params={"entityType": "Bill"})
    assert for_bills.json() == [
        {
            "identifier": "HttpJson",
            "displayName": "HTTP JSON",
            "validationSupported": False,
            "supportedAuthTypes": ["STATIC_API_KEY", "HTTP_BASIC", "OAUTH_CLIENT_CREDENTIALS"],
        },
        {
            "identifier": "Stripe",
            "displayName": "Stripe",
            "validationSupported": False,
            "supportedAuthTypes": ["STATIC_API_KEY"],
        },
    ]


async def test_available_entities_and_auth_of_a_system(api: OrgApi) -> None:
    entities = await api.get("integrationconfigs/available/Webhook/entities")
    assert entities.status_code == 200, entities.text
    assert entities.json() == [{"entityType": "Notification", "readableName": "Notification"}]
    auth = await api.get("integrationconfigs/available/webhook/auth/Notification")
    assert auth.status_code == 200, auth.text
    assert auth.json() == SIGNED_REQUEST_SETTINGS
    slack_auth = await api.get("integrationconfigs/available/Slack/auth/Notification")
    assert slack_auth.json() == SLACK_SETTINGS


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("integrationconfigs/available/Xero/entities", "No integration system named Xero"),
        (
            "integrationconfigs/available/Xero/auth/Notification",
            "supports HttpJson, Slack, Stripe, Webhook",
        ),
        ("integrationconfigs/available/Stripe/auth/Notification", "Stripe does not take"),
        ("integrationconfigs/available/Webhook/auth/Bill", "Webhook does not take Bill"),
    ],
)
async def test_unknown_systems_and_pairs_are_404(api: OrgApi, path: str, expected: str) -> None:
    response = await api.get(path)
    assert response.status_code == 404
    assert expected in response.json()["message"]


async def test_available_needs_a_token(api: OrgApi) -> None:
    response = await api.client.get(api.url("integrationconfigs/available"))
    assert response.status_code == 401
