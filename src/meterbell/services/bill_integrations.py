"""Bill integration configurations: an accounts-receivable system (HttpJson, Stripe) that
approved or locked bills go to, with its credentials given inline, checked, sealed with
MB_SECRET_KEY and shown masked (domain/bill_credentials.py). `entityId` is an account's id,
or empty for every account's bills. HttpJson's `configData.url` is checked like a webhook's URL
(MB_WEBHOOK_ALLOW_PRIVATE, MB_WEBHOOK_HTTPS_ONLY)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from meterbell.domain.bill_credentials import (
    API_KEY_HEADER_SETTING,
    OAuthClientCredentials,
    parse_credentials,
    shown,
)
from meterbell.domain.connectors import CONNECTORS, auth_types
from meterbell.domain.documents import DocumentKind
from meterbell.domain.errors import InvalidRequest
from meterbell.domain.integrations import (
    BILL_DESTINATIONS,
    BILL_ENTITY,
    HTTP_JSON_DESTINATION,
    SEALED_CREDENTIALS,
    IntegrationConfigFields,
)
from meterbell.services.slack import Sealing
from meterbell.services.webhooks import check_url
from meterbell.store import documents as document_store
from meterbell.store.db import Database

HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$"


def bill_destination(destination: str) -> str:
    """The supported system `destination` names, spelt as meterbell spells it; 400 otherwise."""
    for known in BILL_DESTINATIONS:
        if known.lower() == destination.lower():
            return known
    raise InvalidRequest(
        f"'destination' {destination} is not supported for Bill integrations: use "
        f"{' or '.join(repr(d) for d in BILL_DESTINATIONS)}"
    )


async def _checked_account(db: Database, org_id: str, account_id: str | None) -> str:
    if not account_id:
        return ""
    async with db.read() as conn:
        account = await document_store.get_entity(conn, org_id, DocumentKind.ACCOUNT, account_id)
    if account is None:
        raise InvalidRequest(
            f"'entityId' must be the id of an account in this organization, or empty for "
            f"every account's bills (got {account_id!r})"
        )
    return account_id


async def _checked_config_data(
    destination: str, config_data: Mapping[str, Any], sealing: Sealing
) -> None:
    header = config_data.get(API_KEY_HEADER_SETTING)
    if header is not None and not (isinstance(header, str) and _is_header_name(header)):
        raise InvalidRequest(
            f"'configData.{API_KEY_HEADER_SETTING}' must be an HTTP header name (got {header!r})"
        )
    if destination != HTTP_JSON_DESTINATION:
        return
    url = config_data.get("url")
    if not isinstance(url, str) or not url:
        raise InvalidRequest(
            "'configData.url' is required for destination HttpJson: where bills are POSTed"
        )
    await check_url(
        url,
        allow_private=sealing.allow_private,
        https_only=sealing.https_only,
        field="configData.url",
    )


def _is_header_name(name: str) -> bool:
    return re.fullmatch(HEADER_NAME, name) is not None


def _kept(old: Mapping[str, Any] | None, destination: str) -> dict[str, Any] | None:
    """The stored credentials of `old`, if it is a Bill configuration of `destination`."""
    if old is None or old.get("destination") != destination:
        return None
    return dict(old["credentials"])


async def _sealed_credentials(
    raw: object, old: Mapping[str, Any] | None, destination: str, sealing: Sealing
) -> dict[str, Any]:
    """The credentials to store given `raw` (None: keep those of `old`)."""
    if raw is None:
        kept = _kept(old, destination)
        if kept is None:
            raise InvalidRequest(
                f"'credentials' is required for destination {destination}: its auth types are "
                f"{', '.join(auth_types(CONNECTORS, destination, BILL_ENTITY))}"
            )
        return kept
    credentials = parse_credentials(
        raw, auth_types(CONNECTORS, destination, BILL_ENTITY), destination
    )
    if isinstance(credentials, OAuthClientCredentials):
        await check_url(
            credentials.tokenUrl,
            allow_private=sealing.allow_private,
            https_only=sealing.https_only,
            field="credentials.tokenUrl",
        )
    plain = orjson.dumps(credentials.model_dump(exclude_none=True)).decode()
    return shown(credentials) | {SEALED_CREDENTIALS: sealing.box.seal(plain)}


async def checked_bill_config(
    db: Database,
    org_id: str,
    fields: IntegrationConfigFields,
    sealing: Sealing,
    old: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """A Bill configuration: its own destination, its credentials sealed in it."""
    destination = bill_destination(fields.destination)
    if fields.destinationId:
        raise InvalidRequest(
            f"'destinationId' is not used with destination {destination}: give the "
            "credentials inline in 'credentials'"
        )
    if (fields.model_extra or {}).get("integrationCredentialsId"):
        raise InvalidRequest(
            "'integrationCredentialsId' is not supported: give the credentials inline in "
            "'credentials'"
        )
    await _checked_config_data(destination, fields.configData, sealing)
    raw = (fields.model_extra or {}).get("credentials")
    credentials = await _sealed_credentials(raw, old, destination, sealing)
    return fields.model_dump(exclude={"status", "destinationId", "credentials"}) | {
        "entityType": BILL_ENTITY,
        "entityId": await _checked_account(db, org_id, fields.entityId),
        "destination": destination,
        "credentials": credentials,
    }
