"""Re-encrypting every stored secret (webhook secrets, Slack incoming-webhook URLs, Bill
integrations' credentials) with the current MB_SECRET_KEY, after a key rotation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from meterbell.domain.documents import DocumentKind
from meterbell.domain.integrations import PREVIOUS_SECRETS, SEALED_FIELDS, SEALED_SECRET
from meterbell.domain.secrets_box import SecretBox
from meterbell.store import documents as document_store
from meterbell.store.db import Database

REENCRYPT_BATCH_SIZE = 200


@dataclass
class Reencrypted:
    resealed: int = 0
    already_current: int = 0
    unreadable: list[str] = field(default_factory=list)  # "<kind> <org id>/<document id>"


@dataclass(frozen=True)
class _Holder:
    """A kind of document that holds sealed secrets: which they are, and how to reseal them."""

    kind: str
    label: str
    sealed: Callable[[Mapping[str, Any]], list[str]]
    resealed: Callable[[SecretBox, dict[str, Any]], dict[str, Any]]


def _webhook_sealed(webhook: Mapping[str, Any]) -> list[str]:
    """Every secret sealed in a webhook's credentials: the current one and those a rotation
    replaced that may still sign."""
    credentials = webhook["credentials"]
    previous = [old[SEALED_SECRET] for old in credentials.get(PREVIOUS_SECRETS, ())]
    return [credentials[SEALED_SECRET], *previous]


def _webhook_resealed(box: SecretBox, webhook: dict[str, Any]) -> dict[str, Any]:
    credentials = dict(webhook["credentials"])
    credentials[SEALED_SECRET] = box.reseal(credentials[SEALED_SECRET])
    if PREVIOUS_SECRETS in credentials:
        credentials[PREVIOUS_SECRETS] = [
            {**old, SEALED_SECRET: box.reseal(old[SEALED_SECRET])}
            for old in credentials[PREVIOUS_SECRETS]
        ]
    return {**webhook, "credentials": credentials}


def _config_sealed(config: Mapping[str, Any]) -> list[str]:
    """What a configuration holds sealed: a Slack configuration's URL, a Bill configuration's
    credentials (Webhook configurations hold none)."""
    credentials = config.get("credentials") or {}
    return [credentials[name] for name in SEALED_FIELDS if name in credentials]


def _config_resealed(box: SecretBox, config: dict[str, Any]) -> dict[str, Any]:
    credentials = dict(config["credentials"])
    for name in SEALED_FIELDS:
        if name in credentials:
            credentials[name] = box.reseal(credentials[name])
    return {**config, "credentials": credentials}


HOLDERS = (
    _Holder(DocumentKind.WEBHOOK, "webhook", _webhook_sealed, _webhook_resealed),
    _Holder(DocumentKind.INTEGRATION, "integration", _config_sealed, _config_resealed),
)


async def _reencrypt_batch(
    db: Database,
    box: SecretBox,
    holder: _Holder,
    after_seq: int,
    batch_size: int,
    outcome: Reencrypted,
) -> int | None:
    """Re-seal one batch (one transaction); the last seq it saw, or None past the end."""
    async with db.write() as conn:
        batch = await document_store.documents_after(conn, holder.kind, after_seq, batch_size)
        for _seq, org_id, document in batch:
            sealed = holder.sealed(document)
            if not sealed:
                continue
            if all(box.is_current(secret) for secret in sealed):
                outcome.already_current += 1
                continue
            try:
                resealed = holder.resealed(box, document)
            except ValueError:
                outcome.unreadable.append(f"{holder.label} {org_id}/{document['id']}")
                continue
            # Same version, so no client sees a change; a concurrent update (which seals
            # with its own process's key) wins.
            version = int(document["version"])
            if await document_store.replace_entity(conn, org_id, holder.kind, resealed, version):
                outcome.resealed += 1
    return batch[-1][0] if len(batch) == batch_size else None


async def reencrypt_secrets(
    db: Database, box: SecretBox, batch_size: int = REENCRYPT_BATCH_SIZE
) -> Reencrypted:
    """Seal every stored secret (webhook secrets, Slack URLs, Bill credentials) with the
    current key, a batch
    per transaction. Idempotent: a secret already sealed with the current key is left alone."""
    outcome = Reencrypted()
    for holder in HOLDERS:
        after_seq: int | None = 0
        while after_seq is not None:
            after_seq = await _reencrypt_batch(db, box, holder, after_seq, batch_size, outcome)
    return outcome
