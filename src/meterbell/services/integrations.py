"""Integration configurations (`integrationconfigs`): which rule is delivered to which webhook,
and which accounts' bills go to which accounts-receivable system.

meterbell delivers Notification integrations to a webhook destination, or to Slack (the
incoming-webhook URL in the configuration's own `credentials`, sealed: services/slack.py), and
Bill integrations to HttpJson or Stripe (services/bill_integrations.py).
`enabled` is managed by the service (auto-disable after repeated failures, `POST …/enable` to
turn it back on).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.alerts import AlertType
from meterbell.domain.clock import utcnow
from meterbell.domain.errors import InvalidRequest, NotFound
from meterbell.domain.integrations import (
    BILL_ENTITY,
    NOTIFICATION_ENTITY,
    SLACK_DESTINATION,
    WEBHOOK_DESTINATION,
    IntegrationConfigFields,
    config_status,
    without_nulls,
)
from meterbell.domain.listing import FieldFilter, id_filters
from meterbell.domain.pagination import Page
from meterbell.domain.validation import SERVER_FIELDS, validate_model
from meterbell.services import alerts, versioned
from meterbell.services.bill_integrations import checked_bill_config
from meterbell.services.notifications import RULE
from meterbell.services.slack import Sealing, public_credentials, slack_credentials
from meterbell.services.versioned import Document
from meterbell.services.webhooks import INTEGRATION, WEBHOOK
from meterbell.store import documents as document_store
from meterbell.store import runs as run_store
from meterbell.store.db import Database

MAX_PAGE_SIZE = 200


async def _exists(db: Database, org_id: str, kind: versioned.Kind, document_id: str) -> bool:
    async with db.read() as conn:
        return await document_store.get_entity(conn, org_id, kind.name, document_id) is not None


async def _checked_rule(db: Database, org_id: str, fields: IntegrationConfigFields) -> None:
    if not fields.entityId or not await _exists(db, org_id, RULE, fields.entityId):
        raise InvalidRequest(
            f"'entityId' must be the id of a notification rule in this organization "
            f"(got {fields.entityId!r})"
        )


async def _checked(
    db: Database,
    org_id: str,
    body: object,
    sealing: Sealing,
    old: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    fields = validate_model(IntegrationConfigFields, body)
    if fields.entityType.lower() == BILL_ENTITY.lower():
        return await checked_bill_config(db, org_id, fields, sealing, old)
    if fields.entityType.lower() != NOTIFICATION_ENTITY.lower():
        raise InvalidRequest(
            f"'entityType' {fields.entityType} is not supported: meterbell delivers "
            "'Notification' and 'Bill' integrations"
        )
    if fields.destination.lower() == SLACK_DESTINATION.lower():
        return await _checked_slack(db, org_id, fields, sealing, old)
    if fields.destination.lower() != WEBHOOK_DESTINATION.lower():
        raise InvalidRequest(
            f"'destination' {fields.destination} is not supported: use 'Webhook' or 'Slack'"
        )
    if fields.model_extra and "credentials" in fields.model_extra:
        raise InvalidRequest(
            "'credentials' cannot be given on a Notification integration: put them on its "
            "webhook destination (integrationdestinations/webhooks), where they are encrypted"
        )
    await _checked_rule(db, org_id, fields)
    if not fields.destinationId or not await _exists(db, org_id, WEBHOOK, fields.destinationId):
        raise InvalidRequest(
            f"'destinationId' must be the id of a webhook destination in this organization "
            f"(got {fields.destinationId!r})"
        )
    # `status` is derived from `enabled` on every read (see public_config), never stored.
    return fields.model_dump(exclude={"status"}) | {
        "entityType": NOTIFICATION_ENTITY,
        "destination": WEBHOOK_DESTINATION,
    }


async def _checked_slack(
    db: Database,
    org_id: str,
    fields: IntegrationConfigFields,
    sealing: Sealing,
    old: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """A Slack configuration: its own destination, the URL in its (sealed) credentials."""
    if fields.destinationId:
        raise InvalidRequest(
            "'destinationId' is not used with destination Slack: the incoming-webhook URL goes "
            "in 'credentials.url'"
        )
    await _checked_rule(db, org_id, fields)
    raw = (fields.model_extra or {}).get("credentials")
    credentials = await slack_credentials(raw, old, sealing)
    return fields.model_dump(exclude={"status", "destinationId", "credentials"}) | {
        "entityType": NOTIFICATION_ENTITY,
        "destination": SLACK_DESTINATION,
        "credentials": credentials,
    }


def public_config(document: Mapping[str, Any]) -> Document:
    """The configuration as the API shows it, with the run-shaped `status` m3ter's spec (and so
    the SDK, in strict mode) requires of it."""
    shown = without_nulls(document, ("name",))
    if "credentials" in shown:
        shown["credentials"] = public_credentials(shown["credentials"])
    return {**shown, "status": config_status(bool(document.get("enabled", True)))}


async def create_config(
    db: Database, org_id: str, body: object, actor: str, sealing: Sealing
) -> Document:
    fields = await _checked(db, org_id, body, sealing) | {"enabled": True}
    return public_config(await versioned.create(db, org_id, INTEGRATION, fields, actor))


async def _stored_config(db: Database, org_id: str, config_id: str) -> Document:
    return await versioned.get(db, org_id, INTEGRATION, config_id)


async def get_config(db: Database, org_id: str, config_id: str) -> Document:
    return public_config(await _stored_config(db, org_id, config_id))


async def update_config(
    db: Database, org_id: str, config_id: str, body: object, actor: str, sealing: Sealing
) -> Document:
    old = await _stored_config(db, org_id, config_id)
    fields = await _checked(db, org_id, body, sealing, old) | {"enabled": old.get("enabled", True)}
    version = versioned.requested_version(body)
    updated = await versioned.replace(db, org_id, INTEGRATION, config_id, fields, version, actor)
    return public_config(updated)


async def delete_config(db: Database, org_id: str, config_id: str) -> Document:
    return public_config(await versioned.delete(db, org_id, INTEGRATION, config_id))


async def enable_config(db: Database, org_id: str, config_id: str, actor: str) -> Document:
    """Turn a (possibly auto-disabled) integration back on and forget its failures."""
    old = await _stored_config(db, org_id, config_id)
    fields = {k: v for k, v in old.items() if k not in SERVER_FIELDS and k != "disabledReason"}
    document = versioned.stamped(
        fields | {"enabled": True},
        document_id=config_id,
        version=int(old["version"]) + 1,
        created=old,
        actor=actor,
    )

    async def start_afresh(conn: AsyncConnection, _document: Mapping[str, Any]) -> None:
        await run_store.reset_failures(conn, [config_id])
        # Its failures are forgotten, so are their alerts: a failure from now on opens anew.
        for alert_type in (
            AlertType.INTEGRATION_DISABLED,
            AlertType.INTEGRATION_PERFORM_ERROR,
            AlertType.INTEGRATION_FAILING,
            AlertType.INTEGRATION_AUTHENTICATION_ERROR,
            AlertType.INTEGRATION_VALIDATION_ERROR,
            AlertType.INTEGRATION_MISSING_ACCOUNT_MAPPING,
        ):
            await alerts.resolve_alerts(
                conn,
                org_id,
                alert_type,
                [config_id],
                f"the integration was re-enabled by {actor}.",
                utcnow(),
            )

    await versioned.write(db, org_id, INTEGRATION, old, document, also=start_afresh)
    return public_config(document)


def _config_filters(query: Mapping[str, Sequence[str]]) -> list[FieldFilter]:
    filters = id_filters(query)
    for param in ("destinationId", "entityId", "destination"):
        if value := query.get(param, [""])[-1]:
            filters.append(FieldFilter(param, "eq", (value,)))
    return filters


async def list_configs(
    db: Database, org_id: str, query: Mapping[str, Sequence[str]], *, page_size: int
) -> Page:
    filters = _config_filters(query)
    page = await versioned.list_page(db, org_id, INTEGRATION, filters, query, page_size=page_size)
    return Page([public_config(item) for item in page.data], page.next_token)


async def config_for_entity(
    db: Database, org_id: str, entity_type: str, query: Mapping[str, Sequence[str]]
) -> Document:
    """The newest configuration for an entity type (and entity, destination, if given)."""
    filters = [FieldFilter("entityType", "eq", (entity_type,)), *_config_filters(query)]
    async with db.read() as conn:
        rows = await document_store.list_entities(
            conn, org_id, INTEGRATION.name, filters=filters, before_seq=None, limit=1
        )
    if not rows:
        raise NotFound(f"No integration configuration for entity type {entity_type}")
    return public_config(rows[0][1])


async def count_disabled(db: Database, org_id: str) -> int:
    """How many of the organization's integration configurations are disabled."""
    async with db.read() as conn:
        documents = await document_store.documents_of_org(conn, INTEGRATION.name, org_id)
    return sum(1 for document in documents if not document.get("enabled", True))
