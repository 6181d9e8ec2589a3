"""A rotation's replaced secrets are sealed like the current one, and `secrets reencrypt`
reseals them too (a store of its own: it changes the key every stored secret is sealed with)."""

from __future__ import annotations

from typing import Any

from meterbell.domain.documents import DocumentKind
from meterbell.domain.secrets_box import SecretBox
from meterbell.services import orgs, webhooks
from meterbell.services.secrets import reencrypt_secrets
from meterbell.store import documents as document_store
from meterbell.store.db import Database

KEY_A, KEY_B = "rotated-key-a", "rotated-key-b"
FIRST = "whsec_" + "A" * 32


async def stored(db: Database, org_id: str, webhook_id: str) -> dict[str, Any]:
    async with db.read() as conn:
        document = await document_store.get_entity(conn, org_id, DocumentKind.WEBHOOK, webhook_id)
    assert document is not None
    return dict(document)


def sealed(document: dict[str, Any]) -> list[str]:
    credentials = document["credentials"]
    return [credentials["sealedSecret"]] + [
        o["sealedSecret"] for o in credentials["previousSecrets"]
    ]


async def test_rotated_secrets_are_sealed_and_reencrypted(own_db: Database) -> None:
    org = await orgs.create_organization(own_db, "Rotating org")
    box = SecretBox(KEY_A)
    body = {
        "name": "hook",
        "url": "https://example.com/hook",
        "credentials": {"type": "STANDARD_WEBHOOKS", "secret": FIRST},
    }
    webhook = await webhooks.create_webhook(
        own_db, box, org.org_id, body, "test", allow_private=True
    )
    rotate = webhooks.rotate_secret
    second = await rotate(own_db, box, org.org_id, webhook["id"], {}, "test", overlap_s=60)
    third = await rotate(own_db, box, org.org_id, webhook["id"], {}, "test", overlap_s=60)
    secrets = [third["credentials"]["secret"], second["credentials"]["secret"], FIRST]
    before = await stored(own_db, org.org_id, webhook["id"])
    assert [box.open(s) for s in sealed(before)] == secrets
    assert not any(secret in str(before) for secret in secrets)
    assert len(third["credentials"]["previousSecretsValidUntil"]) == 2

    outcome = await reencrypt_secrets(own_db, SecretBox(KEY_B, [KEY_A]))
    assert (outcome.resealed, outcome.unreadable) == (1, [])
    after = await stored(own_db, org.org_id, webhook["id"])
    assert [SecretBox(KEY_B).open(s) for s in sealed(after)] == secrets
    assert after["version"] == before["version"]
    again = await reencrypt_secrets(own_db, SecretBox(KEY_B, [KEY_A]))
    assert (again.resealed, again.already_current) == (0, 1)


async def test_a_previous_secret_sealed_with_an_old_key_is_resealed(own_db: Database) -> None:
    """Only a previous secret left under the old key: the webhook is not current yet."""
    org = await orgs.create_organization(own_db, "Half rotated org")
    body = {
        "name": "hook",
        "url": "https://example.com/hook",
        "credentials": {"type": "M3TER_SIGNED_REQUEST", "apiKey": "k", "secret": "s1"},
    }
    old_box = SecretBox(KEY_A)
    webhook = await webhooks.create_webhook(
        own_db, old_box, org.org_id, body, "test", allow_private=True
    )
    new_box = SecretBox(KEY_B, [KEY_A])
    # The rotation seals its new secret with the new key; the replaced one stays under KEY_A.
    await webhooks.rotate_secret(own_db, new_box, org.org_id, webhook["id"], {}, "t", overlap_s=60)
    outcome = await reencrypt_secrets(own_db, new_box)
    assert outcome.resealed == 1
    after = await stored(own_db, org.org_id, webhook["id"])
    assert SecretBox(KEY_B).open(sealed(after)[1]) == "s1"
