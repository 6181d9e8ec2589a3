"""Webhook destinations (`integrationdestinations/webhooks`): where notifications are sent.

The signing secret is sealed with MB_SECRET_KEY before it is stored and never returned.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson

from meterbell.domain.clock import isoformat, utcnow
from meterbell.domain.documents import DocumentKind
from meterbell.domain.errors import Conflict, InvalidRequest
from meterbell.domain.integrations import SEALED_SECRET, WebhookFields, without_nulls
from meterbell.domain.listing import FieldFilter, id_filters
from meterbell.domain.pagination import Page
from meterbell.domain.secrets_box import SecretBox
from meterbell.domain.urls import is_public_address, url_problem
from meterbell.domain.validation import SERVER_FIELDS, validate_model
from meterbell.services import versioned
from meterbell.services.versioned import Document, Kind
from meterbell.store import documents as document_store
from meterbell.store.db import Database
from meterbell.workers.sender import SignedSender

WEBHOOK = Kind(DocumentKind.WEBHOOK, "Webhook destination")
INTEGRATION = Kind(DocumentKind.INTEGRATION, "Integration configuration")
MAX_PAGE_SIZE = 200
TEST_EVENT = "meterbell.webhook.test"
# How much of the receiver's answer to a test notification is shown.
RESPONSE_EXCERPT = 2000


def public_webhook(document: Mapping[str, Any]) -> Document:
    """The destination as the API shows it: credentials without their secret, no null code."""
    credentials = {k: v for k, v in document["credentials"].items() if k != SEALED_SECRET}
    return {**without_nulls(document, ("code",)), "credentials": credentials}


async def _resolved_addresses(host: str, port: int) -> list[str]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidRequest(f"'url': the host '{host}' does not resolve ({exc.strerror})") from exc
    return [str(info[4][0]) for info in infos]


async def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse URLs meterbell must not call (see MB_WEBHOOK_ALLOW_PRIVATE)."""
    if problem := url_problem(url):
        raise InvalidRequest(f"'url' {problem}")
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    private = [a for a in await _resolved_addresses(host, port) if not is_public_address(a)]
    if private:
        raise InvalidRequest(
            f"'url': {host} resolves to a private, loopback or link-local address "
            f"({private[0]}); set MB_WEBHOOK_ALLOW_PRIVATE=true to allow such targets"
        )


def _credentials(
    fields: WebhookFields, box: SecretBox, webhook_id: str, old: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Stored credentials: a new secret is sealed; without one, the old secret stays."""
    previous = dict(old["credentials"]) if old else {}
    sent = fields.credentials
    if sent is None:
        if not previous:
            raise InvalidRequest("'credentials' is required: {type, apiKey, secret}")
        return previous
    if sent.secret is None and SEALED_SECRET not in previous:
        raise InvalidRequest("'credentials.secret' is required")
    extra = sent.model_dump(exclude={"secret"}, exclude_none=True)
    return {
        **extra,
        "id": previous.get("id", str(uuid.uuid4())),
        "destination": "WEBHOOK",
        "destinationId": webhook_id,
        SEALED_SECRET: box.seal(sent.secret) if sent.secret else previous[SEALED_SECRET],
    }


async def _checked(
    body: object,
    box: SecretBox,
    webhook_id: str,
    old: Mapping[str, Any] | None,
    allow_private: bool,
) -> dict[str, Any]:
    fields = validate_model(WebhookFields, body)
    await check_url(fields.url, allow_private=allow_private)
    document = fields.model_dump(exclude={"credentials"})
    document["credentials"] = _credentials(fields, box, webhook_id, old)
    return document


async def create_webhook(
    db: Database, box: SecretBox, org_id: str, body: object, actor: str, *, allow_private: bool
) -> Document:
    webhook_id = str(uuid.uuid4())
    fields = await _checked(body, box, webhook_id, None, allow_private)
    document = versioned.stamped(
        fields, document_id=webhook_id, version=1, created=None, actor=actor
    )
    await versioned.write(db, org_id, WEBHOOK, None, document)
    return public_webhook(document)


async def get_webhook(db: Database, org_id: str, webhook_id: str) -> Document:
    return public_webhook(await versioned.get(db, org_id, WEBHOOK, webhook_id))


async def update_webhook(
    db: Database,
    box: SecretBox,
    org_id: str,
    webhook_id: str,
    body: object,
    actor: str,
    *,
    allow_private: bool,
) -> Document:
    old = await versioned.get(db, org_id, WEBHOOK, webhook_id)
    fields = await _checked(body, box, webhook_id, old, allow_private)
    version = versioned.requested_version(body)
    updated = await versioned.replace(db, org_id, WEBHOOK, webhook_id, fields, version, actor)
    return public_webhook(updated)


async def set_active(
    db: Database, org_id: str, webhook_id: str, active: bool, actor: str
) -> Document:
    old = await versioned.get(db, org_id, WEBHOOK, webhook_id)
    fields = {k: v for k, v in old.items() if k not in SERVER_FIELDS} | {"active": active}
    updated = await versioned.replace(
        db, org_id, WEBHOOK, webhook_id, fields, int(old["version"]), actor
    )
    return public_webhook(updated)


async def delete_webhook(db: Database, org_id: str, webhook_id: str) -> Document:
    async with db.read() as conn:
        users = await document_store.list_entities(
            conn,
            org_id,
            INTEGRATION.name,
            filters=[FieldFilter("destinationId", "eq", (webhook_id,))],
            before_seq=None,
            limit=20,
        )
    if users:
        ids = ", ".join(document["id"] for _, document in users)
        raise Conflict(
            f"Webhook destination {webhook_id} is used by integration configurations {ids}: "
            "delete those first"
        )
    return public_webhook(await versioned.delete(db, org_id, WEBHOOK, webhook_id))


async def list_webhooks(
    db: Database, org_id: str, query: Mapping[str, Sequence[str]], *, page_size: int
) -> Page:
    filters = id_filters(query)
    page = await versioned.list_page(db, org_id, WEBHOOK, filters, query, page_size=page_size)
    return Page([public_webhook(item) for item in page.data], page.next_token)


def _test_body(webhook: Mapping[str, Any], event_id: str) -> bytes:
    """A test notification, shaped like the events the deliverer sends."""
    return orjson.dumps(
        {
            "id": event_id,
            "eventName": TEST_EVENT,
            "eventTime": isoformat(utcnow()),
            "dtActioned": None,
            "m3terEvent": {
                "eventData": {"test": True, "destinationId": webhook["id"]},
                "message": f"A test notification to webhook destination {webhook['name']}",
            },
        }
    )


async def send_test_notification(
    db: Database,
    box: SecretBox,
    org_id: str,
    webhook_id: str,
    *,
    timeout_s: float,
    allow_private: bool,
) -> dict[str, Any]:
    """Send one signed test notification to the destination, on the path (and under the
    address rules) of every delivery, and say what came of it. Nothing is recorded."""
    webhook = await versioned.get(db, org_id, WEBHOOK, webhook_id)
    credentials = webhook["credentials"]
    delivery_id = str(uuid.uuid4())
    sender = SignedSender(timeout_s=timeout_s, allow_private=allow_private, concurrency=1)
    await sender.open()
    try:
        sent = await sender.post(
            webhook["url"],
            credentials["apiKey"],
            box.open(credentials[SEALED_SECRET]),
            _test_body(webhook, delivery_id),
            delivery_id,
        )
    finally:
        await sender.close()
    return {
        "deliveryId": delivery_id,
        "url": webhook["url"],
        "success": sent.outcome.ok,
        "statusCode": sent.status_code,
        "durationMs": round(sent.seconds * 1000, 2),
        "responseExcerpt": sent.response_body[:RESPONSE_EXCERPT],
        "error": sent.outcome.error,
    }
