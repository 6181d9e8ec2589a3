"""Webhook destinations (`integrationdestinations/webhooks`): where notifications are sent.

The signing secret is sealed with MB_SECRET_KEY before it is stored. It is never returned,
except once: a secret meterbell generates (a STANDARD_WEBHOOKS destination created without
one, or `rotatesecret`) is in the answer to the request that generated it. A rotated secret
keeps signing, sealed like the current one, until its overlap ends.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from meterbell.domain.clock import isoformat, utcnow
from meterbell.domain.documents import DocumentKind
from meterbell.domain.errors import Conflict, InvalidRequest
from meterbell.domain.integrations import (
    CREDENTIALS_BODIES,
    MAX_PREVIOUS_SECRETS,
    PREVIOUS_SECRETS,
    SEALED_SECRET,
    OpenedSecrets,
    SignedCredentials,
    StandardWebhooksCredentials,
    WebhookFields,
    delivery_target,
    request_headers,
    without_nulls,
)
from meterbell.domain.listing import FieldFilter, id_filters
from meterbell.domain.pagination import Page
from meterbell.domain.secrets_box import SecretBox
from meterbell.domain.signing import (
    Scheme,
    new_m3ter_secret,
    new_standard_secret,
    standard_secret_problem,
    static_headers_problem,
)
from meterbell.domain.urls import is_public_address, url_problem
from meterbell.domain.validation import SERVER_FIELDS, validate_model
from meterbell.services import versioned
from meterbell.services.versioned import Document, Kind
from meterbell.store import documents as document_store
from meterbell.store import lanes as lane_store
from meterbell.store.db import Database
from meterbell.workers.sender import SignedSender

WEBHOOK = Kind(DocumentKind.WEBHOOK, "Webhook destination")
INTEGRATION = Kind(DocumentKind.INTEGRATION, "Integration configuration")
MAX_PAGE_SIZE = 200
# In the API's view of credentials: until when replaced secrets still sign (read only).
VALID_UNTIL = "previousSecretsValidUntil"
TEST_EVENT = "meterbell.webhook.test"
# How much of the receiver's answer to a test notification is shown.
RESPONSE_EXCERPT = 2000


def public_webhook(document: Mapping[str, Any], *, new_secret: str | None = None) -> Document:
    """The destination as the API shows it: credentials without their secrets (but the one
    just generated, `new_secret`), until when replaced secrets still sign, no null code."""
    stored = document["credentials"]
    credentials = {k: v for k, v in stored.items() if k not in (SEALED_SECRET, PREVIOUS_SECRETS)}
    now = utcnow()
    valid_until = [
        old["validUntil"]
        for old in stored.get(PREVIOUS_SECRETS, ())
        if datetime.fromisoformat(old["validUntil"]) > now
    ]
    if valid_until:
        credentials[VALID_UNTIL] = valid_until
    if new_secret is not None:
        credentials["secret"] = new_secret
    return {**without_nulls(document, ("code",)), "credentials": credentials}


async def _resolved_addresses(host: str, port: int, field: str) -> list[str]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidRequest(
            f"'{field}': the host '{host}' does not resolve ({exc.strerror})"
        ) from exc
    return [str(info[4][0]) for info in infos]


async def check_url(
    url: str, *, allow_private: bool, https_only: bool = False, field: str = "url"
) -> None:
    """Refuse URLs meterbell must not call (see MB_WEBHOOK_ALLOW_PRIVATE and
    MB_WEBHOOK_HTTPS_ONLY); messages name the request's `field`."""
    if problem := url_problem(url):
        raise InvalidRequest(f"'{field}' {problem}")
    if https_only and urlsplit(url).scheme != "https":
        raise InvalidRequest(
            f"'{field}' must be an https:// URL: this server refuses plain http webhook targets "
            "(MB_WEBHOOK_HTTPS_ONLY=true)"
        )
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    private = [a for a in await _resolved_addresses(host, port, field) if not is_public_address(a)]
    if private:
        raise InvalidRequest(
            f"'{field}': {host} resolves to a private, loopback or link-local address "
            f"({private[0]}); set MB_WEBHOOK_ALLOW_PRIVATE=true to allow such targets"
        )


def _same_secret(box: SecretBox, sealed: str, secret: str) -> bool:
    try:
        return box.open(sealed) == secret
    except ValueError:
        return False


def _sent_credentials(
    raw: Mapping[str, Any],
) -> SignedCredentials | StandardWebhooksCredentials:
    scheme = raw.get("type")
    if scheme is None:
        raise InvalidRequest("'credentials.type' is required")
    body = CREDENTIALS_BODIES.get(scheme) if isinstance(scheme, str) else None
    if body is None:
        names = ", ".join(f"'{name}'" for name in CREDENTIALS_BODIES)
        raise InvalidRequest(f"'credentials.type' must be one of: {names}")
    return validate_model(body, {"credentials": raw}).credentials


def _credentials(
    fields: WebhookFields, box: SecretBox, webhook_id: str, old: Mapping[str, Any] | None
) -> tuple[dict[str, Any], str | None]:
    """Stored credentials, and the secret generated for them (returned once) if any. A new
    secret is sealed and ends any rotation's overlap; without one, the stored secrets stay (a
    STANDARD_WEBHOOKS destination without a secret of its type gets a generated one)."""
    previous = dict(old["credentials"]) if old else {}
    if fields.credentials is None:
        if not previous:
            raise InvalidRequest("'credentials' is required: {type, apiKey, secret}")
        return previous, None
    sent = _sent_credentials(fields.credentials)
    same_type = previous.get("type", Scheme.M3TER_SIGNED_REQUEST) == sent.type and bool(previous)
    generated = None
    kept = {k: previous[k] for k in (SEALED_SECRET, PREVIOUS_SECRETS) if k in previous}
    if sent.secret is not None:
        if sent.type == Scheme.STANDARD_WEBHOOKS and (
            problem := standard_secret_problem(sent.secret)
        ):
            raise InvalidRequest(f"'credentials.secret' {problem}")
        if not (same_type and _same_secret(box, previous[SEALED_SECRET], sent.secret)):
            kept = {SEALED_SECRET: box.seal(sent.secret)}
    elif not same_type:
        if sent.type != Scheme.STANDARD_WEBHOOKS:
            raise InvalidRequest("'credentials.secret' is required")
        generated = new_standard_secret()
        kept = {SEALED_SECRET: box.seal(generated)}
    extra = sent.model_dump(exclude={"secret", VALID_UNTIL}, exclude_none=True)
    credentials = {
        **extra,
        "id": previous.get("id", str(uuid.uuid4())),
        "destination": "WEBHOOK",
        "destinationId": webhook_id,
        **kept,
    }
    return credentials, generated


def _static_headers(fields: WebhookFields) -> dict[str, Any] | None:
    if fields.headers is not None and (problem := static_headers_problem(fields.headers)):
        raise InvalidRequest(f"'headers': {problem}")
    return fields.headers


async def _checked(
    body: object,
    box: SecretBox,
    webhook_id: str,
    old: Mapping[str, Any] | None,
    allow_private: bool,
    https_only: bool,
) -> tuple[dict[str, Any], str | None]:
    fields = validate_model(WebhookFields, body)
    await check_url(fields.url, allow_private=allow_private, https_only=https_only)
    headers = _static_headers(fields)
    document = fields.model_dump(
        exclude={"credentials", "headers", "ordered", "maxRequestsPerSecond"}
    )
    if headers:
        document["headers"] = headers
    if fields.ordered:
        document["ordered"] = True
    if fields.maxRequestsPerSecond is not None:
        document["maxRequestsPerSecond"] = fields.maxRequestsPerSecond
    document["credentials"], generated = _credentials(fields, box, webhook_id, old)
    return document, generated


async def create_webhook(
    db: Database,
    box: SecretBox,
    org_id: str,
    body: object,
    actor: str,
    *,
    allow_private: bool,
    https_only: bool = False,
) -> Document:
    webhook_id = str(uuid.uuid4())
    fields, generated = await _checked(body, box, webhook_id, None, allow_private, https_only)
    document = versioned.stamped(
        fields, document_id=webhook_id, version=1, created=None, actor=actor
    )
    await versioned.write(db, org_id, WEBHOOK, None, document, also=_lane_of(org_id))
    return public_webhook(document, new_secret=generated)


def _lane_of(org_id: str, *, deleted: bool = False) -> versioned.AlsoInTransaction:
    """Keep the destination's delivery lane (store/lanes.py) in step with its settings; a
    deleted destination has none."""

    async def set_lane(conn: AsyncConnection, webhook: Mapping[str, Any]) -> None:
        await lane_store.set_lane(
            conn,
            org_id,
            str(webhook["id"]),
            ordered=not deleted and bool(webhook.get("ordered")),
            max_per_second=None if deleted else webhook.get("maxRequestsPerSecond"),
        )

    return set_lane


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
    https_only: bool = False,
) -> Document:
    old = await versioned.get(db, org_id, WEBHOOK, webhook_id)
    fields, generated = await _checked(body, box, webhook_id, old, allow_private, https_only)
    version = versioned.requested_version(body)
    updated = await versioned.replace(
        db, org_id, WEBHOOK, webhook_id, fields, version, actor, also=_lane_of(org_id)
    )
    return public_webhook(updated, new_secret=generated)


def _rotated(
    credentials: Mapping[str, Any], box: SecretBox, new_secret: str, valid_until: datetime
) -> dict[str, Any]:
    """`credentials` with `new_secret` current; the one it replaces signs until
    `valid_until`, with the others still in their overlap (MAX_PREVIOUS_SECRETS at most)."""
    now = utcnow()
    still_valid = [
        old
        for old in credentials.get(PREVIOUS_SECRETS, ())
        if datetime.fromisoformat(old["validUntil"]) > now
    ]
    replaced = {SEALED_SECRET: credentials[SEALED_SECRET], "validUntil": isoformat(valid_until)}
    return {
        **credentials,
        SEALED_SECRET: box.seal(new_secret),
        PREVIOUS_SECRETS: [replaced, *still_valid][:MAX_PREVIOUS_SECRETS],
    }


async def rotate_secret(
    db: Database,
    box: SecretBox,
    org_id: str,
    webhook_id: str,
    body: object,
    actor: str,
    *,
    overlap_s: float,
) -> Document:
    """Replace the destination's secret with a generated one, returned once; the old one
    keeps signing (beside the new) for `overlap_s`. The body may name the `version` the
    caller read (409 if stale)."""
    if not isinstance(body, Mapping):
        raise InvalidRequest("The request body must be a JSON object (or empty)")
    old = await versioned.get(db, org_id, WEBHOOK, webhook_id)
    version = versioned.requested_version(body) if "version" in body else int(old["version"])
    credentials = old["credentials"]
    scheme = credentials.get("type", Scheme.M3TER_SIGNED_REQUEST)
    secret = new_standard_secret() if scheme == Scheme.STANDARD_WEBHOOKS else new_m3ter_secret()
    valid_until = utcnow() + timedelta(seconds=overlap_s)
    fields = {k: v for k, v in old.items() if k not in SERVER_FIELDS} | {
        "credentials": _rotated(credentials, box, secret, valid_until)
    }
    updated = await versioned.replace(db, org_id, WEBHOOK, webhook_id, fields, version, actor)
    return public_webhook(updated, new_secret=secret)


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
    deleted = await versioned.delete(
        db, org_id, WEBHOOK, webhook_id, also=_lane_of(org_id, deleted=True)
    )
    return public_webhook(deleted)


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
    https_only: bool = False,
) -> dict[str, Any]:
    """Send one signed test notification to the destination, on the path (and under the
    address rules) of every delivery, and say what came of it. Nothing is recorded."""
    webhook = await versioned.get(db, org_id, WEBHOOK, webhook_id)
    delivery_id = str(uuid.uuid4())
    target = delivery_target({"id": delivery_id}, webhook)
    secrets = OpenedSecrets(
        box.open(target.sealed_secret),
        tuple((box.open(sealed), until) for sealed, until in target.previous_secrets),
    )
    body = _test_body(webhook, delivery_id)
    headers = request_headers(target, secrets, body, delivery_id, utcnow())
    sender = SignedSender(
        timeout_s=timeout_s, allow_private=allow_private, concurrency=1, https_only=https_only
    )
    await sender.open()
    try:
        sent = await sender.post(target.url, body, headers)
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
