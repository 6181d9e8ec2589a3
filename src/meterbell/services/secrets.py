"""Re-encrypting every stored secret with the current MB_SECRET_KEY, after a key rotation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meterbell.domain.documents import DocumentKind
from meterbell.domain.integrations import PREVIOUS_SECRETS, SEALED_SECRET
from meterbell.domain.secrets_box import SecretBox
from meterbell.store import documents as document_store
from meterbell.store.db import Database

REENCRYPT_BATCH_SIZE = 200


@dataclass
class Reencrypted:
    resealed: int = 0
    already_current: int = 0
    unreadable: list[str] = field(default_factory=list)  # "<org id>/<webhook id>"


def _sealed(credentials: dict[str, Any]) -> list[str]:
    """Every secret sealed in a webhook's credentials: the current one and those a rotation
    replaced that may still sign."""
    previous = [old[SEALED_SECRET] for old in credentials.get(PREVIOUS_SECRETS, ())]
    return [credentials[SEALED_SECRET], *previous]


def _resealed(box: SecretBox, webhook: dict[str, Any]) -> dict[str, Any]:
    credentials = dict(webhook["credentials"])
    credentials[SEALED_SECRET] = box.reseal(credentials[SEALED_SECRET])
    if PREVIOUS_SECRETS in credentials:
        credentials[PREVIOUS_SECRETS] = [
            {**old, SEALED_SECRET: box.reseal(old[SEALED_SECRET])}
            for old in credentials[PREVIOUS_SECRETS]
        ]
    return {**webhook, "credentials": credentials}


async def _reencrypt_batch(
    db: Database, box: SecretBox, after_seq: int, batch_size: int, outcome: Reencrypted
) -> int | None:
    """Re-seal one batch (one transaction); the last seq it saw, or None past the end."""
    async with db.write() as conn:
        batch = await document_store.documents_after(
            conn, DocumentKind.WEBHOOK, after_seq, batch_size
        )
        for _seq, org_id, webhook in batch:
            if all(box.is_current(sealed) for sealed in _sealed(webhook["credentials"])):
                outcome.already_current += 1
                continue
            try:
                resealed = _resealed(box, webhook)
            except ValueError:
                outcome.unreadable.append(f"{org_id}/{webhook['id']}")
                continue
            # Same version, so no client sees a change; a concurrent update (which seals
            # with its own process's key) wins.
            version = int(webhook["version"])
            if await document_store.replace_entity(
                conn, org_id, DocumentKind.WEBHOOK, resealed, version
            ):
                outcome.resealed += 1
    return batch[-1][0] if len(batch) == batch_size else None


async def reencrypt_secrets(
    db: Database, box: SecretBox, batch_size: int = REENCRYPT_BATCH_SIZE
) -> Reencrypted:
    """Seal every stored webhook secret with the current key, a batch per transaction.
    Idempotent: a secret already sealed with the current key is left alone."""
    outcome = Reencrypted()
    after_seq: int | None = 0
    while after_seq is not None:
        after_seq = await _reencrypt_batch(db, box, after_seq, batch_size, outcome)
    return outcome
