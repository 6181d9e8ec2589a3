"""What this build can deliver, as data: one `Connector` per (entity type → destination system).

The `integrationconfigs/available…` endpoints are read from `CONNECTORS`; a new connector
(Stripe, HttpJson, Slack, …) adds an entry here. The response shapes are m3ter's
(AvailableConfigurationResponse, SystemResponse, ConfigOptions). The spec draws ConfigOptions
as an object (a Java ArrayList seen by its generator) but describes it as "an array of
objects": it is sent as a JSON array.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from meterbell.domain.bill_credentials import (
    HTTP_BASIC,
    OAUTH_CLIENT_CREDENTIALS,
    STATIC_API_KEY,
)
from meterbell.domain.errors import NotFound
from meterbell.domain.integrations import (
    BILL_ENTITY,
    HTTP_JSON_DESTINATION,
    NOTIFICATION_ENTITY,
    SLACK_DESTINATION,
    STRIPE_DESTINATION,
    WEBHOOK_DESTINATION,
)
from meterbell.domain.slack import SLACK_WEBHOOK


@dataclass(frozen=True)
class ConfigSetting:
    """One field a user fills in to configure (or authorize) a destination."""

    name: str
    type: str
    required: bool
    description: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "description": self.description,
        }


@dataclass(frozen=True)
class Connector:
    entity_type: str
    entity_readable_name: str
    system: str
    system_display_name: str
    api_name: str  # m3ter's DestinationType
    auth_type: str  # m3ter's AuthType
    auth_settings: tuple[ConfigSetting, ...]
    categories: tuple[str, ...]
    validation_supported: bool = False

    def destination_configuration(self) -> dict[str, Any]:
        return {
            "apiName": self.api_name,
            "destination": self.system,
            "displayName": self.system_display_name,
            "destinationConfigOptions": [],
            "authConfigOptions": [setting.to_json() for setting in self.auth_settings],
            "released": True,
            "authType": self.auth_type,
            "categories": list(self.categories),
        }


CONNECTORS: tuple[Connector, ...] = (
    Connector(
        entity_type=NOTIFICATION_ENTITY,
        entity_readable_name="Notification",
        system=WEBHOOK_DESTINATION,
        system_display_name="Webhook",
        api_name="WEBHOOK",
        auth_type="M3TER_SIGNED_REQUEST",
        auth_settings=(
            ConfigSetting("apiKey", "string", True, "Sent in the X-m3ter-apikey header"),
            ConfigSetting("secret", "string", True, "Signs each request (HMAC-SHA256)"),
        ),
        categories=("Notifications",),
    ),
    # m3ter's DestinationType has no Slack value: "SLACK" by the same pattern.
    Connector(
        entity_type=NOTIFICATION_ENTITY,
        entity_readable_name="Notification",
        system=SLACK_DESTINATION,
        system_display_name="Slack",
        api_name="SLACK",
        auth_type=SLACK_WEBHOOK,
        auth_settings=(
            ConfigSetting("url", "string", True, "The Slack incoming-webhook URL (kept secret)"),
        ),
        categories=("Notifications",),
    ),
    *(
        Connector(
            entity_type=BILL_ENTITY,
            entity_readable_name="Bill",
            system=HTTP_JSON_DESTINATION,
            system_display_name="HTTP JSON",
            api_name="HTTP_JSON",
            auth_type=auth_type,
            auth_settings=settings,
            categories=("Accounting",),
        )
        for auth_type, settings in (
            (
                STATIC_API_KEY,
                (
                    ConfigSetting(
                        "apiKey",
                        "string",
                        True,
                        "Sent as 'Authorization: Bearer <apiKey>', or alone in the header "
                        "configData.apiKeyHeader names",
                    ),
                ),
            ),
            (
                HTTP_BASIC,
                (
                    ConfigSetting("username", "string", True, "HTTP Basic user name"),
                    ConfigSetting("password", "string", True, "HTTP Basic password"),
                ),
            ),
            (
                OAUTH_CLIENT_CREDENTIALS,
                (
                    ConfigSetting("clientId", "string", True, "OAuth 2.0 client id"),
                    ConfigSetting("clientSecret", "string", True, "OAuth 2.0 client secret"),
                    ConfigSetting(
                        "tokenUrl", "string", True, "Where the client credentials get a token"
                    ),
                ),
            ),
        )
    ),
    Connector(
        entity_type=BILL_ENTITY,
        entity_readable_name="Bill",
        system=STRIPE_DESTINATION,
        system_display_name="Stripe",
        api_name="STRIPE",
        auth_type=STATIC_API_KEY,
        auth_settings=(ConfigSetting("apiKey", "string", True, "The Stripe secret key"),),
        categories=("Accounting",),
    ),
)


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _matching(
    connectors: Sequence[Connector],
    *,
    entity_type: str | None = None,
    system: str | None = None,
) -> list[Connector]:
    return [
        c
        for c in connectors
        if (entity_type is None or _same(c.entity_type, entity_type))
        and (system is None or _same(c.system, system))
    ]


def available_configuration(
    connectors: tuple[Connector, ...], *, entity_type: str | None, system: str | None
) -> dict[str, Any]:
    """`GET integrationconfigs/available`: entity types and where each can be delivered."""
    entities: dict[str, Any] = {}
    for connector in _matching(connectors, entity_type=entity_type, system=system):
        entity = entities.setdefault(
            connector.entity_type,
            {
                "readableName": connector.entity_readable_name,
                "destinations": [],
                "entityConfigurationOptions": [],
                "released": True,
            },
        )
        entity["destinations"].append(connector.destination_configuration())
    return {
        "supportedEntities": entities,
        "selectedConfigurations": {},
        "globalConfigurationOptions": [],
    }


def available_systems(
    connectors: tuple[Connector, ...], *, entity_type: str | None
) -> list[dict[str, Any]]:
    """`GET integrationconfigs/available/systems`: one SystemResponse per destination system."""
    systems: dict[str, dict[str, Any]] = {}
    for connector in _matching(connectors, entity_type=entity_type):
        system = systems.setdefault(
            connector.system,
            {
                "identifier": connector.system,
                "displayName": connector.system_display_name,
                "validationSupported": connector.validation_supported,
                "supportedAuthTypes": [],
            },
        )
        if connector.auth_type not in system["supportedAuthTypes"]:
            system["supportedAuthTypes"].append(connector.auth_type)
    return list(systems.values())


def _of_system(connectors: Sequence[Connector], system: str) -> list[Connector]:
    found = _matching(connectors, system=system)
    if not found:
        known = ", ".join(sorted({c.system for c in connectors}))
        raise NotFound(f"No integration system named {system}: this server supports {known}")
    return found


def system_entities(connectors: tuple[Connector, ...], system: str) -> list[dict[str, Any]]:
    """`GET integrationconfigs/available/{systemName}/entities`."""
    return [
        {"entityType": c.entity_type, "readableName": c.entity_readable_name}
        for c in _of_system(connectors, system)
    ]


def auth_options(
    connectors: tuple[Connector, ...], system: str, entity_type: str
) -> list[dict[str, Any]]:
    """`GET integrationconfigs/available/{systemName}/auth/{entityType}`: the ConfigOptions
    (settings) that authorize delivering `entity_type` to `system`."""
    found = _matching(_of_system(connectors, system), entity_type=entity_type)
    if not found:
        raise NotFound(f"{system} does not take {entity_type} integrations")
    return [setting.to_json() for c in found for setting in c.auth_settings]


def auth_types(connectors: tuple[Connector, ...], system: str, entity_type: str) -> tuple[str, ...]:
    """The auth types (credential types) `system` takes for `entity_type` integrations."""
    return tuple(c.auth_type for c in _matching(connectors, entity_type=entity_type, system=system))
